import pytest

from conversions.fraud import WEIGHTS, FraudScore, over_threshold, score_click, score_conversion
from conversions.models import Click
from conversions.traffic import classify_user_agent
from tests.conversions.factories_flow import accepted_click, record
from tests.conversions.helpers import CHROME, click, click_id_from
from tests.factories import OfferFactory, PartnerFactory


def test_each_click_signal():
    browser = classify_user_agent(CHROME)
    cases = {
        "bot_user_agent": {"ua": classify_user_agent("python-requests/2.32"), "network": ""},
        "empty_user_agent": {"ua": classify_user_agent(""), "network": ""},
        "datacenter_ip": {"ua": browser, "network": "hosting"},
        "tor_exit": {"ua": browser, "network": "tor"},
        "vpn_or_proxy": {"ua": browser, "network": "vpn"},
    }
    for signal, kwargs in cases.items():
        result = score_click(**kwargs)
        assert result.codes == {signal}, signal
        assert result.score == WEIGHTS[signal]
    assert score_click(ua=browser, network="").score == 0


def _stored_clicks(client, offer, partner, *, ip: str, times: int) -> list[Click]:
    ids = []
    for _ in range(times):
        response = click(client, offer.brand.slug, offer.slug, partner.slug, ip=ip)
        ids.append(click_id_from(response))
    by_id = Click.objects.in_bulk(ids)
    return [by_id[click_id] for click_id in ids]


def test_ip_velocity_and_duplicate_click(client, db):
    offer = OfferFactory()
    partner = PartnerFactory(brand=offer.brand)
    results = _stored_clicks(client, offer, partner, ip="81.2.69.142", times=62)
    codes = [{signal["signal"] for signal in c.fraud_signals} for c in results]
    assert codes[0] == set()
    assert codes[1] == {"duplicate_click"}
    assert "ip_velocity" not in codes[59]  # the 60th click in a minute is still fine
    assert codes[60] == {"duplicate_click", "ip_velocity"}  # the 61st is not
    other_offer = OfferFactory(brand=offer.brand)
    (first,) = _stored_clicks(client, other_offer, partner, ip="81.2.69.143", times=1)
    assert first.fraud_signals == []


@pytest.mark.parametrize(
    ("seconds", "minimum", "expected"),
    [
        (0.5, 15, {"instant_conversion"}),
        (1.99, 15, {"instant_conversion"}),
        (2.0, 15, {"fast_conversion"}),
        (14.9, 15, {"fast_conversion"}),
        (15.0, 15, set()),
        (3600, 15, set()),
        (10, 5, set()),
    ],
)
def test_click_to_conversion_time_edges(seconds, minimum, expected):
    result = score_conversion(
        click_signals=[],
        seconds_since_click=seconds,
        min_conversion_seconds=minimum,
        has_click=True,
    )
    assert result.codes == expected


def test_conversion_without_click_and_inherited_click_signals():
    assert score_conversion(
        click_signals=None, seconds_since_click=None, min_conversion_seconds=15, has_click=False
    ).codes == {"no_click"}
    inherited = score_conversion(
        click_signals=[{"signal": "datacenter_ip", "points": 30}],
        seconds_since_click=100,
        min_conversion_seconds=15,
        has_click=True,
    )
    assert inherited.score == 30


def test_score_is_capped_at_100():
    score = FraudScore()
    for signal in ("bot_user_agent", "datacenter_ip", "tor_exit", "ip_velocity"):
        score.add(signal)
    assert score.score == 100


@pytest.mark.parametrize(
    ("mode", "score", "threshold", "flagged"),
    [
        ("off", 100, 0, False),
        ("monitor", 100, 50, False),
        ("review", 49, 50, False),
        ("review", 50, 50, True),
        ("block", 70, 70, True),
        ("block", 69, 70, False),
    ],
)
def test_threshold_edges_per_mode(mode, score, threshold, flagged):
    assert over_threshold(score, mode=mode, threshold=threshold) is flagged


@pytest.mark.parametrize(
    ("mode", "threshold", "status", "reason"),
    [
        ("off", 10, "pending", ""),
        ("monitor", 10, "pending", ""),
        ("review", 40, "pending_review", "fraud_review"),
        ("block", 40, "rejected", "fraud_blocked"),
        ("review", 41, "pending", ""),
        ("block", 41, "pending", ""),
    ],
)
def test_conversion_outcome_per_mode(brand, mode, threshold, status, reason):
    brand.fraud_mode, brand.fraud_threshold = mode, threshold
    brand.save()
    offer = OfferFactory(brand=brand, min_conversion_seconds=60)
    partner = PartnerFactory(brand=brand)
    conversion = record(
        brand, offer, click=accepted_click(brand, offer, partner, seconds_ago=10), txn_id="F"
    )
    assert (conversion.status, conversion.status_reason) == (status, reason)
    expected_score = 0 if mode == "off" else WEIGHTS["fast_conversion"]
    assert conversion.fraud_score == expected_score


def test_fraud_rejected_conversions_take_no_cap_slot(brand):
    from offers.models import OfferCapCounter

    brand.fraud_mode, brand.fraud_threshold = "block", 40
    brand.save()
    offer = OfferFactory(brand=brand, daily_cap=5, min_conversion_seconds=60)
    partner = PartnerFactory(brand=brand)
    conversion = record(
        brand, offer, click=accepted_click(brand, offer, partner, seconds_ago=10), txn_id="X"
    )
    assert conversion.status == "rejected"
    assert not OfferCapCounter.objects.filter(count__gt=0).exists()


# --- BotD ------------------------------------------------------------------------------------


@pytest.fixture
def botd_brand(brand, tmp_path, settings):
    asset = tmp_path / "vendor" / "botd" / "botd.esm.js"
    asset.parent.mkdir(parents=True)
    asset.write_text("export function load(){}")
    settings.STATICFILES_DIRS = [str(tmp_path)]
    OfferFactory(brand=brand, slug="shop", destination_url="https://shop.example.com/?c={CLICK_ID}")
    PartnerFactory(brand=brand, slug="abc")
    return brand


def test_botd_cannot_be_enabled_until_its_script_is_built(actor, settings):
    from brands.services import brand_set_fraud_settings
    from core.errors import ValidationError

    settings.TRCKER_BOTD_ASSET = "vendor/botd/not-built.js"
    with pytest.raises(ValidationError) as err:
        brand_set_fraud_settings(actor=actor, botd_enabled=True)
    assert err.value.code == "botd_asset_missing"
    assert "make assets" in err.value.message


def test_botd_interstitial_reports_a_bound_verdict(client, botd_brand, actor):
    from brands.services import brand_set_fraud_settings

    brand_set_fraud_settings(actor=actor, botd_enabled=True)
    from conversions import tracking_config

    tracking_config.clear()
    page = click(client, "acme", "shop", "abc")
    assert page.status_code == 200
    html = page.content.decode()
    stored = Click.objects.get()
    assert f'data-click="{stored.id}"' in html
    assert "botd.esm.js" in html and "cdn" not in html.lower()
    assert (
        '<meta http-equiv="refresh" content="0;url=https://shop.example.com/?c=' in html
    )  # works without JS
    token = html.split('data-token="')[1].split('"')[0]
    # a human verdict never lowers the score
    Click.objects.filter(pk=stored.pk).update(
        fraud_score=30, fraud_signals=[{"signal": "datacenter_ip", "points": 30}]
    )
    assert (
        client.post(
            "/c/_botd",
            {"click_id": stored.id, "token": token, "bot": False},
            content_type="application/json",
        ).status_code
        == 204
    )
    assert Click.objects.get().fraud_score == 30
    # a bot verdict raises it, once
    for _ in range(2):
        client.post(
            "/c/_botd",
            {"click_id": stored.id, "token": token, "bot": True, "bot_kind": "headless_chrome"},
            content_type="application/json",
        )
    assert Click.objects.get().fraud_score == 70
    # a token for another click is refused
    other = click(client, "acme", "shop", "abc")
    other_id = other.content.decode().split('data-click="')[1].split('"')[0]
    forged = client.post(
        "/c/_botd",
        {"click_id": other_id, "token": token, "bot": True},
        content_type="application/json",
    )
    assert forged.status_code == 400
    assert "botd_bot" not in {s["signal"] for s in Click.objects.get(pk=other_id).fraud_signals}
