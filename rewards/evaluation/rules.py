"""An offer's rules as validated JSON: the format, its parser and one example per classification.

docs/OFFERS.md describes the format for operators; keep the two in step.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ._calendar import CAP_PERIODS, OCCASION_PERIODS, TimeWindow
from ._fields import (
    Errors,
    join,
    read_bool,
    read_choice,
    read_codes,
    read_date,
    read_int,
    read_moment,
    read_month_day,
    read_object,
    read_time_window,
    read_weekdays,
)
from .facts import SPEND_METHODS
from .spend import SpendConditions, read_spend_conditions

# The event type that triggers each classification. A referral offer is evaluated for the
# referrer, on the referral event the caller raises when the referred participant is first
# rewarded.
EVENT_TYPE_BY_CLASSIFICATION = {
    "purchase_amount": "purchase",
    "purchase_count": "purchase",
    "item_quantity": "purchase",
    "sign_up": "sign_up",
    "referral": "referral",
    "birthday": "birthday",
    "name_day": "name_day",
    "achievement": "achievement",
}
CLASSIFICATIONS = tuple(EVENT_TYPE_BY_CLASSIFICATION)
PURCHASE_CLASSIFICATIONS = frozenset({"purchase_amount", "purchase_count", "item_quantity"})
AWARD_TYPES_BY_CLASSIFICATION = {
    "purchase_amount": ("fixed", "percentage", "tiers"),
    "purchase_count": ("fixed", "percentage"),
    "item_quantity": ("per_item", "fixed"),
    "sign_up": ("fixed",),
    "referral": ("fixed",),
    "birthday": ("fixed",),
    "name_day": ("fixed",),
    "achievement": ("fixed",),
}
AWARD_TYPES = ("fixed", "percentage", "per_item", "tiers")
BASIS_POINTS_PER_WHOLE = 10_000
MAX_BASIS_POINTS = 1_000_000  # 100x the basis: points schemes may award several points a unit
MAX_TIERS = 50
MAX_DAYS = 36_500
MAX_EVENT_AGE_HOURS = 87_600

TOP_LEVEL_KEYS = (
    "validity",
    "conditions",
    "award",
    "award_validity",
    "participant_cap",
    "apply_only_if_best",
    "spend_method",
    "every_nth_purchase",
    "achievement_codes",
    "spend_conditions",
)
VALIDITY_KEYS = ("period", "season", "birthday_period", "name_day_period")
PURCHASE_ONLY_CONDITION_KEYS = (
    "products",
    "categories",
    "payment_media",
    "min_spend_minor",
    "min_quantity",
)
CODE_CONDITION_KEYS = (
    "products",
    "categories",
    "merchants",
    "merchant_groups",
    "payment_media",
    "areas",
    "segments_include",
    "segments_exclude",
)
CONDITION_KEYS = (
    *CODE_CONDITION_KEYS,
    "weekdays",
    "time_window",
    "max_event_age_hours",
    "min_spend_minor",
    "min_quantity",
)
AWARD_VALIDITY_KEYS = ("available_after_days", "expires_after_days", "expires_on")


@dataclass(frozen=True, slots=True)
class Validity:
    """When events earn the offer. Every part given must hold. A date bound is a whole day in
    the participant's zone (``period_to`` inclusive); a datetime bound is an instant
    (``period_to`` exclusive)."""

    period_from: date | datetime | None = None
    period_to: date | datetime | None = None
    season: tuple[tuple[int, int], tuple[int, int]] | None = None  # inclusive (month, day)
    birthday_period: str | None = None  # day | week | month
    name_day_period: str | None = None


@dataclass(frozen=True, slots=True)
class AwardConditions:
    """An empty set means "any". Products and categories select the lines that count toward
    spend and quantity; a line counts when its product or any of its categories is listed."""

    products: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    merchants: frozenset[str] = frozenset()
    merchant_groups: frozenset[str] = frozenset()
    payment_media: frozenset[str] = frozenset()
    areas: frozenset[str] = frozenset()
    segments_include: frozenset[str] = frozenset()
    segments_exclude: frozenset[str] = frozenset()
    weekdays: frozenset[int] = frozenset()  # ISO numbers, Monday = 1
    time_window: TimeWindow | None = None
    max_event_age: timedelta | None = None
    min_spend_minor: int | None = None
    min_quantity: int | None = None

    @property
    def selects_lines(self) -> bool:
        return bool(self.products or self.categories)


@dataclass(frozen=True, slots=True)
class Tier:
    min_spend_minor: int
    amount_minor: int | None = None
    basis_points: int | None = None


@dataclass(frozen=True, slots=True)
class AwardRule:
    type: str  # fixed | percentage | per_item | tiers
    amount_minor: int | None = None
    basis_points: int | None = None
    tiers: tuple[Tier, ...] = ()  # ascending by min_spend_minor


@dataclass(frozen=True, slots=True)
class AwardValidity:
    available_after_days: int = 0
    expires_after_days: int | None = None  # counted from available_from
    expires_on: date | None = None  # the last day the award can be spent


@dataclass(frozen=True, slots=True)
class ParticipantCap:
    period: str  # day | week | month | year | lifetime
    amount_minor: int


@dataclass(frozen=True, slots=True)
class OfferRules:
    offer_id: int
    classification: str
    award: AwardRule
    validity: Validity = Validity()
    conditions: AwardConditions = AwardConditions()
    award_validity: AwardValidity = AwardValidity()
    participant_cap: ParticipantCap | None = None
    apply_only_if_best: bool = False
    spend_method: str = "wallet"
    every_nth_purchase: int | None = None
    achievement_codes: frozenset[str] = frozenset()
    spend_conditions: SpendConditions = field(default_factory=SpendConditions)

    @property
    def event_type(self) -> str:
        return EVENT_TYPE_BY_CLASSIFICATION[self.classification]


def parse_offer_rules(offer_id: int, classification: str, data: Mapping[str, Any]) -> OfferRules:
    """Validate an offer's rules JSON and return them parsed.

    Raises ``django.core.exceptions.ValidationError`` listing every mistake found; each
    message starts with the path of the value at fault (``award.amount_minor: ...``).
    """
    errors = Errors()
    known: str | None = classification
    if classification not in EVENT_TYPE_BY_CLASSIFICATION:
        errors.add(
            "classification",
            f"unknown classification {classification!r}; expected one of "
            f"{', '.join(CLASSIFICATIONS)}.",
            "choice",
        )
        known = None
    document = read_object(errors, "", data, TOP_LEVEL_KEYS, required=("award",))
    if document is None:
        errors.refuse()
    is_purchase = known in PURCHASE_CLASSIFICATIONS

    validity = _read_validity(errors, document.get("validity", {}), known)
    conditions = _read_conditions(errors, document.get("conditions", {}), known)
    award = _read_award(errors, document["award"], known) if "award" in document else None
    award_validity = _read_award_validity(errors, document.get("award_validity", {}))
    cap = None
    if "participant_cap" in document:
        cap = _read_cap(errors, document["participant_cap"])
    apply_only_if_best = read_bool(
        errors, "apply_only_if_best", document.get("apply_only_if_best", False)
    )
    spend_method = read_choice(
        errors, "spend_method", document.get("spend_method", "wallet"), SPEND_METHODS
    )
    spend_conditions = read_spend_conditions(
        errors, "spend_conditions", document.get("spend_conditions", {})
    )

    every_nth = None
    if "every_nth_purchase" in document:
        if known == "purchase_count":
            every_nth = read_int(
                errors, "every_nth_purchase", document["every_nth_purchase"], minimum=1
            )
        else:
            errors.add("every_nth_purchase", "only applies to purchase_count offers.")
    elif known == "purchase_count":
        errors.add("every_nth_purchase", "is required for purchase_count offers.", "required")

    achievement_codes = None
    if "achievement_codes" in document:
        if known == "achievement":
            achievement_codes = read_codes(
                errors, "achievement_codes", document["achievement_codes"]
            )
        else:
            errors.add("achievement_codes", "only applies to achievement offers.")
    elif known == "achievement":
        errors.add("achievement_codes", "is required for achievement offers.", "required")

    if spend_method == "instant_discount":
        if known is not None and not is_purchase:
            errors.add("spend_method", "instant_discount only applies to purchase offers.")
        if "award_validity" in document:
            errors.add(
                "award_validity",
                "not used with spend_method instant_discount: the discount is taken off the "
                "same purchase.",
            )
        if "spend_conditions" in document:
            errors.add(
                "spend_conditions",
                "not used with spend_method instant_discount: the discount is taken off the "
                "same purchase.",
            )

    if errors.errors or known is None or award is None:
        errors.refuse()
    return OfferRules(
        offer_id=offer_id,
        classification=known,
        award=award,
        validity=validity or Validity(),
        conditions=conditions or AwardConditions(),
        award_validity=award_validity or AwardValidity(),
        participant_cap=cap,
        apply_only_if_best=bool(apply_only_if_best),
        spend_method=spend_method or "wallet",
        every_nth_purchase=every_nth,
        achievement_codes=achievement_codes or frozenset(),
        spend_conditions=spend_conditions or SpendConditions(),
    )


def _read_validity(errors: Errors, value: Any, classification: str | None) -> Validity | None:
    data = read_object(errors, "validity", value, VALIDITY_KEYS)
    if data is None:
        return None
    period_from = period_to = None
    if "period" in data:
        period_from, period_to = _read_period(errors, data["period"])
    season = None
    if "season" in data:
        season = _read_season(errors, data["season"])
    birthday_period = name_day_period = None
    if "birthday_period" in data:
        birthday_period = read_choice(
            errors, "validity.birthday_period", data["birthday_period"], OCCASION_PERIODS
        )
    elif classification == "birthday":
        errors.add(
            "validity.birthday_period",
            "is required for birthday offers (day, week or month).",
            "required",
        )
    if "name_day_period" in data:
        name_day_period = read_choice(
            errors, "validity.name_day_period", data["name_day_period"], OCCASION_PERIODS
        )
    elif classification == "name_day":
        errors.add(
            "validity.name_day_period",
            "is required for name_day offers (day, week or month).",
            "required",
        )
    return Validity(period_from, period_to, season, birthday_period, name_day_period)


def _read_period(
    errors: Errors, value: Any
) -> tuple[date | datetime | None, date | datetime | None]:
    data = read_object(errors, "validity.period", value, ("from", "to"))
    if data is None:
        return None, None
    if not data:
        errors.add("validity.period", "needs from, to or both.", "required")
        return None, None
    start = read_moment(errors, "validity.period.from", data["from"]) if "from" in data else None
    end = read_moment(errors, "validity.period.to", data["to"]) if "to" in data else None
    if start is not None and end is not None:
        if isinstance(start, datetime) != isinstance(end, datetime):
            errors.add("validity.period", "from and to must both be dates or both datetimes.")
        elif isinstance(start, datetime) and isinstance(end, datetime) and start >= end:
            errors.add("validity.period", "from must be before to.")
        elif start > end:  # dates: both days are inclusive, so one day is from == to
            errors.add("validity.period", "from must not be after to.")
    return start, end


def _read_season(errors: Errors, value: Any) -> tuple[tuple[int, int], tuple[int, int]] | None:
    data = read_object(errors, "validity.season", value, ("from", "to"), required=("from", "to"))
    if data is None or "from" not in data or "to" not in data:
        return None
    start = read_month_day(errors, "validity.season.from", data["from"])
    end = read_month_day(errors, "validity.season.to", data["to"])
    if start is None or end is None:
        return None
    return (start, end)


def _read_conditions(
    errors: Errors, value: Any, classification: str | None
) -> AwardConditions | None:
    data = read_object(errors, "conditions", value, CONDITION_KEYS)
    if data is None:
        return None
    before = len(errors.errors)
    if classification is not None and classification not in PURCHASE_CLASSIFICATIONS:
        for key in PURCHASE_ONLY_CONDITION_KEYS:
            if key in data:
                errors.add(
                    join("conditions", key),
                    "only applies to purchase offers (purchase_amount, purchase_count, "
                    "item_quantity).",
                )
    codes = {
        key: read_codes(errors, join("conditions", key), data[key])
        for key in CODE_CONDITION_KEYS
        if key in data
    }
    weekdays = None
    if "weekdays" in data:
        weekdays = read_weekdays(errors, "conditions.weekdays", data["weekdays"])
    window = None
    if "time_window" in data:
        window = read_time_window(errors, "conditions.time_window", data["time_window"])
    max_age = None
    if "max_event_age_hours" in data:
        hours = read_int(
            errors,
            "conditions.max_event_age_hours",
            data["max_event_age_hours"],
            minimum=1,
            maximum=MAX_EVENT_AGE_HOURS,
        )
        max_age = timedelta(hours=hours) if hours is not None else None
    min_spend = None
    if "min_spend_minor" in data:
        min_spend = read_int(
            errors, "conditions.min_spend_minor", data["min_spend_minor"], minimum=1
        )
    min_quantity = None
    if "min_quantity" in data:
        min_quantity = read_int(errors, "conditions.min_quantity", data["min_quantity"], minimum=1)
    if len(errors.errors) > before:
        return None
    return AwardConditions(
        **{key: found or frozenset() for key, found in codes.items()},
        weekdays=weekdays or frozenset(),
        time_window=window,
        max_event_age=max_age,
        min_spend_minor=min_spend,
        min_quantity=min_quantity,
    )


def _read_award(errors: Errors, value: Any, classification: str | None) -> AwardRule | None:
    data = read_object(
        errors, "award", value, ("type", "amount_minor", "basis_points", "tiers"), ("type",)
    )
    if data is None or "type" not in data:
        return None
    award_type = read_choice(errors, "award.type", data["type"], AWARD_TYPES)
    if award_type is None:
        return None
    allowed_types = AWARD_TYPES_BY_CLASSIFICATION.get(classification or "", AWARD_TYPES)
    if award_type not in allowed_types:
        errors.add(
            "award.type",
            f"{award_type} is not available for {classification} offers; use "
            f"{' or '.join(allowed_types)}.",
            "choice",
        )
        return None
    needed = {
        "fixed": ("amount_minor",),
        "per_item": ("amount_minor",),
        "percentage": ("basis_points",),
        "tiers": ("tiers",),
    }[award_type]
    for key in ("amount_minor", "basis_points", "tiers"):
        if key in data and key not in needed:
            errors.add(join("award", key), f"not used by award type {award_type}.")
        elif key not in data and key in needed:
            errors.add(join("award", key), f"is required for award type {award_type}.", "required")
    if any(key not in data for key in needed):
        return None
    if award_type in ("fixed", "per_item"):
        amount = read_int(errors, "award.amount_minor", data["amount_minor"], minimum=1)
        return AwardRule(award_type, amount_minor=amount) if amount is not None else None
    if award_type == "percentage":
        basis_points = _read_basis_points(errors, "award.basis_points", data["basis_points"])
        return AwardRule(award_type, basis_points=basis_points) if basis_points else None
    tiers = _read_tiers(errors, data["tiers"])
    return AwardRule(award_type, tiers=tiers) if tiers is not None else None


def _read_basis_points(errors: Errors, path: str, value: Any) -> int | None:
    return read_int(errors, path, value, minimum=1, maximum=MAX_BASIS_POINTS)


def _read_tiers(errors: Errors, value: Any) -> tuple[Tier, ...] | None:
    if not isinstance(value, list) or not value:
        errors.add("award.tiers", "must be a non-empty list of tiers.", "type")
        return None
    if len(value) > MAX_TIERS:
        errors.add("award.tiers", f"must have at most {MAX_TIERS} tiers.", "max_length")
        return None
    tiers: list[Tier] = []
    for index, item in enumerate(value):
        path = join("award.tiers", index)
        data = read_object(
            errors,
            path,
            item,
            ("min_spend_minor", "amount_minor", "basis_points"),
            required=("min_spend_minor",),
        )
        if data is None or "min_spend_minor" not in data:
            continue
        threshold = read_int(
            errors, join(path, "min_spend_minor"), data["min_spend_minor"], minimum=0
        )
        if ("amount_minor" in data) == ("basis_points" in data):
            errors.add(path, "needs exactly one of amount_minor or basis_points.")
            continue
        amount = basis_points = None
        if "amount_minor" in data:
            amount = read_int(errors, join(path, "amount_minor"), data["amount_minor"], minimum=1)
        else:
            basis_points = _read_basis_points(
                errors, join(path, "basis_points"), data["basis_points"]
            )
        if threshold is None or (amount is None and basis_points is None):
            continue
        if tiers and threshold <= tiers[-1].min_spend_minor:
            errors.add(
                join(path, "min_spend_minor"),
                f"must be above the previous tier's {tiers[-1].min_spend_minor}: "
                "list tiers from the lowest threshold up.",
            )
            continue
        tiers.append(Tier(threshold, amount, basis_points))
    if len(tiers) != len(value):
        return None
    return tuple(tiers)


def _read_award_validity(errors: Errors, value: Any) -> AwardValidity | None:
    data = read_object(errors, "award_validity", value, AWARD_VALIDITY_KEYS)
    if data is None:
        return None
    before = len(errors.errors)
    after_days = 0
    if "available_after_days" in data:
        after_days = (
            read_int(
                errors,
                "award_validity.available_after_days",
                data["available_after_days"],
                minimum=0,
                maximum=MAX_DAYS,
            )
            or 0
        )
    expires_after_days = expires_on = None
    if "expires_after_days" in data and "expires_on" in data:
        errors.add("award_validity", "give expires_after_days or expires_on, not both.")
    elif "expires_after_days" in data:
        expires_after_days = read_int(
            errors,
            "award_validity.expires_after_days",
            data["expires_after_days"],
            minimum=1,
            maximum=MAX_DAYS,
        )
    elif "expires_on" in data:
        expires_on = read_date(errors, "award_validity.expires_on", data["expires_on"])
    if len(errors.errors) > before:
        return None
    return AwardValidity(after_days, expires_after_days, expires_on)


def _read_cap(errors: Errors, value: Any) -> ParticipantCap | None:
    data = read_object(
        errors, "participant_cap", value, ("period", "amount_minor"), ("period", "amount_minor")
    )
    if data is None or "period" not in data or "amount_minor" not in data:
        return None
    period = read_choice(errors, "participant_cap.period", data["period"], CAP_PERIODS)
    amount = read_int(errors, "participant_cap.amount_minor", data["amount_minor"], minimum=1)
    if period is None or amount is None:
        return None
    return ParticipantCap(period, amount)
