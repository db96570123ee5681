import io

import pytest
from django.core.management import CommandError, call_command

from brands.keys import KEY_PATTERN
from brands.models import ApiKey, Brand
from brands.services import api_key_authenticate
from conversions.models import Click, Conversion, Payout
from offers.models import Offer
from partners.models import Coupon, Partner


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_brand_and_create_api_key_print_only_what_they_should(db):
    assert (
        run("create_brand", "acme", "--name", "Acme", "--timezone", "Europe/Berlin").strip()
        == "acme"
    )
    assert Brand.objects.get(slug="acme").timezone == "Europe/Berlin"
    printed = run("create_api_key", "acme", "--name", "CI", "--read-only")
    key = printed.strip()
    assert printed == key + "\n"  # only the key
    assert KEY_PATTERN.match(key)
    stored = api_key_authenticate(key)
    assert (stored.label, stored.scope) == ("CI", "read")
    assert key not in str(list(ApiKey.objects.values()))


def test_command_errors_are_clear(db):
    with pytest.raises(CommandError, match="No brand 'ghost'"):
        run("create_api_key", "ghost")
    run("create_brand", "acme", "--name", "Acme")
    with pytest.raises(CommandError, match="already exists"):
        run("create_brand", "acme", "--name", "Again")
    with pytest.raises(CommandError, match="time zone"):
        run("create_brand", "other", "--name", "X", "--timezone", "Nowhere/Land")


def test_seed_demo_is_idempotent_and_its_key_works(db, tmp_path):
    key_file = tmp_path / "key"
    first = run(
        "seed_demo", "--key-file", str(key_file), "--admin-password-file", str(tmp_path / "pw")
    )
    counts = [
        model.objects.count()
        for model in (Brand, Offer, Partner, Coupon, Click, Conversion, Payout, ApiKey)
    ]
    second = run(
        "seed_demo", "--key-file", str(key_file), "--admin-password-file", str(tmp_path / "pw")
    )
    assert [
        model.objects.count()
        for model in (Brand, Offer, Partner, Coupon, Click, Conversion, Payout, ApiKey)
    ] == counts
    assert "Seeded demo brand" in first and "already seeded" in second
    key = key_file.read_text().strip()
    assert f"API key: {key}" in first and f"API key: {key}" in second
    assert api_key_authenticate(key).brand.slug == "demo"
    assert Click.objects.count() > 1000
    assert Conversion.objects.filter(status="approved").exists()
    assert Conversion.objects.filter(status="paid").exists()
    assert Payout.objects.filter(status="paid").exists()
    assert "ok      demo" in run("verify_audit")
