"""Compact list columns for the admin changelists, so the widest lists fit a 1366 px desktop
with the navigation sidebar open (issue 14) without breaking a word or an id mid-way.

A related row is shown by its slug — short, unique in its brand, and what the API, MCP tools
and tracking links call it — with its name as the hover title; the name itself is on the
row's page and in the list filters. Amounts carry their currency in the same cell. Times are
written "2026-11-27 20:47" on two lines, in the zone the admin page is shown in (the
brand's: backoffice/brand_timezone.py): a narrow column, where Django's "Nov. 27, 2026,
8:47 p.m." needs a wide one.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html


def related_slug(path: str) -> Callable[[Any], str]:
    """The column ``<path>`` (``"offer"``, ``"offer__brand"``) as the related row's slug."""
    *_, name = path.split("__")

    def column(obj: Any) -> str:
        for hop in path.split("__"):
            obj = getattr(obj, hop)
            if obj is None:
                return "—"
        return format_html('<span title="{}">{}</span>', getattr(obj, "name", ""), obj.slug)

    column.__name__ = f"{name}_slug"  # Django's cell class: field-<name>_slug
    return admin.display(description=name, ordering=f"{path}__slug")(column)


def money(amount_field: str, *, description: str) -> Callable[[Any], str]:
    """``amount currency`` in one cell: "1,249.90 EUR" (no separate currency column)."""

    def column(obj: Any) -> str:
        amount: Decimal | None = getattr(obj, amount_field)
        if amount is None:
            return "—"
        return f"{amount:,.2f} {obj.currency}"

    column.__name__ = amount_field
    return admin.display(description=description, ordering=amount_field)(column)


def when(field: str, *, description: str) -> Callable[[Any], str]:
    """A timestamp column, "2026-11-27 20:47" in the active (brand) time zone, or "—"."""

    def column(obj: Any) -> str:
        value = getattr(obj, field)
        if not value:
            return "—"
        local = timezone.localtime(value)
        # The time on a line of its own (admin.css): the column is as narrow as the date.
        return format_html(
            '{} <span class="trk-time">{}</span>', f"{local:%Y-%m-%d}", f"{local:%H:%M}"
        )

    column.__name__ = field
    return admin.display(description=description, ordering=field)(column)


def joined(*fields: str, description: str, first_only: bool = False) -> Callable[[Any], str]:
    """Several short fields in one cell, "webhook: payout.paid" (the empty ones left out), or
    with ``first_only`` the first that is set: one column where two of ids would not fit."""

    def column(obj: Any) -> str:
        values = [str(value) for name in fields if (value := getattr(obj, name))]
        return (values[0] if first_only else ": ".join(values)) if values else "—"

    column.__name__ = "_".join(fields)
    return admin.display(description=description, ordering=fields[0])(column)
