"""Offer evaluation: pure, database-free functions over offer rules stored as validated JSON.

The caller (services, the evaluation run, simulation) loads the facts, calls ``evaluate`` and
posts the award lines it returns. docs/OFFERS.md describes the rules JSON for operators.
"""

from ._calendar import CAP_PERIODS, OCCASION_PERIODS, WEEKDAY_NAMES, TimeWindow
from ._fields import MAX_AMOUNT_MINOR
from .engine import REFUSALS, OfferOutcome, cap_period_start, evaluate, explain
from .examples import offer_rules_schema_example
from .facts import EVENT_TYPES, SPEND_METHODS, AwardLine, EventFacts, EventLine, ParticipantFacts
from .rules import (
    AWARD_TYPES_BY_CLASSIFICATION,
    CLASSIFICATIONS,
    EVENT_TYPE_BY_CLASSIFICATION,
    PURCHASE_CLASSIFICATIONS,
    AwardConditions,
    AwardRule,
    AwardValidity,
    OfferRules,
    ParticipantCap,
    Tier,
    Validity,
    parse_offer_rules,
)
from .spend import SPEND_REFUSAL_MESSAGES, SpendConditions, parse_spend_conditions, spend_allowed

__all__ = [
    "AWARD_TYPES_BY_CLASSIFICATION",
    "CAP_PERIODS",
    "CLASSIFICATIONS",
    "EVENT_TYPES",
    "EVENT_TYPE_BY_CLASSIFICATION",
    "MAX_AMOUNT_MINOR",
    "OCCASION_PERIODS",
    "PURCHASE_CLASSIFICATIONS",
    "REFUSALS",
    "SPEND_METHODS",
    "SPEND_REFUSAL_MESSAGES",
    "WEEKDAY_NAMES",
    "AwardConditions",
    "AwardLine",
    "AwardRule",
    "AwardValidity",
    "EventFacts",
    "EventLine",
    "OfferOutcome",
    "OfferRules",
    "ParticipantCap",
    "ParticipantFacts",
    "SpendConditions",
    "Tier",
    "TimeWindow",
    "Validity",
    "cap_period_start",
    "evaluate",
    "explain",
    "offer_rules_schema_example",
    "parse_offer_rules",
    "parse_spend_conditions",
    "spend_allowed",
]
