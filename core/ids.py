"""Prefixed random ids (``clk_…``, ``conv_…``, ``pay_…``): unguessable, not enumerable."""

from __future__ import annotations

import secrets
import string

BASE62 = string.digits + string.ascii_letters


def random_base62(length: int) -> str:
    # One uniform draw below 62**length, written in base 62: the same distribution as
    # `length` independent secrets.choice() calls, with one read of the OS's random source
    # instead of one per character (a click id is made on every redirect).
    value = secrets.randbelow(62**length)
    digits = []
    for _ in range(length):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(digits)


def new_click_id() -> str:
    return "clk_" + random_base62(22)  # ~131 bits


def new_conversion_id() -> str:
    return "conv_" + random_base62(22)


def new_payout_id() -> str:
    return "pay_" + random_base62(22)


def new_ledger_entry_id() -> str:
    return "led_" + random_base62(22)


def new_refund_id() -> str:
    return "rfd_" + random_base62(22)


def new_invitation_id() -> str:
    return "inv_" + random_base62(22)
