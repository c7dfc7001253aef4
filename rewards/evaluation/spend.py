"""Spend conditions: where, when and on what an offer's awards may be spent."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._calendar import (
    REFUSED_TIME_WINDOW,
    REFUSED_WEEKDAY,
    TimeWindow,
    local_time,
    weekday_and_time_refusal,
)
from ._fields import Errors, join, read_codes, read_object, read_time_window, read_weekdays

SPEND_CONDITION_KEYS = ("products", "merchants", "merchant_groups", "weekdays", "time_window")

REFUSED_MERCHANT = "merchant_not_allowed"
REFUSED_PRODUCT = "product_not_allowed"

SPEND_REFUSAL_MESSAGES = {
    REFUSED_MERCHANT: "These awards cannot be spent at this merchant.",
    REFUSED_PRODUCT: "These awards can only be spent on specific products, none of which is in "
    "this purchase.",
    REFUSED_WEEKDAY: "These awards cannot be spent on this day of the week.",
    REFUSED_TIME_WINDOW: "These awards cannot be spent at this time of day.",
}


@dataclass(frozen=True, slots=True)
class SpendConditions:
    """An empty set means "any". ``weekdays`` holds ISO numbers (Monday = 1)."""

    products: frozenset[str] = frozenset()
    merchants: frozenset[str] = frozenset()
    merchant_groups: frozenset[str] = frozenset()
    weekdays: frozenset[int] = frozenset()
    time_window: TimeWindow | None = None

    @property
    def is_unconditional(self) -> bool:
        return self == SpendConditions()


def merchant_allowed(
    merchants: frozenset[str],
    merchant_groups: frozenset[str],
    merchant_code: str | None,
    merchant_group_codes: Collection[str],
) -> bool:
    """A merchant qualifies when listed itself or when it belongs to a listed group."""
    if not merchants and not merchant_groups:
        return True
    if merchant_code is not None and merchant_code in merchants:
        return True
    return any(group in merchant_groups for group in merchant_group_codes)


def read_spend_conditions(errors: Errors, path: str, value: Any) -> SpendConditions | None:
    data = read_object(errors, path, value, SPEND_CONDITION_KEYS)
    if data is None:
        return None
    before = len(errors.errors)
    products = _optional(errors, path, data, "products", read_codes)
    merchants = _optional(errors, path, data, "merchants", read_codes)
    merchant_groups = _optional(errors, path, data, "merchant_groups", read_codes)
    weekdays = _optional(errors, path, data, "weekdays", read_weekdays)
    window = (
        read_time_window(errors, join(path, "time_window"), data["time_window"])
        if ("time_window" in data)
        else None
    )
    if len(errors.errors) > before:
        return None
    return SpendConditions(
        products=products or frozenset(),
        merchants=merchants or frozenset(),
        merchant_groups=merchant_groups or frozenset(),
        weekdays=weekdays or frozenset(),
        time_window=window,
    )


def _optional(errors: Errors, path: str, data: Mapping[str, Any], key: str, reader: Any) -> Any:
    return reader(errors, join(path, key), data[key]) if key in data else None


def parse_spend_conditions(data: Mapping[str, Any]) -> SpendConditions:
    """Validate the ``spend_conditions`` object of an offer. Raises ValidationError listing
    every mistake, each message starting with its path (``spend_conditions.time_window.from``)."""
    errors = Errors()
    conditions = read_spend_conditions(errors, "spend_conditions", data)
    if conditions is None:
        errors.refuse()
    return conditions


def spend_allowed(
    conditions: SpendConditions,
    *,
    merchant_code: str | None,
    merchant_group_codes: Collection[str],
    product_codes: Collection[str],
    at: datetime,
    time_zone: str,
) -> str | None:
    """None when a spend at ``merchant_code`` on ``product_codes`` at ``at`` is allowed, else a
    refusal code, a key of SPEND_REFUSAL_MESSAGES. Weekday and time are read in the
    participant's ``time_zone``. With a product list, at least one product of the spend must
    be listed (a spend that names no products is refused)."""
    if not merchant_allowed(
        conditions.merchants, conditions.merchant_groups, merchant_code, merchant_group_codes
    ):
        return REFUSED_MERCHANT
    if conditions.products and not any(code in conditions.products for code in product_codes):
        return REFUSED_PRODUCT
    if conditions.weekdays or conditions.time_window is not None:
        local = local_time(at, time_zone)
        return weekday_and_time_refusal(local, conditions.weekdays, conditions.time_window)
    return None
