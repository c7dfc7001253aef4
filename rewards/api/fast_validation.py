"""Plain-Python validation of the two hot request bodies (events and spends).

A DRF serializer costs about 1 ms of CPU per event body (it deep-copies its fields and a
nested list serializer on every request). These functions accept only bodies that are
plainly valid and return exactly what the serializer's ``validated_data`` would be; for
anything else (a missing or wrong field, a value DRF would coerce such as ``"12"`` for an
integer, surrounding spaces, non-ASCII text) they return None and the view runs the
serializer, so every error keeps DRF's message and the ``{code, message, errors}`` shape,
and the serializers stay the OpenAPI schema's source. ``tests/rewards/test_api_validation.py``
compares both on valid and invalid bodies.
"""

import re
from typing import Any

from rest_framework import serializers

from rewards.api.serializers import (
    EVENT_PROCESS_CHOICES,
    EVENT_TYPES,
    MAX_LINES,
    MAX_MINOR,
)

_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
# DRF's own field, used only for its conversion (no per-request copy): an ISO 8601 string
# becomes an aware datetime in the current time zone, as the serializer returns it.
_DATETIME = serializers.DateTimeField()

_OPTIONAL_TEXT = (
    ("payment_medium", 50),
    ("area", 100),
    ("achievement_code", 100),
    ("original_external_id", 128),
)


def _text(value: Any, max_length: int) -> bool:
    """A non-blank ASCII string DRF's CharField keeps as it is."""
    return (
        type(value) is str
        and 0 < len(value) <= max_length
        and value.isascii()
        and value == value.strip()
        and "\x00" not in value
    )


def _integer(value: Any, minimum: int) -> bool:
    return type(value) is int and minimum <= value <= MAX_MINOR


def event_body(data: Any) -> dict[str, Any] | None:
    """EventCreateSerializer's validated data for a plainly valid body, else None."""
    if type(data) is not dict:
        return None
    source = data.get("source")
    external_id = data.get("external_id")
    kind = data.get("type")
    participant = data.get("participant")
    occurred_at = data.get("occurred_at")
    if not (
        _text(source, 64)
        and _text(external_id, 128)
        and type(kind) is str
        and kind in EVENT_TYPES
        and _integer(participant, -MAX_MINOR)
        and type(occurred_at) is str
        and occurred_at.isascii()
    ):
        return None
    try:
        when = _DATETIME.to_internal_value(occurred_at)
    except serializers.ValidationError:
        return None
    result: dict[str, Any] = {
        "source": source,
        "external_id": external_id,
        "type": kind,
        "participant": participant,
        "occurred_at": when,
    }
    if "merchant" in data:
        merchant = data["merchant"]
        if not (_text(merchant, 50) and _SLUG.fullmatch(merchant)):
            return None
        result["merchant"] = merchant
    if "lines" in data:
        lines = data["lines"]
        if type(lines) is not list or len(lines) > MAX_LINES:
            return None
        checked = []
        for line in lines:
            if type(line) is not dict:
                return None
            product = line.get("product")
            quantity = line.get("quantity")
            amount = line.get("amount_minor")
            if not (_text(product, 64) and _integer(quantity, 1) and _integer(amount, 0)):
                return None
            checked.append({"product": product, "quantity": quantity, "amount_minor": amount})
        result["lines"] = checked
    total = data.get("total_minor", 0)
    if not _integer(total, 0):
        return None
    result["total_minor"] = total
    for name, max_length in _OPTIONAL_TEXT:
        if name in data:
            value = data[name]
            if value is not None and not _text(value, max_length):
                return None
            result[name] = value
    if "process" in data:
        process = data["process"]
        if type(process) is not str or process not in EVENT_PROCESS_CHOICES:
            return None
        result["process"] = process
    return result


def spend_body(data: Any) -> dict[str, Any] | None:
    """SpendCreateSerializer's validated data for a plainly valid body, else None."""
    if type(data) is not dict:
        return None
    participant = data.get("participant")
    amount = data.get("amount_minor")
    key = data.get("idempotency_key")
    if not (_integer(participant, -MAX_MINOR) and _integer(amount, 1) and _text(key, 128)):
        return None
    result: dict[str, Any] = {
        "participant": participant,
        "amount_minor": amount,
        "idempotency_key": key,
    }
    if "merchant" in data:
        merchant = data["merchant"]
        if not (_text(merchant, 50) and _SLUG.fullmatch(merchant)):
            return None
        result["merchant"] = merchant
    if "products" in data:
        products = data["products"]
        if type(products) is not list or len(products) > MAX_LINES:
            return None
        if not all(_text(product, 64) for product in products):
            return None
        result["products"] = list(products)
    return result
