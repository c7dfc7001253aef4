"""Template filters for the boards' figures."""

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
