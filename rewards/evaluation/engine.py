"""Evaluate one event for one participant against a scheme's offers.

Pure functions: no database, no clock. The same code serves the interactive path (one event
through the API), the batch evaluation run and offer simulation.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ._calendar import (
    in_occasion_period,
    in_season,
    local_midnight,
    local_time,
    period_start,
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
    return [
        outcome.award
        for outcome in explain(event, participant, offers, budget_left)
        if outcome.award is not None
    ]


def explain(
    event: EventFacts,
    participant: ParticipantFacts,
    offers: Sequence[OfferRules],
    budget_left: Mapping[int, int | None],
) -> list[OfferOutcome]:
    """Like ``evaluate``, but one outcome per offer (ordered by offer id), with the reason an
    offer gave nothing: for simulations and for answering "why was I not rewarded?"."""
    local = local_time(event.occurred_at, participant.time_zone)
    local_time(event.received_at, participant.time_zone)  # refuses a naive received_at early
    outcomes: list[OfferOutcome] = []
    for rules in sorted(offers, key=lambda offer: offer.offer_id):
        refusal, uncapped = _assess(event, participant, rules, local)
        award = None
        if refusal is None:
            refusal, award = _limit(event, participant, rules, uncapped, budget_left)
        outcomes.append(OfferOutcome(rules.offer_id, award, refusal, uncapped))
    _keep_only_best(outcomes, {rules.offer_id for rules in offers if rules.apply_only_if_best})
    _limit_instant_discounts(outcomes, event.total_minor)
    return outcomes


def cap_period_start(rules: OfferRules, at: datetime, time_zone: str) -> datetime | None:
    """Start (UTC) of the participant-cap period containing ``at`` (pass the event's
    ``occurred_at``) in the participant's ``time_zone``: local midnight of the day, of Monday,
    of the 1st of the month or of Jan 1. None for a lifetime cap, and for an offer without a
    cap (which needs no ``awarded_in_period`` entry)."""
    if rules.participant_cap is None:
        return None
    return period_start(rules.participant_cap.period, at, time_zone)


def _assess(
    event: EventFacts, participant: ParticipantFacts, rules: OfferRules, local: datetime
) -> tuple[str | None, int]:
    """Check the offer's validity and award conditions; return (refusal, uncapped amount)."""
    if event.type != rules.event_type:
        return "event_type_mismatch", 0
    refusal = _validity_refusal(event, participant, rules, local)
    if refusal is None:
        refusal = _condition_refusal(event, participant, rules, local)
    if refusal is not None:
        return refusal, 0
    if rules.classification == "achievement" and (
        event.achievement_code not in rules.achievement_codes
    ):
        return "achievement_code_mismatch", 0
    if rules.every_nth_purchase is not None and (
        (participant.purchase_count_before + 1) % rules.every_nth_purchase != 0
    ):
        return "not_nth_purchase", 0

    conditions = rules.conditions
    spend, quantity, matched = _qualifying(event, rules)
    if not matched:
        return "no_matching_lines", 0
    if conditions.min_spend_minor is not None and spend < conditions.min_spend_minor:
        return "below_min_spend", 0
    if conditions.min_quantity is not None and quantity < conditions.min_quantity:
        return "below_min_quantity", 0
    amount = _award_amount(rules.award, spend, quantity)
    if amount is None:
        return "below_lowest_tier", 0
    if amount <= 0:
        return "zero_award", 0
    return None, amount


def _validity_refusal(
    event: EventFacts, participant: ParticipantFacts, rules: OfferRules, local: datetime
) -> str | None:
    validity = rules.validity
    today = local.date()
    start, end = validity.period_from, validity.period_to
    if start is not None and (
        event.occurred_at < start if isinstance(start, datetime) else today < start
    ):
        return "before_validity_period"
    if end is not None and (event.occurred_at >= end if isinstance(end, datetime) else today > end):
        return "after_validity_period"
    if validity.season is not None and not in_season(today, *validity.season):
        return "outside_season"
    if validity.birthday_period is not None:
        birth_date = participant.birth_date
        if birth_date is None:
            return "no_birth_date"
        if not in_occasion_period(
            today, birth_date.month, birth_date.day, validity.birthday_period
        ):
            return "outside_birthday_period"
    if validity.name_day_period is not None:
        if participant.name_day is None:
            return "no_name_day"
        if not in_occasion_period(today, *participant.name_day, validity.name_day_period):
            return "outside_name_day_period"
    return None


def _condition_refusal(
    event: EventFacts, participant: ParticipantFacts, rules: OfferRules, local: datetime
) -> str | None:
    conditions = rules.conditions
    if (
        conditions.max_event_age is not None
        and event.received_at - event.occurred_at > conditions.max_event_age
    ):
        return "event_too_old"
    if conditions.segments_include and conditions.segments_include.isdisjoint(participant.segments):
        return "segment_not_included"
    if not conditions.segments_exclude.isdisjoint(participant.segments):
        return "segment_excluded"
    if not merchant_allowed(
        conditions.merchants,
        conditions.merchant_groups,
        event.merchant_code,
        event.merchant_group_codes,
    ):
        return "merchant_not_allowed"
    if conditions.payment_media and event.payment_medium not in conditions.payment_media:
        return "payment_medium_not_allowed"
    if conditions.areas and event.area not in conditions.areas:
        return "area_not_allowed"
    if conditions.weekdays or conditions.time_window is not None:
        return weekday_and_time_refusal(local, conditions.weekdays, conditions.time_window)
    return None


def _qualifying(event: EventFacts, rules: OfferRules) -> tuple[int, int, bool]:
    """(spend, quantity, matched): without product or category conditions the whole purchase
    qualifies (spend is ``total_minor``); with them, only the matching lines count."""
    if rules.event_type != "purchase":
        return 0, 0, True
    conditions = rules.conditions
    if not conditions.selects_lines:
        return event.total_minor, sum(line.quantity for line in event.lines), True
    products, categories = conditions.products, conditions.categories
    spend = quantity = 0
    matched = False
    for line in event.lines:
        if line.product_code in products or not categories.isdisjoint(line.category_codes):
            spend += line.amount_minor
            quantity += line.quantity
            matched = True
    return spend, quantity, matched


def _award_amount(award: AwardRule, spend: int, quantity: int) -> int | None:
    """Integer award; None when a tier ladder has no tier the spend reaches. Percentages are
    basis points of the spend, rounded down to the minor unit; negative spend or quantity (a
    basket with returns) earns nothing."""
    if award.type == "fixed":
        return award.amount_minor or 0
    if award.type == "per_item":
        return max(quantity, 0) * (award.amount_minor or 0)
    if award.type == "percentage":
        return _percentage(spend, award.basis_points or 0)
    reached = None
    for tier in award.tiers:  # ascending: the last tier reached is the highest
        if spend >= tier.min_spend_minor:
            reached = tier
        else:
            break
    if reached is None:
        return None
    if reached.amount_minor is not None:
        return reached.amount_minor
    return _percentage(spend, reached.basis_points or 0)


def _percentage(spend: int, basis_points: int) -> int:
    return max(spend, 0) * basis_points // BASIS_POINTS_PER_WHOLE


def _limit(
    event: EventFacts,
    participant: ParticipantFacts,
    rules: OfferRules,
    amount: int,
    budget_left: Mapping[int, int | None],
) -> tuple[str | None, AwardLine | None]:
    cap = rules.participant_cap
    if cap is not None:
        remaining = cap.amount_minor - participant.awarded_in_period.get(rules.offer_id, 0)
        if remaining <= 0:
            return "participant_cap_reached", None
        amount = min(amount, remaining)
    budget = budget_left.get(rules.offer_id)
    if budget is not None:
        if budget <= 0:
            return "budget_exhausted", None
        amount = min(amount, budget)

    occurred_at = event.occurred_at.astimezone(UTC)
    if rules.spend_method == "instant_discount":
        return None, AwardLine(rules.offer_id, amount, occurred_at, None, rules.spend_method)
    validity = rules.award_validity
    # Whole days of 24 hours: a return window is a span of time, not a calendar reckoning.
    available_from = occurred_at + timedelta(days=validity.available_after_days)
    expires_at = None
    if validity.expires_after_days is not None:
        expires_at = available_from + timedelta(days=validity.expires_after_days)
    elif validity.expires_on is not None:
        # Spendable through the whole of that day in the participant's zone.
        expires_at = local_midnight(validity.expires_on + timedelta(days=1), participant.time_zone)
        if expires_at <= available_from:
            return "expires_before_available", None
    return None, AwardLine(rules.offer_id, amount, available_from, expires_at, rules.spend_method)


def _keep_only_best(outcomes: list[OfferOutcome], best_only_ids: set[int]) -> None:
    best_index = None
    best_amount = 0
    # outcomes are in offer-id order and only a strictly larger award displaces the best so
    # far, so among equal awards the lowest offer id wins.
    for index, outcome in enumerate(outcomes):
        if (
            outcome.award is not None
            and outcome.offer_id in best_only_ids
            and (best_index is None or outcome.award.amount_minor > best_amount)
        ):
            best_index, best_amount = index, outcome.award.amount_minor
    for index, outcome in enumerate(outcomes):
        if index != best_index and outcome.award is not None and outcome.offer_id in best_only_ids:
            outcomes[index] = OfferOutcome(
                outcome.offer_id, None, "not_best_offer", outcome.uncapped_amount_minor
            )


def _limit_instant_discounts(outcomes: list[OfferOutcome], total_minor: int) -> None:
    """A purchase cannot be discounted below zero: instant discounts are granted in offer-id
    order until they cover ``total_minor``; a later one is cut to what is left."""
    left = max(total_minor, 0)
    for index, outcome in enumerate(outcomes):
        award = outcome.award
        if award is None or award.spend_method != "instant_discount":
            continue
        if left <= 0:
            outcomes[index] = OfferOutcome(
                outcome.offer_id, None, "discount_exceeds_purchase", outcome.uncapped_amount_minor
            )
        elif award.amount_minor > left:
            cut = replace(award, amount_minor=left)
            outcomes[index] = OfferOutcome(
                outcome.offer_id, cut, None, outcome.uncapped_amount_minor
            )
            left = 0
        else:
            left -= award.amount_minor
