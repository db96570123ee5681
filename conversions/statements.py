"""Partner statements: one payout and the ledger entries it settles, as CSV. A read (nothing
is written or audited); the REST endpoint, the admin download and the partner portal all call
``payout_statement``, so all give the same file.

The file opens with ``field,value`` lines describing the payout, then a blank line, then one
row per entry under a header row: the commissions of the conversions it pays, and netted in
them the reversals carried from earlier payouts (a refund after payout) and adjustments. The
rows sum to the payout's amount, to the cent (``entries_total`` = ``total``). Times are in the
brand's time zone. Text that came from outside (transaction ids, event names, partner names,
references, notes) is defused against spreadsheet formula injection.
"""

from __future__ import annotations

import csv
import io
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

from audit.actor import Actor
from brands.models import Brand
from conversions.ledger_models import EntryKind, LedgerEntry
from conversions.models import Payout
from conversions.selectors import payout_get_for_actor

STATEMENT_COLUMNS = (
    "entry_id",
    "kind",
    "conversion_id",
    "date",
    "offer_id",
    "event",
    "txn_id",
    "sale_amount",
    "amount",
    "status",
    "currency",
    "reason",
)
CONTENT_TYPE = "text/csv; charset=utf-8"
_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# A spreadsheet treats a cell starting with one of these as a formula (OWASP "CSV
# injection"); tab and carriage return are in OWASP's list as well.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """Prefix a single quote to text a spreadsheet would run as a formula."""
    return f"'{value}" if value.startswith(_FORMULA_TRIGGERS) else value


@dataclass(frozen=True, slots=True)
class Statement:
    payout: Payout
    filename: str
    content: str
    entry_count: int
    entries_total: Decimal
    content_type: str = CONTENT_TYPE


def _money(value: Decimal) -> str:
    # Ours (a Decimal), never text from outside: a negative amount stays a number.
    return f"{value:.2f}"


def payout_statement(*, actor: Actor, payout_id: str) -> Statement:
    """The statement of one of the actor's brand's payouts; another brand's payout is "not
    found", like a missing one."""
    payout = payout_get_for_actor(actor=actor, payout_id=payout_id)
    brand = Brand.objects.only("slug", "timezone").get(pk=actor.brand_id)
    tz = zoneinfo.ZoneInfo(brand.timezone)
    entries = (
        LedgerEntry.objects.filter(brand_id=actor.brand_id, payout=payout)
        .exclude(kind=EntryKind.PAYOUT)
        .select_related("conversion", "conversion__offer")
        .order_by("created_at", "pk")
    )

    rows: list[list[str]] = []
    total = Decimal("0")
    by_kind: dict[str, Decimal] = dict.fromkeys(EntryKind.values, Decimal("0"))
    for entry in entries.iterator(chunk_size=2000):
        total += entry.amount
        by_kind[entry.kind] += entry.amount
        conversion = entry.conversion
        # A conversion's row is dated when it was recorded; an adjustment when it was written.
        moment = conversion.created_at if conversion is not None else entry.created_at
        rows.append(
            [
                entry.pk,
                entry.kind,
                conversion.pk if conversion is not None else "",
                moment.astimezone(tz).strftime(_DATETIME_FORMAT),
                csv_safe(conversion.offer.slug) if conversion is not None else "",
                csv_safe(conversion.event_type) if conversion is not None else "",
                csv_safe(conversion.txn_id) if conversion is not None else "",
                _money(conversion.sale_amount) if conversion is not None else "",
                _money(entry.amount),
                conversion.status if conversion is not None else "",
                csv_safe(entry.currency),
                csv_safe(" ".join(filter(None, (entry.reason_code, entry.note)))),
            ]
        )

    partner = payout.partner
    header = [
        ("payout_id", payout.pk),
        ("brand", csv_safe(brand.slug)),
        ("partner_id", csv_safe(partner.slug)),
        ("partner_name", csv_safe(partner.name)),
        ("period_start", payout.period_start.isoformat() if payout.period_start else ""),
        ("period_end", payout.period_end.isoformat()),
        ("time_zone", brand.timezone),
        ("currency", csv_safe(payout.currency)),
        ("total", _money(payout.amount)),
        # What the partner receives: in their payout currency at the rate of the day the
        # payout was generated (docs/currencies.md); the total itself at rate 1 otherwise.
        ("partner_currency", csv_safe(payout.partner_currency or payout.currency)),
        ("fx_rate", str(payout.fx_rate)),
        ("partner_amount", _money(payout.partner_amount or payout.amount)),
        ("status", payout.status),
        (
            "paid_at",
            payout.paid_at.astimezone(tz).strftime(_DATETIME_FORMAT) if payout.paid_at else "",
        ),
        ("method", csv_safe(payout.method)),
        ("reference", csv_safe(payout.reference)),
        ("entries", str(len(rows))),
        ("commissions_total", _money(by_kind[EntryKind.COMMISSION])),
        ("reversals_total", _money(by_kind[EntryKind.REVERSAL])),
        ("adjustments_total", _money(by_kind[EntryKind.ADJUSTMENT])),
        ("entries_total", _money(total)),
    ]

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerows(header)
    writer.writerow([])
    writer.writerow(STATEMENT_COLUMNS)
    writer.writerows(rows)
    return Statement(
        payout=payout,
        filename=f"statement-{payout.pk}.csv",
        content=buffer.getvalue(),
        entry_count=len(rows),
        entries_total=total,
    )


def statement_content_disposition(statement: Statement) -> str:
    # Payout ids are pay_ + base62: nothing to quote in the file name.
    return f'attachment; filename="{statement.filename}"'
