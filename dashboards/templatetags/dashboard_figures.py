"""Template filters for the boards' figures."""

from typing import Any

from django import template

from dashboards.selectors import Unit

register = template.Library()


@register.filter
def in_unit(amount_minor: int | None, unit: Unit | None) -> str:
    """``1234`` in SEK reads "12.34 SEK"; in points "1,234 points"."""
    if amount_minor is None or unit is None:
        return ""
    return unit.format(amount_minor)


@register.filter
def reason_count(by_reason: dict[str, int], reason: str) -> int:
    return by_reason.get(reason, 0)


@register.filter
def as_percent(rate: float | None) -> str:
    """``0.4567`` reads "45.7 %"; no rate (nothing to convert from) reads an em dash."""
    if rate is None:
        return "\u2014"
    return f"{rate * 100:.1f} %"


@register.filter
def funnel_count(dashboard: Any, key: str) -> int:
    return dashboard.funnel_count(key)
