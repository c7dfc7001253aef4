"""One valid rules document per classification: admin help, templates and the docs."""

import copy
from typing import Any

from ._fields import Errors
from .rules import CLASSIFICATIONS

_EXAMPLES: dict[str, dict[str, Any]] = {
    "purchase_amount": {
        "validity": {"period": {"from": "2026-01-01", "to": "2026-12-31"}},
        "conditions": {
            "categories": ["groceries"],
            "merchant_groups": ["city-stores"],
            "min_spend_minor": 1000,
            "max_event_age_hours": 72,
        },
        "award": {"type": "percentage", "basis_points": 500},
        "award_validity": {"available_after_days": 14, "expires_after_days": 365},
        "participant_cap": {"period": "month", "amount_minor": 5000},
        "apply_only_if_best": True,
        "spend_method": "wallet",
        "spend_conditions": {"merchant_groups": ["city-stores"]},
    },
    "purchase_count": {
        "every_nth_purchase": 10,
        "award": {"type": "fixed", "amount_minor": 500},
        "award_validity": {"expires_after_days": 90},
    },
    "item_quantity": {
        "validity": {"season": {"from": "12-01", "to": "12-26"}},
        "conditions": {
            "products": ["coffee-beans-1kg"],
            "weekdays": ["sat", "sun"],
            "time_window": {"from": "08:00", "to": "12:00"},
        },
        "award": {"type": "per_item", "amount_minor": 100},
        "spend_method": "instant_discount",
    },
    "sign_up": {
        "award": {"type": "fixed", "amount_minor": 1000},
        "award_validity": {"expires_after_days": 90},
        "participant_cap": {"period": "lifetime", "amount_minor": 1000},
    },
    "referral": {
        "award": {"type": "fixed", "amount_minor": 500},
        "participant_cap": {"period": "year", "amount_minor": 5000},
    },
    "birthday": {
        "validity": {"birthday_period": "week"},
        "award": {"type": "fixed", "amount_minor": 1000},
        "award_validity": {"expires_after_days": 30},
        "participant_cap": {"period": "year", "amount_minor": 1000},
    },
    "name_day": {
        "validity": {"name_day_period": "day"},
        "award": {"type": "fixed", "amount_minor": 300},
        "participant_cap": {"period": "year", "amount_minor": 300},
    },
    "achievement": {
        "achievement_codes": ["summer-quiz-2026"],
        "award": {"type": "fixed", "amount_minor": 200},
        "participant_cap": {"period": "lifetime", "amount_minor": 200},
    },
}


def offer_rules_schema_example(classification: str) -> dict[str, Any]:
    """A valid rules document for ``classification`` (a fresh copy, safe to edit)."""
    if classification not in _EXAMPLES:
        errors = Errors()
        errors.add(
            "classification",
            f"unknown classification {classification!r}; expected one of "
            f"{', '.join(CLASSIFICATIONS)}.",
            "choice",
        )
        errors.refuse()
    return copy.deepcopy(_EXAMPLES[classification])
