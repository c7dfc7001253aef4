"""Evaluate one event for one participant against a scheme's offers.

Pure functions: no database, no clock. The same code serves the interactive path (one event
through the API), the batch evaluation run and offer simulation.

The evaluation run calls ``evaluate`` for every event with the same few offers, so each
offer's rules are first compiled into a ``_Plan`` (kept in a small cache, see ``_plans_for``):
the checks the offer actually has, in the order ``REFUSALS`` are tried, and its award and
date arithmetic worked out once. An event then runs only the checks its offers need.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import cast

from ._calendar import (
    TimeWindow,
    in_occasion_period,
    in_season,
    local_midnight,
    local_time,
    period_start,
    require_aware,
    weekday_and_time_refusal,
)
from .facts import AwardLine, EventFacts, ParticipantFacts
from .rules import BASIS_POINTS_PER_WHOLE, AwardRule, OfferRules
from .spend import merchant_allowed

# Why an offer gave nothing, as returned in OfferOutcome.refusal.
REFUSALS = {
    "event_type_mismatch": "The offer does not reward this kind of event.",
    "before_validity_period": "The event happened before the offer's validity period.",
    "after_validity_period": "The event happened after the offer's validity period.",
    "outside_season": "The event happened outside the offer's season.",
    "no_birth_date": "The participant has no birth date.",
    "outside_birthday_period": "The event happened outside the participant's birthday period.",
    "no_name_day": "The participant has no name day.",
    "outside_name_day_period": "The event happened outside the participant's name-day period.",
    "event_too_old": "The event arrived later than the offer's maximum event age.",
    "segment_not_included": "The participant is in none of the offer's segments.",
    "segment_excluded": "The participant is in a segment the offer excludes.",
    "merchant_not_allowed": "The event's merchant does not take part in the offer.",
    "payment_medium_not_allowed": "The payment medium does not qualify.",
    "area_not_allowed": "The event's area does not qualify.",
    "weekday_not_allowed": "The event happened on a day of the week the offer excludes.",
    "outside_time_window": "The event happened outside the offer's time of day.",
    "achievement_code_mismatch": "The achievement code does not match the offer.",
    "not_nth_purchase": "This purchase is not one of the offer's every-Nth purchases.",
    "no_matching_lines": "No line of the purchase has a qualifying product or category.",
    "below_min_spend": "The qualifying spend is below the offer's minimum.",
    "below_min_quantity": "The qualifying quantity is below the offer's minimum.",
    "below_lowest_tier": "The qualifying spend is below the offer's lowest tier.",
    "zero_award": "The award rounds down to nothing.",
    "expires_before_available": "The award would expire before it could be spent.",
    "participant_cap_reached": "The participant has reached the offer's cap for this period.",
    "budget_exhausted": "The offer's budget is spent.",
    "not_best_offer": "Another apply-only-if-best offer gives a larger award.",
    "discount_exceeds_purchase": "Earlier instant discounts already cover the whole purchase.",
}


@dataclass(frozen=True, slots=True)
class OfferOutcome:
    """What one offer did with one event: an award, or the refusal (a key of REFUSALS).
    ``uncapped_amount_minor`` is the award before the participant cap, the budget, best-offer
    selection and the instant-discount limit (0 when the conditions refused it)."""

    offer_id: int
    award: AwardLine | None
    refusal: str | None
    uncapped_amount_minor: int


def evaluate(
    event: EventFacts,
    participant: ParticipantFacts,
    offers: Sequence[OfferRules],
    budget_left: Mapping[int, int | None],
) -> list[AwardLine]:
    """The award lines ``event`` earns ``participant``, ordered by offer id.

    ``budget_left`` maps offer id to what is left of the offer's total budget (None or no
    entry: unlimited); an award is cut to what is left. Each award is first cut to the
    participant cap's remainder (cap minus ``participant.awarded_in_period[offer_id]``).
    Among offers flagged ``apply_only_if_best`` only the largest award is kept (ties: lowest
    offer id); other offers always apply. Instant discounts together never exceed the
    purchase's ``total_minor``.
    """
    plans = _plans_for(offers)
    local = _local_occurred_at(event, participant)
    awards: list[AwardLine | None] = []
    # Offers of another event type give nothing and take no part in the best-offer choice
    # or the instant-discount limit, so only the event's own type is assessed.
    for plan in plans.by_event_type.get(event.type, ()):
        refusal, amount = _assess(plan, event, participant, local)
        if refusal is None:
            refusal, award = _limit(plan, event, participant, amount, budget_left)
            if award is not None:
                awards.append(award)
    if _settle(plans, awards, event.total_minor):
        awards = [award for award in awards if award is not None]
    # Every entry is an award: only _settle sets any to None, and they were just dropped.
    return cast("list[AwardLine]", awards)


def explain(
    event: EventFacts,
    participant: ParticipantFacts,
    offers: Sequence[OfferRules],
    budget_left: Mapping[int, int | None],
) -> list[OfferOutcome]:
    """Like ``evaluate``, but one outcome per offer (ordered by offer id), with the reason an
    offer gave nothing: for simulations and for answering "why was I not rewarded?"."""
    plans = _plans_for(offers)
    local = _local_occurred_at(event, participant)
    awards: list[AwardLine | None] = []
    refusals: list[str | None] = []
    uncapped: list[int] = []
    for plan in plans.in_order:
        refusal, amount = _assess(plan, event, participant, local)
        award = None
        if refusal is None:
            refusal, award = _limit(plan, event, participant, amount, budget_left)
        awards.append(award)
        refusals.append(refusal)
        uncapped.append(amount)
    for index, refusal in _settle(plans, awards, event.total_minor):
        refusals[index] = refusal
    return [
        OfferOutcome(plan.offer_id, award, refusal, amount)
        for plan, award, refusal, amount in zip(
            plans.in_order, awards, refusals, uncapped, strict=True
        )
    ]


def cap_period_start(rules: OfferRules, at: datetime, time_zone: str) -> datetime | None:
    """Start (UTC) of the participant-cap period containing ``at`` (pass the event's
    ``occurred_at``) in the participant's ``time_zone``: local midnight of the day, of Monday,
    of the 1st of the month or of Jan 1. None for a lifetime cap, and for an offer without a
    cap (which needs no ``awarded_in_period`` entry)."""
    if rules.participant_cap is None:
        return None
    return period_start(rules.participant_cap.period, at, time_zone)


# ---------------------------------------------------------------------------- judging


def _local_occurred_at(event: EventFacts, participant: ParticipantFacts) -> datetime:
    """The event's ``occurred_at`` in the participant's zone; refuses naive datetimes."""
    local = local_time(event.occurred_at, participant.time_zone)
    require_aware(event.received_at)
    return local


def _assess(
    plan: "_Plan", event: EventFacts, participant: ParticipantFacts, local: datetime
) -> tuple[str | None, int]:
    """Check the offer's validity and award conditions; return (refusal, uncapped amount)."""
    if event.type != plan.event_type:
        return "event_type_mismatch", 0
    for check in plan.checks:
        refusal = check(event, participant, local)
        if refusal is not None:
            return refusal, 0

    if plan.is_purchase:
        if plan.selects_lines:
            products, categories = plan.products, plan.categories
            spend = quantity = 0
            matched = False
            for line in event.lines:
                if line.product_code in products or not categories.isdisjoint(line.category_codes):
                    spend += line.amount_minor
                    quantity += line.quantity
                    matched = True
            if not matched:
                return "no_matching_lines", 0
        else:
            spend = event.total_minor
            # Only a per-item award and a minimum quantity read the quantity.
            quantity = sum(line.quantity for line in event.lines) if plan.counts_items else 0
    else:
        spend = quantity = 0
    if plan.min_spend_minor is not None and spend < plan.min_spend_minor:
        return "below_min_spend", 0
    if plan.min_quantity is not None and quantity < plan.min_quantity:
        return "below_min_quantity", 0
    amount = plan.award_amount(spend, quantity)
    if amount is None:
        return "below_lowest_tier", 0
    if amount <= 0:
        return "zero_award", 0
    return None, amount


def _limit(
    plan: "_Plan",
    event: EventFacts,
    participant: ParticipantFacts,
    amount: int,
    budget_left: Mapping[int, int | None],
) -> tuple[str | None, AwardLine | None]:
    offer_id = plan.offer_id
    if plan.cap_amount_minor is not None:
        remaining = plan.cap_amount_minor - participant.awarded_in_period.get(offer_id, 0)
        if remaining <= 0:
            return "participant_cap_reached", None
        if amount > remaining:
            amount = remaining
    budget = budget_left.get(offer_id)
    if budget is not None:
        if budget <= 0:
            return "budget_exhausted", None
        if amount > budget:
            amount = budget

    occurred_at = event.occurred_at.astimezone(UTC)
    if plan.is_instant_discount:
        return None, AwardLine(offer_id, amount, occurred_at, None, "instant_discount")
    # Whole days of 24 hours: a return window is a span of time, not a calendar reckoning.
    available_from = occurred_at + plan.available_after
    expires_at = None
    if plan.expires_after is not None:
        expires_at = available_from + plan.expires_after
    elif plan.expires_on is not None:
        # Spendable through the whole of that day in the participant's zone.
        expires_at = local_midnight(plan.expires_on + timedelta(days=1), participant.time_zone)
        if expires_at <= available_from:
            return "expires_before_available", None
    return None, AwardLine(offer_id, amount, available_from, expires_at, plan.spend_method)


def _settle(
    plans: "_Plans", awards: list[AwardLine | None], total_minor: int
) -> list[tuple[int, str]]:
    """Applies the best-offer choice and the instant-discount limit to ``awards`` (offer id
    order; None for an offer that gave nothing): an award given up is set to None, one cut is
    replaced. Returns (index, refusal) of each award given up."""
    given_up: list[tuple[int, str]] = []
    if plans.best_only_ids:
        _keep_only_best(awards, plans.best_only_ids, given_up)
    if plans.has_instant_discounts:
        _limit_instant_discounts(awards, total_minor, given_up)
    return given_up


def _keep_only_best(
    awards: list[AwardLine | None], best_only_ids: frozenset[int], given_up: list[tuple[int, str]]
) -> None:
    best_index = None
    best_amount = 0
    # awards are in offer-id order and only a strictly larger award displaces the best so
    # far, so among equal awards the lowest offer id wins.
    for index, award in enumerate(awards):
        if (
            award is not None
            and award.offer_id in best_only_ids
            and (best_index is None or award.amount_minor > best_amount)
        ):
            best_index, best_amount = index, award.amount_minor
    for index, award in enumerate(awards):
        if index != best_index and award is not None and award.offer_id in best_only_ids:
            awards[index] = None
            given_up.append((index, "not_best_offer"))


def _limit_instant_discounts(
    awards: list[AwardLine | None], total_minor: int, given_up: list[tuple[int, str]]
) -> None:
    """A purchase cannot be discounted below zero: instant discounts are granted in offer-id
    order until they cover ``total_minor``; a later one is cut to what is left."""
    left = max(total_minor, 0)
    for index, award in enumerate(awards):
        if award is None or award.spend_method != "instant_discount":
            continue
        if left <= 0:
            awards[index] = None
            given_up.append((index, "discount_exceeds_purchase"))
        elif award.amount_minor > left:
            awards[index] = replace(award, amount_minor=left)
            left = 0
        else:
            left -= award.amount_minor


# ---------------------------------------------------------------------------- plans

# A check reads the event, the participant and the event's local time; returns a refusal.
_Check = Callable[[EventFacts, ParticipantFacts, datetime], str | None]


@dataclass(frozen=True, slots=True)
class _Plan:
    """One offer's rules, worked out for evaluation: the checks it has, in order."""

    offer_id: int
    event_type: str
    checks: tuple[_Check, ...]
    is_purchase: bool
    selects_lines: bool
    products: frozenset[str]
    categories: frozenset[str]
    counts_items: bool
    min_spend_minor: int | None
    min_quantity: int | None
    award_amount: Callable[[int, int], int | None]
    cap_amount_minor: int | None
    spend_method: str
    is_instant_discount: bool
    available_after: timedelta
    expires_after: timedelta | None
    expires_on: date | None


@dataclass(frozen=True, slots=True)
class _Plans:
    """A list of offers worked out: their plans in offer id order, and by event type."""

    offers: tuple[OfferRules, ...]  # held so that their ids stay theirs while cached
    in_order: tuple[_Plan, ...]
    by_event_type: dict[str, tuple[_Plan, ...]]
    best_only_ids: frozenset[int]
    has_instant_discounts: bool


# Plans by the ids of the offers' rules objects. The services parse each offer's rules once
# (an lru_cache on the rules text), so one chunk or one scheme keeps hitting the same entry;
# hashing the rules themselves would cost more than the evaluation. An entry holds its rules
# objects, so no other object can take their ids while it is cached.
_PLANS: dict[tuple[int, ...], _Plans] = {}
_PLANS_MAX = 256


def _plans_for(offers: Sequence[OfferRules]) -> _Plans:
    key = tuple(map(id, offers))
    plans = _PLANS.get(key)
    if plans is None:
        plans = _compile(tuple(offers))
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = plans
    return plans


def _compile(offers: tuple[OfferRules, ...]) -> _Plans:
    in_order = tuple(_plan(rules) for rules in sorted(offers, key=lambda offer: offer.offer_id))
    by_event_type: dict[str, tuple[_Plan, ...]] = {}
    for plan in in_order:
        by_event_type[plan.event_type] = (*by_event_type.get(plan.event_type, ()), plan)
    return _Plans(
        offers=offers,
        in_order=in_order,
        by_event_type=by_event_type,
        best_only_ids=frozenset(rules.offer_id for rules in offers if rules.apply_only_if_best),
        has_instant_discounts=any(plan.is_instant_discount for plan in in_order),
    )


def _plan(rules: OfferRules) -> _Plan:
    conditions = rules.conditions
    validity = rules.award_validity
    return _Plan(
        offer_id=rules.offer_id,
        event_type=rules.event_type,
        checks=(
            *_validity_checks(rules),
            *_condition_checks(rules),
            *_classification_checks(rules),
        ),
        is_purchase=rules.event_type == "purchase",
        selects_lines=conditions.selects_lines,
        products=conditions.products,
        categories=conditions.categories,
        counts_items=rules.award.type == "per_item" or conditions.min_quantity is not None,
        min_spend_minor=conditions.min_spend_minor,
        min_quantity=conditions.min_quantity,
        award_amount=_award_amount(rules.award),
        cap_amount_minor=(
            rules.participant_cap.amount_minor if rules.participant_cap is not None else None
        ),
        spend_method=rules.spend_method,
        is_instant_discount=rules.spend_method == "instant_discount",
        available_after=timedelta(days=validity.available_after_days),
        expires_after=(
            timedelta(days=validity.expires_after_days)
            if validity.expires_after_days is not None
            else None
        ),
        expires_on=validity.expires_on,
    )


def _award_amount(award: AwardRule) -> Callable[[int, int], int | None]:
    """Integer award of (spend, quantity); None when a tier ladder has no tier the spend
    reaches. Percentages are basis points of the spend, rounded down to the minor unit;
    negative spend or quantity (a basket with returns) earns nothing."""
    if award.type == "fixed":
        fixed = award.amount_minor or 0
        return lambda spend, quantity: fixed
    if award.type == "per_item":
        per_item = award.amount_minor or 0
        return lambda spend, quantity: max(quantity, 0) * per_item
    if award.type == "percentage":
        basis_points = award.basis_points or 0
        return lambda spend, quantity: _percentage(spend, basis_points)
    tiers = award.tiers  # ascending: the last tier reached is the highest

    def tier_amount(spend: int, quantity: int) -> int | None:
        reached = None
        for tier in tiers:
            if spend >= tier.min_spend_minor:
                reached = tier
            else:
                break
        if reached is None:
            return None
        if reached.amount_minor is not None:
            return reached.amount_minor
        return _percentage(spend, reached.basis_points or 0)

    return tier_amount


def _percentage(spend: int, basis_points: int) -> int:
    return max(spend, 0) * basis_points // BASIS_POINTS_PER_WHOLE


# Each factory below returns the check of one part of the rules; a part the offer does not
# use has no check. A date bound is a whole day in the participant's zone, a datetime bound
# an instant.


def _validity_checks(rules: OfferRules) -> list[_Check]:
    validity = rules.validity
    checks: list[_Check] = []
    start, end = validity.period_from, validity.period_to
    if isinstance(start, datetime):
        checks.append(_starts_at(start))
    elif start is not None:
        checks.append(_starts_on(start))
    if isinstance(end, datetime):
        checks.append(_ends_at(end))
    elif end is not None:
        checks.append(_ends_on(end))
    if validity.season is not None:
        checks.append(_in_season(*validity.season))
    if validity.birthday_period is not None:
        checks.append(_in_birthday_period(validity.birthday_period))
    if validity.name_day_period is not None:
        checks.append(_in_name_day_period(validity.name_day_period))
    return checks


def _condition_checks(rules: OfferRules) -> list[_Check]:
    conditions = rules.conditions
    checks: list[_Check] = []
    if conditions.max_event_age is not None:
        checks.append(_young_enough(conditions.max_event_age))
    if conditions.segments_include:
        checks.append(_in_segments(conditions.segments_include))
    if conditions.segments_exclude:
        checks.append(_outside_segments(conditions.segments_exclude))
    if conditions.merchants or conditions.merchant_groups:
        checks.append(_at_merchant(conditions.merchants, conditions.merchant_groups))
    if conditions.payment_media:
        checks.append(_paid_with(conditions.payment_media))
    if conditions.areas:
        checks.append(_in_area(conditions.areas))
    if conditions.weekdays or conditions.time_window is not None:
        checks.append(_on_weekday_and_time(conditions.weekdays, conditions.time_window))
    return checks


def _classification_checks(rules: OfferRules) -> list[_Check]:
    checks: list[_Check] = []
    if rules.classification == "achievement":
        checks.append(_with_achievement_code(rules.achievement_codes))
    if rules.every_nth_purchase is not None:
        checks.append(_every_nth_purchase(rules.every_nth_purchase))
    return checks


def _starts_at(start: datetime) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return "before_validity_period" if event.occurred_at < start else None

    return check


def _starts_on(start: date) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return "before_validity_period" if local.date() < start else None

    return check


def _ends_at(end: datetime) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return "after_validity_period" if event.occurred_at >= end else None

    return check


def _ends_on(end: date) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return "after_validity_period" if local.date() > end else None

    return check


def _in_season(start: tuple[int, int], end: tuple[int, int]) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return None if in_season(local.date(), start, end) else "outside_season"

    return check


def _in_birthday_period(period: str) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        birth_date = participant.birth_date
        if birth_date is None:
            return "no_birth_date"
        if not in_occasion_period(local.date(), birth_date.month, birth_date.day, period):
            return "outside_birthday_period"
        return None

    return check


def _in_name_day_period(period: str) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        if participant.name_day is None:
            return "no_name_day"
        if not in_occasion_period(local.date(), *participant.name_day, period):
            return "outside_name_day_period"
        return None

    return check


def _young_enough(max_age: timedelta) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return "event_too_old" if event.received_at - event.occurred_at > max_age else None

    return check


def _in_segments(included: frozenset[str]) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return "segment_not_included" if included.isdisjoint(participant.segments) else None

    return check


def _outside_segments(excluded: frozenset[str]) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return None if excluded.isdisjoint(participant.segments) else "segment_excluded"

    return check


def _at_merchant(merchants: frozenset[str], merchant_groups: frozenset[str]) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        if merchant_allowed(
            merchants, merchant_groups, event.merchant_code, event.merchant_group_codes
        ):
            return None
        return "merchant_not_allowed"

    return check


def _paid_with(payment_media: frozenset[str]) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return None if event.payment_medium in payment_media else "payment_medium_not_allowed"

    return check


def _in_area(areas: frozenset[str]) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return None if event.area in areas else "area_not_allowed"

    return check


def _on_weekday_and_time(weekdays: frozenset[int], window: TimeWindow | None) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return weekday_and_time_refusal(local, weekdays, window)

    return check


def _with_achievement_code(codes: frozenset[str]) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        return None if event.achievement_code in codes else "achievement_code_mismatch"

    return check


def _every_nth_purchase(nth: int) -> _Check:
    def check(event: EventFacts, participant: ParticipantFacts, local: datetime) -> str | None:
        if (participant.purchase_count_before + 1) % nth != 0:
            return "not_nth_purchase"
        return None

    return check
