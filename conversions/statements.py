"""Partner statements: one payout and the conversions it covers, as CSV. A read (nothing is
written or audited); the REST endpoint and the admin download both call
``payout_statement``, so both give the same file.

The file opens with ``field,value`` lines describing the payout, then a blank line, then one
row per conversion under a header row. Times are in the brand's time zone. Text that came
from outside (transaction ids, event names, partner names, references) is defused against
spreadsheet formula injection.
"""

from __future__ import annotations

import csv
import io
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

from audit.actor import Actor
from brands.models import Brand
from conversions.models import Payout
from conversions.selectors import conversion_list, payout_get_for_actor

STATEMENT_COLUMNS = (
    "conversion_id",
    "date",
    "offer_id",
    "event",
    "txn_id",
    "sale_amount",
    "payout",
    "status",
    "currency",
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
    conversion_count: int
    conversions_total: Decimal
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
    conversions = (
        conversion_list(actor=actor).filter(payout_batch=payout).order_by("created_at", "pk")
    )

    rows: list[list[str]] = []
    total = Decimal("0")
    for conversion in conversions.iterator(chunk_size=2000):
        total += conversion.payout
        rows.append(
            [
                conversion.pk,
                conversion.created_at.astimezone(tz).strftime(_DATETIME_FORMAT),
                csv_safe(conversion.offer.slug),
                csv_safe(conversion.event_type),
                csv_safe(conversion.txn_id),
                _money(conversion.sale_amount),
                _money(conversion.payout),
                conversion.status,
                csv_safe(conversion.currency),
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
        ("status", payout.status),
        (
            "paid_at",
            payout.paid_at.astimezone(tz).strftime(_DATETIME_FORMAT) if payout.paid_at else "",
        ),
        ("method", csv_safe(payout.method)),
        ("reference", csv_safe(payout.reference)),
        ("conversions", str(len(rows))),
        ("conversions_total", _money(total)),
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
        conversion_count=len(rows),
        conversions_total=total,
    )


def statement_content_disposition(statement: Statement) -> str:
    # Payout ids are pay_ + base62: nothing to quote in the file name.
    return f'attachment; filename="{statement.filename}"'
