"""Exchange rates: the ECB file reader, the reference loader and its command, a brand's own
rates, and the lookup rule (docs/currencies.md)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from brands.fx import RATE_QUANTUM, convert, fx_quote
from brands.fx_services import fx_rate_set, fx_reference_load
from brands.models import FxRate, FxReferenceRate
from core.currencies import parse_currency
from core.ecb_rates import RateFileError, parse_reference_rates
from core.errors import ValidationError
from tests.conftest import make_actor

SAMPLE = Path(__file__).resolve().parents[2] / "demo" / "data" / "eurofxref-sample.xml"
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
    'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
    "<gesmes:subject>Reference rates</gesmes:subject><Cube>"
)
TAIL = "</Cube></gesmes:Envelope>"


def daily(body: str) -> bytes:
    return (HEAD + body + TAIL).encode()


def load(data: bytes):
    return fx_reference_load(parse_reference_rates(data))


# --- the file ------------------------------------------------------------------------------


def test_the_shipped_sample_is_the_ecb_format():
    rates = parse_reference_rates(SAMPLE.read_bytes())
    days = {rate.day for rate in rates}
    assert len(days) == 6 and max(days) == dt.date(2026, 11, 26)
    usd = {rate.day: rate.rate for rate in rates if rate.currency == "USD"}
    assert usd[dt.date(2026, 11, 26)] == Decimal("1.1587")
    assert len(rates) == 6 * 29  # the ECB's 29 currencies each day


def test_a_daily_file_in_single_quotes_as_the_ecb_writes_it():
    rates = parse_reference_rates(
        daily("<Cube time='2026-11-27'><Cube currency='USD' rate='1.1601'/></Cube>")
    )
    assert [(r.day, r.currency, r.rate) for r in rates] == [
        (dt.date(2026, 11, 27), "USD", Decimal("1.1601"))
    ]


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<gesmes:Envelope>&x;</gesmes:Envelope>"
)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (BILLION_LAUGHS, "unsafe XML"),
        (EXTERNAL, "unsafe XML"),
        (b"<not-closed", "not well-formed"),
        (b"", "not well-formed"),
        (b"<rates/>", "gesmes:Envelope"),
        (daily(""), "no rates"),
        (daily("<Cube time='2026-02-30'><Cube currency='USD' rate='1'/></Cube>"), "not a date"),
        (daily("<Cube time='1998-12-31'><Cube currency='USD' rate='1'/></Cube>"), "outside"),
        (daily("<Cube time='26-11-27'><Cube currency='USD' rate='1'/></Cube>"), "YYYY-MM-DD"),
        (daily("<Cube time='2026-11-27'><Cube currency='XYZ' rate='1'/></Cube>"), "ISO 4217"),
        (daily("<Cube time='2026-11-27'><Cube currency='usd' rate='1'/></Cube>"), "ISO 4217"),
        (daily("<Cube time='2026-11-27'><Cube currency='EUR' rate='1'/></Cube>"), "ISO 4217"),
        (daily("<Cube time='2026-11-27'><Cube currency='USD' rate='-1'/></Cube>"), "decimal"),
        (daily("<Cube time='2026-11-27'><Cube currency='USD' rate='0'/></Cube>"), "above zero"),
        (daily("<Cube time='2026-11-27'><Cube currency='USD' rate='1e9'/></Cube>"), "decimal"),
        (daily("<Cube time='2026-11-27'><Cube currency='USD' rate='NaN'/></Cube>"), "decimal"),
        (daily("<Cube time='2026-11-27'><Cube currency='USD' rate='1\x00'/></Cube>"), "XML"),
        (
            daily("<Cube time='2026-11-27'><Cube currency='USD' rate='12345678901'/></Cube>"),
            "decimal",
        ),
        (
            daily(
                "<Cube time='2026-11-27'><Cube currency='USD' rate='1'/>"
                "<Cube currency='USD' rate='2'/></Cube>"
            ),
            "twice",
        ),
        (
            daily("<Cube time='2026-11-27'><Cube currency='USD' rate='1' extra='x'/></Cube>"),
            "exactly the attributes",
        ),
        (daily("<Cube><Cube currency='USD' rate='1'/></Cube>"), "Cube time"),
        (daily("<Cube time='2026-11-27'><Rate currency='USD' rate='1'/></Cube>"), "unexpected"),
    ],
)
def test_a_hostile_or_broken_file_is_refused_whole(data, words):
    with pytest.raises(RateFileError) as caught:
        parse_reference_rates(data)
    assert words in str(caught.value)


def test_an_oversized_file_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr("core.ecb_rates.MAX_BYTES", 100)
    with pytest.raises(RateFileError, match="over"):
        parse_reference_rates(SAMPLE.read_bytes())


# --- loading -------------------------------------------------------------------------------


def test_load_fx_rates_loads_the_sample_then_changes_nothing_the_second_time(db):
    out = io.StringIO()
    call_command("load_fx_rates", str(SAMPLE), stdout=out)
    assert "174 added, 0 corrected, 0 unchanged" in out.getvalue()
    assert FxReferenceRate.objects.count() == 174
    out = io.StringIO()
    call_command("load_fx_rates", str(SAMPLE), stdout=out)
    assert "0 added, 0 corrected, 174 unchanged" in out.getvalue()
    assert not AuditEvent.objects.exists()  # reference data belongs to no brand


def test_a_correction_updates_the_rate(db):
    load(daily("<Cube time='2026-11-27'><Cube currency='USD' rate='1.1601'/></Cube>"))
    summary = load(
        daily(
            "<Cube time='2026-11-27'><Cube currency='USD' rate='1.1602'/>"
            "<Cube currency='GBP' rate='0.88'/></Cube>"
        )
    )
    assert (summary.added, summary.changed, summary.unchanged) == (1, 1, 0)
    assert FxReferenceRate.objects.get(currency="USD").rate == Decimal("1.1602")


def test_a_broken_file_changes_nothing_even_after_good_days(db, tmp_path):
    load(daily("<Cube time='2026-11-26'><Cube currency='USD' rate='1.1587'/></Cube>"))
    broken = tmp_path / "broken.xml"
    broken.write_bytes(
        daily(
            "<Cube time='2026-11-26'><Cube currency='USD' rate='2.0'/></Cube>"
            "<Cube time='2026-11-27'><Cube currency='XYZ' rate='1'/></Cube>"
        )
    )
    with pytest.raises(CommandError, match="No rate was changed"):
        call_command("load_fx_rates", str(broken))
    assert list(FxReferenceRate.objects.values_list("currency", "rate")) == [
        ("USD", Decimal("1.1587"))
    ]


def test_a_failing_write_rolls_back_every_batch(db, monkeypatch):
    """One transaction: a failure in the second batch leaves the first unwritten (planted:
    without @transaction.atomic on fx_reference_load this keeps the first batch)."""
    monkeypatch.setattr("brands.fx_services.LOAD_BATCH", 50)
    rates = parse_reference_rates(SAMPLE.read_bytes())
    calls = {"n": 0}
    original = FxReferenceRate.objects.bulk_create

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return original(*args, **kwargs)

    monkeypatch.setattr(FxReferenceRate.objects, "bulk_create", failing)
    with pytest.raises(RuntimeError):
        fx_reference_load(rates)
    assert not FxReferenceRate.objects.exists()


def test_the_command_says_what_cannot_be_read(db):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("load_fx_rates", "/nonexistent/eurofxref.xml")


# --- a brand's own rates -------------------------------------------------------------------


def test_setting_a_rate_is_audited_and_replaces_the_days_rate(brand):
    actor = make_actor(brand)
    day = dt.date(2026, 11, 1)
    fx_rate_set(actor=actor, base="GBP", quote="USD", day=day, rate=Decimal("1.27"))
    fx_rate_set(actor=actor, base="GBP", quote="USD", day=day, rate=Decimal("1.28"))
    fx_rate_set(actor=actor, base="GBP", quote="USD", day=day, rate=Decimal("1.28"))
    assert FxRate.objects.get().rate == Decimal("1.28")
    events = AuditEvent.objects.filter(action="fx_rate.set").order_by("pk")
    assert [event.changes["rate"] for event in events] == [
        [None, "1.2700000000"],
        ["1.2700000000", "1.2800000000"],
    ]
    assert events[0].target_id == "GBP/USD@2026-11-01"


@pytest.mark.parametrize(
    ("base", "quote", "rate", "field"),
    [
        ("GBP", "GBP", "1", "quote"),
        ("XYZ", "USD", "1", "base"),
        ("GBP", "usd", "1", "quote"),
        ("GBP", "USD", "0", "rate"),
        ("GBP", "USD", "-1", "rate"),
        ("GBP", "USD", "10000000000", "rate"),
        ("GBP", "USD", "1.00000000001", "rate"),
        ("GBP", "USD", "NaN", "rate"),
    ],
)
def test_a_bad_rate_is_refused(brand, base, quote, rate, field):
    with pytest.raises(ValidationError) as caught:
        fx_rate_set(
            actor=make_actor(brand),
            base=base,
            quote=quote,
            day=dt.date(2026, 1, 1),
            rate=Decimal(rate),
        )
    assert field in caught.value.fields
    assert not FxRate.objects.exists()


def test_a_read_only_actor_cannot_set_a_rate(brand):
    from core.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        fx_rate_set(
            actor=make_actor(brand, write=False),
            base="GBP",
            quote="USD",
            day=dt.date(2026, 1, 1),
            rate=Decimal("1.2"),
        )


# --- the lookup rule ------------------------------------------------------------------------


@pytest.fixture
def reference(db):
    load(SAMPLE.read_bytes())


THURSDAY = dt.date(2026, 11, 26)


def quote(brand, base, quote_, day=THURSDAY):
    return fx_quote(brand_id=brand.pk, base=base, quote=quote_, day=day)


def test_one_currency_is_rate_one_without_a_query(brand, django_assert_num_queries):
    with django_assert_num_queries(0):
        found = quote(brand, "USD", "USD")
    assert (found.rate, found.source) == (Decimal(1), "same")


def test_from_and_to_euro_use_the_reference_rate(brand, reference):
    assert quote(brand, "EUR", "USD").rate == Decimal("1.1587")
    assert quote(brand, "USD", "EUR").rate == (Decimal(1) / Decimal("1.1587")).quantize(
        RATE_QUANTUM
    )
    assert quote(brand, "EUR", "USD").source == "reference"


def test_cross_rates_go_through_the_euro(brand, reference):
    found = quote(brand, "GBP", "USD")
    assert found.rate == (Decimal("1.1587") / Decimal("0.87945")).quantize(RATE_QUANTUM)
    assert (found.source, found.rate_day) == ("reference", THURSDAY)


def test_a_weekend_takes_the_last_working_days_rate_and_an_old_one_is_missing(brand, reference):
    assert quote(brand, "EUR", "USD", dt.date(2026, 11, 29)).rate_day == THURSDAY  # Sunday
    assert quote(brand, "EUR", "USD", THURSDAY + dt.timedelta(days=7)) is not None
    assert quote(brand, "EUR", "USD", THURSDAY + dt.timedelta(days=8)) is None
    assert quote(brand, "EUR", "USD", dt.date(2026, 11, 18)) is None  # before the first day


def test_the_brands_own_rate_beats_the_reference(brand, reference):
    actor = make_actor(brand)
    fx_rate_set(actor=actor, base="EUR", quote="USD", day=dt.date(2026, 1, 1), rate=Decimal("1.2"))
    assert quote(brand, "EUR", "USD") == quote(brand, "EUR", "USD")  # cached, same answer
    found = quote(brand, "EUR", "USD", dt.date(2026, 11, 27))
    assert (found.rate, found.source) == (Decimal("1.2"), "brand")
    # Its own leg and a reference leg: mixed.
    mixed = quote(brand, "GBP", "USD", dt.date(2026, 11, 27))
    assert mixed.source == "mixed"
    assert mixed.rate == (Decimal("1.2") / Decimal("0.87945")).quantize(RATE_QUANTUM)
    # Its rate holds without an age limit, and not before its day.
    assert quote(brand, "EUR", "USD", dt.date(2027, 6, 1)).rate == Decimal("1.2")
    assert quote(brand, "EUR", "USD", dt.date(2025, 12, 31)) is None


def test_a_brands_direct_pair_is_used_either_way_and_the_latest_day_wins(brand, reference):
    actor = make_actor(brand)
    fx_rate_set(actor=actor, base="USD", quote="GBP", day=dt.date(2026, 11, 1), rate=Decimal("0.8"))
    fx_rate_set(
        actor=actor, base="GBP", quote="USD", day=dt.date(2026, 11, 20), rate=Decimal("1.3")
    )
    assert quote(brand, "GBP", "USD", dt.date(2026, 11, 10)).rate == Decimal("1.25")
    assert quote(brand, "GBP", "USD").rate == Decimal("1.3")
    assert quote(brand, "USD", "GBP").rate == (Decimal(1) / Decimal("1.3")).quantize(RATE_QUANTUM)


def test_another_brands_rates_are_never_used(brand, other_brand, reference):
    fx_rate_set(
        actor=make_actor(other_brand),
        base="CHF",
        quote="USD",
        day=dt.date(2026, 1, 1),
        rate=Decimal("5"),
    )
    assert quote(brand, "CHF", "USD").source == "reference"
    assert quote(brand, "XAU", "USD") is None


def test_a_rate_change_reaches_the_cache_after_commit(
    brand, reference, django_capture_on_commit_callbacks
):
    actor = make_actor(brand)
    assert quote(brand, "EUR", "USD").rate == Decimal("1.1587")
    with django_capture_on_commit_callbacks(execute=True):
        fx_rate_set(actor=actor, base="EUR", quote="USD", day=THURSDAY, rate=Decimal("1.5"))
    assert quote(brand, "EUR", "USD").rate == Decimal("1.5")
    with django_capture_on_commit_callbacks(execute=True):
        load(daily("<Cube time='2026-11-26'><Cube currency='GBP' rate='0.5'/></Cube>"))
    assert quote(brand, "GBP", "EUR").rate == Decimal(2)


def test_convert_rounds_half_up_to_the_cent_and_refuses_without_a_rate(brand, reference):
    converted = convert(
        brand_id=brand.pk, amount=Decimal("49.90"), currency="EUR", into="USD", day=THURSDAY
    )
    assert converted.amount == Decimal("57.82")  # 57.81913 → 57.82
    assert (converted.original_amount, converted.original_currency) == (Decimal("49.90"), "EUR")
    with pytest.raises(ValidationError) as caught:
        convert(brand_id=brand.pk, amount=Decimal(1), currency="XAU", into="USD", day=THURSDAY)
    assert caught.value.code == "fx_rate_missing"
    with pytest.raises(ValidationError) as caught:
        convert(
            brand_id=brand.pk,
            amount=Decimal("999999999999.99"),
            currency="EUR",
            into="IDR",
            day=THURSDAY,
        )
    assert caught.value.code == "amount_out_of_range"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("usd", "USD"),
        (" Eur ", "EUR"),
        ("DEM", "DEM"),  # historic: known, no rate
        ("EURO", None),
        ("EU", None),
        ("E\x00R", None),
        ("XYZ", None),
        ("XXX", None),
        ("XTS", None),
        ("uß", None),  # "USS" once upper-cased
        ("ＥＵＲ", None),  # full-width letters
        ("", None),
        ("12$", None),
    ],
)
def test_parse_currency(raw, code):
    assert parse_currency(raw) == code
