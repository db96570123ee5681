"""Prefixed random ids (``clk_…``, ``conv_…``, ``pay_…``): unguessable, not enumerable."""

from __future__ import annotations

import secrets
import string

BASE62 = string.digits + string.ascii_letters


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_click_id() -> str:
    return "clk_" + random_base62(22)  # ~131 bits


def new_conversion_id() -> str:
    return "conv_" + random_base62(22)


def new_payout_id() -> str:
    return "pay_" + random_base62(22)
