"""The money path over real HTTP against a live server: click → signed postback → outbound
postback to a real local HTTP server → approve → payout → paid → stats at every step."""

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from conversions.outbox import drain
from tests.conftest import issue_key
from tests.conversions.helpers import CHROME, now_ts, signature
from tests.factories import BrandFactory, OfferFactory, PartnerFactory
from workers.loop import Worker

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "whsec_end-to-end-secret"


def test_click_to_paid_over_http(live_server, httpserver, allow_private_outbound):
    brand = BrandFactory(slug="e2e", timezone="Europe/Berlin")
    OfferFactory(
        brand=brand,
        slug="shop",
        destination_url="https://shop.example.com/land?cid={CLICK_ID}",
        payout_type="percent",
        payout_amount=Decimal("10"),
        revenue_type="percent",
        revenue_amount=Decimal("30"),
        postback_secret=SECRET,
        min_conversion_seconds=0,
        postback_url_template=httpserver.url_for("/pb") + "?click={CLICK_ID}&conv={CONVERSION_ID}"
        "&amount={AMOUNT}&txn={TXN_ID}&event={EVENT_TYPE}",
    )
    PartnerFactory(brand=brand, slug="abc-123")
    key = issue_key(brand)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key}"
    base = live_server.url

    def stats():
        rows = api.get(f"{base}/api/v1/stats/partners/", params={"days": 1}).json()["results"]
        assert len(rows) == 1
        return rows[0]

    # click → 302 with the click id
    clicked = requests.get(
        f"{base}/c/e2e/shop/abc-123?sub1=mail",
        headers={"User-Agent": CHROME},
        allow_redirects=False,
        timeout=10,
    )
    assert clicked.status_code == 302
    click_id = parse_qs(urlsplit(clicked.headers["Location"]).query)["cid"][0]
    assert click_id.startswith("clk_")
    # The click is queued; a worker writes it (readers never write, so none settles it).
    Worker(name="e2e").run_until_idle(queues_only=True)
    assert stats()["clicks"] == 1

    # signed postback (JSON body, header signature) → conversion
    body = json.dumps(
        {"click_id": click_id, "txn_id": "ORDER-1", "amount": "200.00", "currency": "USD"}
    ).encode()
    ts = now_ts()
    posted = requests.post(
        f"{base}/api/postback/e2e/shop",
        data=body,
        timeout=10,
        headers={
            "Content-Type": "application/json",
            "X-Trcker-Signature": f"t={ts},v1={signature(SECRET, ts, body)}",
        },
    )
    assert posted.status_code == 200, posted.text
    conversion_id = posted.json()["conversion_id"]
    assert posted.json()["payout"] == "20.00"
    row = stats()
    assert (row["conversions"], row["by_status"]["pending"]["count"], row["payout"]) == (
        1,
        1,
        "20.00",
    )
    assert (row["revenue"], row["profit"], row["cvr"], row["epc"]) == (
        "60.00",
        "40.00",
        "1.0000",
        "20.0000",
    )

    # outbound postback reaches a real HTTP server with placeholders filled
    httpserver.expect_oneshot_request("/pb").respond_with_data("ok")
    assert drain() == 1
    httpserver.check_assertions()
    ((request, _),) = httpserver.log
    assert parse_qs(request.query_string.decode()) == {
        "click": [click_id],
        "conv": [conversion_id],
        "amount": ["200.00"],
        "txn": ["ORDER-1"],
        "event": ["sale"],
    }

    # approve → generate payout → mark paid
    approved = api.post(f"{base}/api/v1/conversions/{conversion_id}/approve/")
    assert approved.json()["status"] == "approved"
    assert stats()["by_status"]["approved"] == {"count": 1, "payout": "20.00"}
    generated = api.post(f"{base}/api/v1/payouts/generate/", json={})
    assert generated.status_code == 201
    (payout,) = generated.json()["payouts"]
    assert (payout["amount"], payout["partner_id"], payout["status"]) == (
        "20.00",
        "abc-123",
        "pending",
    )
    paid = api.post(
        f"{base}/api/v1/payouts/{payout['payout_id']}/mark-paid/",
        json={"method": "wire", "reference": "W-77", "notes": "November"},
    )
    assert paid.json()["status"] == "paid"
    conversion = api.get(f"{base}/api/v1/conversions/{conversion_id}/").json()
    assert (conversion["status"], conversion["payout_id"]) == ("paid", payout["payout_id"])
    assert stats()["by_status"]["paid"] == {"count": 1, "payout": "20.00"}

    # the audit trail tells the whole story, in order
    actions = [e["action"] for e in api.get(f"{base}/api/v1/audit-events/").json()["results"]]
    assert actions[:4] == [
        "payout.mark_paid",
        "payout.generate",
        "conversion.approve",
        "conversion.create",
    ]
