"""Offer evaluation: classifications, validity, conditions, award rules, caps, best-offer choice,
spend conditions and the validation of the rules JSON. Pure functions: no database."""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rewards.evaluation import (
    CLASSIFICATIONS,
    REFUSALS,
    SPEND_REFUSAL_MESSAGES,
    AwardLine,
    EventFacts,
    EventLine,
    OfferOutcome,
    OfferRules,
    ParticipantFacts,
    SpendConditions,
    cap_period_start,
    evaluate,
    explain,
    offer_rules_schema_example,
    parse_offer_rules,
    parse_spend_conditions,
    spend_allowed,
)

STOCKHOLM = "Europe/Stockholm"
FIXED_100 = {"type": "fixed", "amount_minor": 100}


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def line(
    product: str = "p-1",
    categories: tuple[str, ...] = (),
    quantity: int = 1,
    amount_minor: int = 1000,
) -> EventLine:
    return EventLine(product, frozenset(categories), quantity, amount_minor)


def event(
    type: str = "purchase",
    occurred_at: str = "2026-03-10T12:00:00+00:00",
    received_at: str | None = None,
    lines: tuple[EventLine, ...] = (),
    total_minor: int | None = None,
    merchant: str | None = "shop-1",
    merchant_groups: tuple[str, ...] = (),
    payment_medium: str | None = "visa",
    area: str | None = "north",
    achievement_code: str | None = None,
) -> EventFacts:
    if total_minor is None:
        total_minor = sum(item.amount_minor for item in lines)
    return EventFacts(
        type=type,
        occurred_at=moment(occurred_at),
        received_at=moment(received_at or occurred_at),
        merchant_code=merchant,
        merchant_group_codes=frozenset(merchant_groups),
        payment_medium=payment_medium,
        area=area,
        lines=lines,
        total_minor=total_minor,
        achievement_code=achievement_code,
    )


def participant(
    time_zone: str = "UTC",
    segments: tuple[str, ...] = (),
    birth_date: date | None = None,
    name_day: tuple[int, int] | None = None,
    purchase_count_before: int = 0,
    awarded_in_period: dict[int, int] | None = None,
) -> ParticipantFacts:
    return ParticipantFacts(
        participant_id=7,
        segments=frozenset(segments),
        time_zone=time_zone,
        birth_date=birth_date,
        name_day=name_day,
        purchase_count_before=purchase_count_before,
        awarded_in_period=awarded_in_period or {},
    )


def offer(classification: str = "purchase_amount", offer_id: int = 1, **data: Any) -> OfferRules:
    return parse_offer_rules(offer_id, classification, {"award": FIXED_100, **data})


def outcome(
    facts: EventFacts,
    rules: OfferRules,
    who: ParticipantFacts | None = None,
    budget_left: dict[int, int | None] | None = None,
) -> OfferOutcome:
    [result] = explain(facts, who or participant(), [rules], budget_left or {})
    return result


def awarded(
    facts: EventFacts,
    rules: OfferRules,
    who: ParticipantFacts | None = None,
    budget_left: dict[int, int | None] | None = None,
) -> int:
    """The amount awarded, 0 when refused."""
    result = outcome(facts, rules, who, budget_left)
    return result.award.amount_minor if result.award else 0


def refusal(
    facts: EventFacts, rules: OfferRules, who: ParticipantFacts | None = None
) -> str | None:
    return outcome(facts, rules, who).refusal


def errors_for(data: Any, classification: str = "purchase_amount") -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_offer_rules(1, classification, data)
    return caught.value.messages


ONE_LINE = (line(amount_minor=2000),)


# --- Classifications -------------------------------------------------------------------------


def test_purchase_amount_awards_a_percentage_of_the_purchase_total():
    rules = offer(award={"type": "percentage", "basis_points": 250})

    lines = evaluate(event(lines=ONE_LINE, total_minor=12345), participant(), [rules], {})

    assert lines == [
        AwardLine(
            offer_id=1,
            amount_minor=308,
            available_from=moment("2026-03-10T12:00:00+00:00"),
            expires_at=None,
            spend_method="wallet",
        )
    ]


@pytest.mark.parametrize(
    ("purchase_count_before", "expected"),
    [(0, 0), (1, 0), (2, 500), (3, 0), (5, 500), (8, 500), (9, 0)],
)
def test_purchase_count_awards_every_nth_purchase(purchase_count_before, expected):
    rules = offer(
        "purchase_count", every_nth_purchase=3, award={"type": "fixed", "amount_minor": 500}
    )
    who = participant(purchase_count_before=purchase_count_before)

    assert awarded(event(lines=ONE_LINE), rules, who) == expected


def test_purchase_count_refusal_names_the_reason():
    rules = offer("purchase_count", every_nth_purchase=3)

    assert refusal(event(lines=ONE_LINE), rules, participant(purchase_count_before=0)) == (
        "not_nth_purchase"
    )


def test_purchase_count_of_one_awards_every_purchase():
    rules = offer("purchase_count", every_nth_purchase=1)

    assert awarded(event(lines=ONE_LINE), rules, participant(purchase_count_before=41)) == 100


def test_item_quantity_awards_per_matching_unit_only():
    rules = offer(
        "item_quantity",
        conditions={"products": ["coffee"]},
        award={"type": "per_item", "amount_minor": 25},
    )
    basket = (
        line("coffee", quantity=3, amount_minor=3000),
        line("tea", quantity=10, amount_minor=500),
        line("coffee", quantity=2, amount_minor=2000),
    )

    assert awarded(event(lines=basket), rules) == 125


def test_item_quantity_without_product_conditions_counts_every_unit():
    rules = offer("item_quantity", award={"type": "per_item", "amount_minor": 10})
    basket = (line("a", quantity=2), line("b", quantity=5))

    assert awarded(event(lines=basket), rules) == 70


def test_item_quantity_with_returned_units_never_goes_negative():
    rules = offer("item_quantity", award={"type": "per_item", "amount_minor": 10})
    basket = (line("a", quantity=1), line("a", quantity=-3, amount_minor=-3000))

    assert refusal(event(lines=basket), rules) == "zero_award"


def test_item_quantity_fixed_award_needs_the_minimum_quantity():
    rules = offer(
        "item_quantity",
        conditions={"categories": ["snacks"], "min_quantity": 3},
        award={"type": "fixed", "amount_minor": 200},
    )
    two = (line("chips", ("snacks",), quantity=2), line("water", quantity=5))
    three = (line("chips", ("snacks",), quantity=2), line("nuts", ("snacks",), quantity=1))

    assert refusal(event(lines=two), rules) == "below_min_quantity"
    assert awarded(event(lines=three), rules) == 200


@pytest.mark.parametrize("classification", ["sign_up", "referral"])
def test_sign_up_and_referral_award_a_fixed_amount_on_their_event(classification):
    rules = offer(classification, award={"type": "fixed", "amount_minor": 1000})

    assert awarded(event(type=classification, merchant=None), rules) == 1000
    assert refusal(event(lines=ONE_LINE), rules) == "event_type_mismatch"


def test_purchase_offers_ignore_other_events():
    rules = offer()

    assert refusal(event(type="sign_up"), rules) == "event_type_mismatch"
    assert refusal(event(type="referral"), rules) == "event_type_mismatch"


def test_achievement_awards_only_a_listed_code():
    rules = offer("achievement", achievement_codes=["quiz-2026", "QR-POSTER"])

    assert awarded(event(type="achievement", achievement_code="QR-POSTER"), rules) == 100
    assert refusal(event(type="achievement", achievement_code="qr-poster"), rules) == (
        "achievement_code_mismatch"
    )
    assert refusal(event(type="achievement", achievement_code=None), rules) == (
        "achievement_code_mismatch"
    )


def test_birthday_offer_awards_on_a_birthday_event_in_the_period():
    rules = offer("birthday", validity={"birthday_period": "day"})
    who = participant(birth_date=date(1990, 3, 10))

    assert awarded(event(type="birthday", occurred_at="2026-03-10T08:00:00+00:00"), rules, who) == (
        100
    )
    assert refusal(event(type="birthday", occurred_at="2026-03-11T08:00:00+00:00"), rules, who) == (
        "outside_birthday_period"
    )


def test_birthday_offer_refuses_a_participant_without_birth_date():
    rules = offer("birthday", validity={"birthday_period": "month"})

    assert refusal(event(type="birthday"), rules, participant()) == "no_birth_date"


def test_name_day_offer_awards_on_a_name_day_event_in_the_period():
    rules = offer("name_day", validity={"name_day_period": "day"})
    who = participant(name_day=(3, 10))

    assert awarded(event(type="name_day"), rules, who) == 100
    assert refusal(event(type="name_day"), rules, participant(name_day=(3, 11))) == (
        "outside_name_day_period"
    )
    assert refusal(event(type="name_day"), rules, participant()) == "no_name_day"


# --- Validity --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("occurred_at", "time_zone", "expected"),
    [
        # 23:30 UTC on Feb 28 is already March 1 in Stockholm (CET, +01:00).
        ("2026-02-28T23:30:00+00:00", STOCKHOLM, None),
        ("2026-02-28T23:30:00+00:00", "UTC", "before_validity_period"),
        # 22:30 UTC on March 31 is April 1 in Stockholm (CEST since March 29, +02:00).
        ("2026-03-31T22:30:00+00:00", STOCKHOLM, "after_validity_period"),
        ("2026-03-31T22:30:00+00:00", "UTC", None),
        ("2026-03-31T21:59:59+00:00", STOCKHOLM, None),
    ],
)
def test_date_period_is_whole_days_in_the_participants_zone(occurred_at, time_zone, expected):
    rules = offer(validity={"period": {"from": "2026-03-01", "to": "2026-03-31"}})

    assert refusal(event(occurred_at=occurred_at), rules, participant(time_zone)) == expected


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        ("2026-03-01T08:59:59+00:00", "before_validity_period"),
        ("2026-03-01T09:00:00+00:00", None),
        ("2026-03-01T17:59:59+00:00", None),
        ("2026-03-01T18:00:00+00:00", "after_validity_period"),
    ],
)
def test_datetime_period_is_half_open(occurred_at, expected):
    rules = offer(
        validity={
            "period": {"from": "2026-03-01T10:00:00+01:00", "to": "2026-03-01T19:00:00+01:00"}
        }
    )

    assert refusal(event(occurred_at=occurred_at), rules, participant(STOCKHOLM)) == expected


def test_open_ended_period():
    rules = offer(validity={"period": {"from": "2026-03-01"}})

    assert (
        refusal(event(occurred_at="2026-02-28T12:00:00+00:00"), rules) == "before_validity_period"
    )
    assert refusal(event(occurred_at="2099-01-01T12:00:00+00:00"), rules) is None


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        ("2026-11-30T23:59:00", "outside_season"),
        ("2026-12-01T00:00:00", None),
        ("2026-12-26T23:59:00", None),
        ("2026-12-27T00:00:00", "outside_season"),
        ("2027-12-10T12:00:00", None),
        ("2026-07-01T12:00:00", "outside_season"),
    ],
)
def test_recurring_season_every_year(local_time, expected):
    rules = offer(validity={"season": {"from": "12-01", "to": "12-26"}})
    occurred_at = datetime.fromisoformat(local_time).replace(tzinfo=ZoneInfo(STOCKHOLM))

    assert refusal(event(occurred_at=occurred_at.isoformat()), rules, participant(STOCKHOLM)) == (
        expected
    )


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-12-14", "outside_season"),
        ("2026-12-15", None),
        ("2026-12-31", None),
        ("2027-01-01", None),
        ("2027-01-06", None),
        ("2027-01-07", "outside_season"),
        ("2027-07-01", "outside_season"),
    ],
)
def test_season_wrapping_the_new_year(day, expected):
    rules = offer(validity={"season": {"from": "12-15", "to": "01-06"}})

    assert refusal(event(occurred_at=f"{day}T12:00:00+00:00"), rules) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2027-02-28", "outside_season"),  # a common year: the season opens on March 1
        ("2027-03-01", None),
        ("2028-02-28", "outside_season"),
        ("2028-02-29", None),
    ],
)
def test_season_starting_on_leap_day(day, expected):
    rules = offer(validity={"season": {"from": "02-29", "to": "03-15"}})

    assert refusal(event(occurred_at=f"{day}T12:00:00+00:00"), rules) == expected


@pytest.mark.parametrize(
    ("period", "day", "expected"),
    [
        ("day", "2026-06-17", None),
        ("day", "2026-06-16", "outside_birthday_period"),
        # June 17, 2026 is a Wednesday: its week runs Monday 15 to Sunday 21.
        ("week", "2026-06-14", "outside_birthday_period"),
        ("week", "2026-06-15", None),
        ("week", "2026-06-21", None),
        ("week", "2026-06-22", "outside_birthday_period"),
        ("month", "2026-06-01", None),
        ("month", "2026-06-30", None),
        ("month", "2026-07-01", "outside_birthday_period"),
        ("month", "2026-05-31", "outside_birthday_period"),
    ],
)
def test_birthday_period_day_week_month(period, day, expected):
    rules = offer(validity={"birthday_period": period})
    who = participant(birth_date=date(1985, 6, 17))

    assert refusal(event(occurred_at=f"{day}T12:00:00+00:00", lines=ONE_LINE), rules, who) == (
        expected
    )


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2025-12-28", "outside_birthday_period"),
        ("2025-12-29", None),  # Monday of the week of Wednesday, Dec 31, 2025
        ("2026-01-04", None),  # Sunday of that week, already in the next year
        ("2026-01-05", "outside_birthday_period"),
    ],
)
def test_birthday_week_reaches_into_the_next_year(day, expected):
    rules = offer(validity={"birthday_period": "week"})
    who = participant(birth_date=date(1990, 12, 31))

    assert refusal(event(occurred_at=f"{day}T12:00:00+00:00"), rules, who) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2027-02-28", None),  # common year: a Feb 29 birthday is celebrated on Feb 28
        ("2027-03-01", "outside_birthday_period"),
        ("2028-02-29", None),
        ("2028-02-28", "outside_birthday_period"),
    ],
)
def test_leap_day_birthday_falls_on_february_28_in_common_years(day, expected):
    rules = offer("birthday", validity={"birthday_period": "day"})
    who = participant(birth_date=date(2000, 2, 29))

    assert refusal(event(type="birthday", occurred_at=f"{day}T12:00:00+00:00"), rules, who) == (
        expected
    )


def test_birthday_day_is_read_in_the_participants_zone():
    rules = offer("birthday", validity={"birthday_period": "day"})
    late_on_the_ninth_utc = event(type="birthday", occurred_at="2026-03-09T23:30:00+00:00")

    in_stockholm = participant(STOCKHOLM, birth_date=date(1990, 3, 10))
    in_utc = participant("UTC", birth_date=date(1990, 3, 10))

    assert refusal(late_on_the_ninth_utc, rules, in_stockholm) is None
    assert refusal(late_on_the_ninth_utc, rules, in_utc) == "outside_birthday_period"


def test_purchase_offer_limited_to_the_birthday_month():
    rules = offer(
        validity={"birthday_period": "month"}, award={"type": "percentage", "basis_points": 1000}
    )
    who = participant(birth_date=date(1990, 3, 25))

    assert awarded(event(lines=ONE_LINE), rules, who) == 200


@pytest.mark.parametrize(
    ("period", "day", "expected"),
    [
        ("day", "2026-08-02", None),
        ("day", "2026-08-03", "outside_name_day_period"),
        # Aug 2, 2026 is a Sunday: its week starts on Monday, July 27.
        ("week", "2026-07-27", None),
        ("week", "2026-07-26", "outside_name_day_period"),
        ("month", "2026-08-31", None),
    ],
)
def test_name_day_period(period, day, expected):
    rules = offer(validity={"name_day_period": period})
    who = participant(name_day=(8, 2))

    assert refusal(event(occurred_at=f"{day}T12:00:00+00:00", lines=ONE_LINE), rules, who) == (
        expected
    )


def test_every_validity_part_must_hold():
    rules = offer(
        validity={
            "period": {"from": "2026-01-01", "to": "2026-12-31"},
            "season": {"from": "12-01", "to": "12-26"},
        }
    )

    assert refusal(event(occurred_at="2026-12-05T12:00:00+00:00"), rules) is None
    assert refusal(event(occurred_at="2027-12-05T12:00:00+00:00"), rules) == (
        "after_validity_period"
    )
    assert refusal(event(occurred_at="2026-06-05T12:00:00+00:00"), rules) == "outside_season"


# --- Award conditions ------------------------------------------------------------------------


def test_product_condition_counts_only_matching_lines_toward_spend():
    rules = offer(
        conditions={"products": ["shoes"]}, award={"type": "percentage", "basis_points": 1000}
    )
    basket = (line("shoes", amount_minor=5000), line("socks", amount_minor=900))

    assert awarded(event(lines=basket, total_minor=5900), rules) == 500


def test_category_condition_counts_lines_in_any_listed_category():
    rules = offer(
        conditions={"categories": ["toys", "books"]},
        award={"type": "percentage", "basis_points": 1000},
    )
    basket = (
        line("lego", ("toys", "kids"), amount_minor=3000),
        line("novel", ("books",), amount_minor=1500),
        line("milk", ("food",), amount_minor=200),
    )

    assert awarded(event(lines=basket), rules) == 450


def test_products_and_categories_together_count_a_line_matching_either():
    rules = offer(
        conditions={"products": ["milk"], "categories": ["toys"]},
        award={"type": "percentage", "basis_points": 1000},
    )
    basket = (
        line("lego", ("toys",), amount_minor=3000),
        line("milk", ("food",), amount_minor=200),
        line("bread", ("food",), amount_minor=400),
    )

    assert awarded(event(lines=basket), rules) == 320


def test_product_condition_refuses_a_purchase_without_matching_lines():
    rules = offer(conditions={"products": ["shoes"]})

    assert refusal(event(lines=(line("socks"),)), rules) == "no_matching_lines"


def test_without_product_conditions_the_purchase_total_counts():
    rules = offer(award={"type": "percentage", "basis_points": 1000})

    # The total can differ from the sum of lines (a basket discount); the total is the spend.
    assert awarded(event(lines=(line(amount_minor=5000),), total_minor=4000), rules) == 400


@pytest.mark.parametrize(
    ("merchant", "groups", "expected"),
    [
        ("shop-1", (), None),
        ("shop-2", ("malls",), None),
        ("shop-3", ("outlets",), "merchant_not_allowed"),
        (None, (), "merchant_not_allowed"),
    ],
)
def test_merchant_or_merchant_group_condition(merchant, groups, expected):
    rules = offer(conditions={"merchants": ["shop-1"], "merchant_groups": ["malls"]})

    facts = event(lines=ONE_LINE, merchant=merchant, merchant_groups=groups)

    assert refusal(facts, rules) == expected


@pytest.mark.parametrize(
    ("medium", "expected"),
    [("visa", None), ("amex", "payment_medium_not_allowed"), (None, "payment_medium_not_allowed")],
)
def test_payment_medium_condition(medium, expected):
    rules = offer(conditions={"payment_media": ["visa", "mastercard"]})

    assert refusal(event(lines=ONE_LINE, payment_medium=medium), rules) == expected


@pytest.mark.parametrize(
    ("area", "expected"),
    [("north", None), ("south", "area_not_allowed"), (None, "area_not_allowed")],
)
def test_area_condition(area, expected):
    rules = offer(conditions={"areas": ["north", "east"]})

    assert refusal(event(lines=ONE_LINE, area=area), rules) == expected


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        (("gold",), None),
        (("silver", "gold"), None),
        (("silver",), "segment_not_included"),
        ((), "segment_not_included"),
        (("gold", "staff"), "segment_excluded"),
    ],
)
def test_segments_include_and_exclude(segments, expected):
    rules = offer(conditions={"segments_include": ["gold"], "segments_exclude": ["staff"]})

    assert refusal(event(lines=ONE_LINE), rules, participant(segments=segments)) == expected


def test_segments_exclude_alone():
    rules = offer(conditions={"segments_exclude": ["staff"]})

    assert refusal(event(lines=ONE_LINE), rules, participant(segments=())) is None
    assert refusal(event(lines=ONE_LINE), rules, participant(segments=("staff",))) == (
        "segment_excluded"
    )


def test_weekday_is_the_participants_local_weekday():
    rules = offer(conditions={"weekdays": ["sat", "sun"]})
    # Friday 23:30 UTC is Saturday 00:30 in Stockholm.
    friday_night_utc = event(lines=ONE_LINE, occurred_at="2026-03-13T23:30:00+00:00")

    assert refusal(friday_night_utc, rules, participant(STOCKHOLM)) is None
    assert refusal(friday_night_utc, rules, participant("UTC")) == "weekday_not_allowed"


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        ("08:59:59", "outside_time_window"),
        ("09:00:00", None),
        ("16:59:59", None),
        ("17:00:00", "outside_time_window"),
        ("00:00:00", "outside_time_window"),
    ],
)
def test_time_window_is_half_open(local_time, expected):
    rules = offer(conditions={"time_window": {"from": "09:00", "to": "17:00"}})

    facts = event(lines=ONE_LINE, occurred_at=f"2026-03-10T{local_time}+00:00")

    assert refusal(facts, rules) == expected


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        ("12:00:00", "outside_time_window"),
        ("21:59:59", "outside_time_window"),
        ("22:00:00", None),
        ("23:59:59", None),
        ("00:00:00", None),
        ("01:59:59", None),
        ("02:00:00", "outside_time_window"),
    ],
)
def test_time_window_crossing_midnight(local_time, expected):
    rules = offer(conditions={"time_window": {"from": "22:00", "to": "02:00"}})

    facts = event(lines=ONE_LINE, occurred_at=f"2026-03-10T{local_time}+01:00")

    assert refusal(facts, rules, participant(STOCKHOLM)) == expected


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [("17:59:59", "outside_time_window"), ("18:00:00", None), ("23:59:59", None)],
)
def test_time_window_until_midnight(local_time, expected):
    rules = offer(conditions={"time_window": {"from": "18:00", "to": "00:00"}})

    assert refusal(event(lines=ONE_LINE, occurred_at=f"2026-03-10T{local_time}+00:00"), rules) == (
        expected
    )


@pytest.mark.parametrize(
    ("local_moment", "expected"),
    [
        ("2026-03-13T23:00:00", None),  # Friday night
        ("2026-03-14T01:00:00", None),  # Saturday 01:00 still belongs to Friday night
        ("2026-03-13T01:00:00", "weekday_not_allowed"),  # Thursday night's tail
        ("2026-03-14T23:00:00", "weekday_not_allowed"),  # Saturday night
    ],
)
def test_weekday_of_a_window_crossing_midnight_is_the_day_it_opened(local_moment, expected):
    rules = offer(conditions={"weekdays": ["fri"], "time_window": {"from": "22:00", "to": "02:00"}})
    occurred_at = datetime.fromisoformat(local_moment).replace(tzinfo=ZoneInfo(STOCKHOLM))

    facts = event(lines=ONE_LINE, occurred_at=occurred_at.isoformat())

    assert refusal(facts, rules, participant(STOCKHOLM)) == expected


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        ("2026-03-28T08:30:00+00:00", None),  # Saturday, CET: 09:30 local
        ("2026-03-30T08:30:00+00:00", "outside_time_window"),  # Monday, CEST: 10:30 local
        ("2026-03-30T07:30:00+00:00", None),  # Monday, CEST: 09:30 local
    ],
)
def test_time_window_follows_daylight_saving_in_the_participants_zone(occurred_at, expected):
    rules = offer(conditions={"time_window": {"from": "09:00", "to": "10:00"}})

    assert refusal(
        event(lines=ONE_LINE, occurred_at=occurred_at), rules, participant(STOCKHOLM)
    ) == (expected)


@pytest.mark.parametrize(
    "occurred_at",
    [
        "2026-10-25T00:30:00+00:00",  # 02:30 CEST, before the clocks go back
        "2026-10-25T01:30:00+00:00",  # 02:30 CET, the repeated hour
    ],
)
def test_time_window_covers_both_passes_of_the_repeated_autumn_hour(occurred_at):
    rules = offer(conditions={"time_window": {"from": "02:00", "to": "03:00"}})

    assert refusal(
        event(lines=ONE_LINE, occurred_at=occurred_at), rules, participant(STOCKHOLM)
    ) is (None)


@pytest.mark.parametrize(
    ("received_at", "expected"),
    [
        ("2026-03-11T12:00:00+00:00", None),  # exactly the maximum age
        ("2026-03-11T12:00:01+00:00", "event_too_old"),
        ("2026-03-10T11:00:00+00:00", None),  # a clock ahead of the till: not too old
    ],
)
def test_maximum_event_age(received_at, expected):
    rules = offer(conditions={"max_event_age_hours": 24})

    facts = event(lines=ONE_LINE, occurred_at="2026-03-10T12:00:00+00:00", received_at=received_at)

    assert refusal(facts, rules) == expected


@pytest.mark.parametrize(("shoe_amount", "expected"), [(2999, "below_min_spend"), (3000, None)])
def test_minimum_spend_counts_only_matching_lines(shoe_amount, expected):
    rules = offer(conditions={"products": ["shoes"], "min_spend_minor": 3000})
    basket = (line("shoes", amount_minor=shoe_amount), line("socks", amount_minor=5000))

    assert refusal(event(lines=basket), rules) == expected


# --- Award rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spend", "basis_points", "expected"),
    [
        (12345, 250, 308),  # 308.625 rounds down
        (999, 100, 9),  # 9.99 rounds down
        (10000, 1, 1),
        (19999, 1, 1),
        (20000, 1, 2),
        (100, 20000, 200),  # two points per unit
    ],
)
def test_percentage_is_basis_points_rounded_down(spend, basis_points, expected):
    rules = offer(award={"type": "percentage", "basis_points": basis_points})

    assert awarded(event(lines=ONE_LINE, total_minor=spend), rules) == expected


@pytest.mark.parametrize("spend", [9999, 0, -500])
def test_percentage_that_rounds_to_nothing_awards_nothing(spend):
    rules = offer(award={"type": "percentage", "basis_points": 1})

    result = outcome(event(lines=ONE_LINE, total_minor=spend), rules)

    assert (result.award, result.refusal) == (None, "zero_award")


TIERS = {
    "type": "tiers",
    "tiers": [
        {"min_spend_minor": 1000, "amount_minor": 50},
        {"min_spend_minor": 5000, "amount_minor": 300},
        {"min_spend_minor": 10000, "basis_points": 500},
    ],
}


@pytest.mark.parametrize(
    ("spend", "expected"),
    [(1000, 50), (4999, 50), (5000, 300), (9999, 300), (10000, 500), (12345, 617)],
)
def test_tier_ladder_gives_the_highest_tier_reached(spend, expected):
    rules = offer(award=TIERS)

    assert awarded(event(lines=ONE_LINE, total_minor=spend), rules) == expected


def test_below_the_lowest_tier_awards_nothing():
    rules = offer(award=TIERS)

    assert refusal(event(lines=ONE_LINE, total_minor=999), rules) == "below_lowest_tier"


def test_tier_ladder_uses_the_matching_spend():
    rules = offer(conditions={"categories": ["toys"]}, award=TIERS)
    basket = (line("lego", ("toys",), amount_minor=4999), line("tv", amount_minor=90000))

    assert awarded(event(lines=basket), rules) == 50


# --- Award validity --------------------------------------------------------------------------


def test_return_window_delays_availability_and_expiry_counts_from_then():
    rules = offer(award_validity={"available_after_days": 14, "expires_after_days": 30})

    [award] = evaluate(
        event(lines=ONE_LINE, occurred_at="2026-03-10T12:00:00+01:00"), participant(), [rules], {}
    )

    assert award.available_from == datetime(2026, 3, 24, 11, 0, tzinfo=UTC)
    assert award.expires_at == datetime(2026, 4, 23, 11, 0, tzinfo=UTC)
    assert award.available_from.tzinfo is UTC


def test_expiry_on_a_date_lasts_through_that_day_in_the_participants_zone():
    rules = offer(award_validity={"expires_on": "2026-12-31"})

    [award] = evaluate(event(lines=ONE_LINE), participant(STOCKHOLM), [rules], {})

    assert award.expires_at == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


def test_award_that_would_expire_before_becoming_available_is_not_given():
    rules = offer(award_validity={"available_after_days": 30, "expires_on": "2026-03-31"})

    assert refusal(event(lines=ONE_LINE), rules) == "expires_before_available"


def test_instant_discount_is_available_at_once_and_never_expires():
    rules = offer(spend_method="instant_discount", award={"type": "fixed", "amount_minor": 300})

    [award] = evaluate(event(lines=ONE_LINE), participant(), [rules], {})

    assert award == AwardLine(1, 300, moment("2026-03-10T12:00:00+00:00"), None, "instant_discount")


def test_instant_discounts_never_exceed_the_purchase_total():
    first = offer(
        offer_id=1, spend_method="instant_discount", award={"type": "fixed", "amount_minor": 1500}
    )
    second = offer(
        offer_id=2, spend_method="instant_discount", award={"type": "fixed", "amount_minor": 1500}
    )
    third = offer(
        offer_id=3, spend_method="instant_discount", award={"type": "fixed", "amount_minor": 100}
    )
    wallet = offer(offer_id=4, award={"type": "fixed", "amount_minor": 5000})

    outcomes = explain(
        event(lines=ONE_LINE, total_minor=2000), participant(), [first, second, third, wallet], {}
    )

    assert [(o.offer_id, o.award.amount_minor if o.award else 0, o.refusal) for o in outcomes] == [
        (1, 1500, None),
        (2, 500, None),
        (3, 0, "discount_exceeds_purchase"),
        (4, 5000, None),
    ]


# --- Caps and budgets ------------------------------------------------------------------------

CAPPED = {"participant_cap": {"period": "month", "amount_minor": 1000}}


@pytest.mark.parametrize(
    ("already_awarded", "expected"),
    [(0, 300), (699, 300), (700, 300), (900, 100), (999, 1), (1000, 0), (1200, 0)],
)
def test_participant_cap_cuts_the_award_to_the_remainder(already_awarded, expected):
    rules = offer(award={"type": "fixed", "amount_minor": 300}, **CAPPED)
    who = participant(awarded_in_period={1: already_awarded})

    assert awarded(event(lines=ONE_LINE), rules, who) == expected


def test_reached_cap_is_named_and_keeps_the_uncapped_amount():
    rules = offer(award={"type": "fixed", "amount_minor": 300}, **CAPPED)

    result = outcome(event(lines=ONE_LINE), rules, participant(awarded_in_period={1: 1000}))

    assert result == OfferOutcome(1, None, "participant_cap_reached", 300)


def test_cap_ignores_what_other_offers_awarded():
    rules = offer(award={"type": "fixed", "amount_minor": 300}, **CAPPED)

    assert awarded(event(lines=ONE_LINE), rules, participant(awarded_in_period={2: 5000})) == 300


@pytest.mark.parametrize(
    ("left", "expected"),
    [(None, 300), (1000, 300), (300, 300), (299, 299), (1, 1), (0, 0), (-5, 0)],
)
def test_budget_cuts_the_award_to_what_is_left(left, expected):
    rules = offer(award={"type": "fixed", "amount_minor": 300})

    assert awarded(event(lines=ONE_LINE), rules, budget_left={1: left}) == expected


def test_spent_budget_is_named():
    rules = offer()

    assert outcome(event(lines=ONE_LINE), rules, budget_left={1: 0}).refusal == "budget_exhausted"


def test_offer_missing_from_budget_left_is_unlimited():
    rules = offer(award={"type": "fixed", "amount_minor": 300})

    assert awarded(event(lines=ONE_LINE), rules, budget_left={99: 0}) == 300


def test_award_is_cut_by_the_tighter_of_cap_and_budget():
    rules = offer(award={"type": "fixed", "amount_minor": 300}, **CAPPED)
    who = participant(awarded_in_period={1: 800})

    assert awarded(event(lines=ONE_LINE), rules, who, budget_left={1: 150}) == 150
    assert awarded(event(lines=ONE_LINE), rules, who, budget_left={1: 250}) == 200


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("day", "2026-03-01T00:00:00+01:00"),
        ("week", "2026-02-23T00:00:00+01:00"),  # March 1, 2026 is a Sunday
        ("month", "2026-03-01T00:00:00+01:00"),
        ("year", "2026-01-01T00:00:00+01:00"),
        ("lifetime", None),
    ],
)
def test_cap_period_start_is_local_midnight_in_the_participants_zone(period, expected):
    rules = offer(participant_cap={"period": period, "amount_minor": 1000})
    # 23:30 UTC on Feb 28 is 00:30 on Sunday, March 1 in Stockholm.
    at = moment("2026-02-28T23:30:00+00:00")

    start = cap_period_start(rules, at, STOCKHOLM)

    assert start == (moment(expected) if expected else None)


def test_cap_period_start_in_utc_differs_from_stockholm():
    rules = offer(participant_cap={"period": "month", "amount_minor": 1000})

    at = moment("2026-02-28T23:30:00+00:00")

    assert cap_period_start(rules, at, "UTC") == moment("2026-02-01T00:00:00+00:00")


def test_cap_period_start_across_daylight_saving():
    rules = offer(participant_cap={"period": "day", "amount_minor": 1000})

    # March 29, 2026 begins at 00:00 CET (+01:00) and ends at 24:00 CEST (+02:00).
    assert cap_period_start(rules, moment("2026-03-29T21:30:00+00:00"), STOCKHOLM) == moment(
        "2026-03-29T00:00:00+01:00"
    )
    assert cap_period_start(rules, moment("2026-03-29T22:30:00+00:00"), STOCKHOLM) == moment(
        "2026-03-30T00:00:00+02:00"
    )


def test_cap_period_start_without_cap_is_none():
    assert cap_period_start(offer(), moment("2026-03-10T12:00:00+00:00"), STOCKHOLM) is None


# --- Apply only if best ----------------------------------------------------------------------


def fixed_offer(offer_id: int, amount: int, *, best: bool, **data: Any) -> OfferRules:
    return offer(
        offer_id=offer_id,
        award={"type": "fixed", "amount_minor": amount},
        apply_only_if_best=best,
        **data,
    )


def amounts(lines: list[AwardLine]) -> list[tuple[int, int]]:
    return [(award.offer_id, award.amount_minor) for award in lines]


def test_only_the_best_flagged_offer_applies_and_unflagged_offers_always_apply():
    offers = [
        fixed_offer(3, 300, best=True),
        fixed_offer(1, 100, best=False),
        fixed_offer(2, 500, best=True),
        fixed_offer(4, 50, best=False),
    ]

    lines = evaluate(event(lines=ONE_LINE), participant(), offers, {})

    assert amounts(lines) == [(1, 100), (2, 500), (4, 50)]


def test_best_offer_tie_goes_to_the_lowest_offer_id():
    offers = [fixed_offer(9, 500, best=True), fixed_offer(5, 500, best=True)]

    outcomes = explain(event(lines=ONE_LINE), participant(), offers, {})

    assert [(o.offer_id, o.refusal) for o in outcomes] == [(5, None), (9, "not_best_offer")]


def test_best_offer_is_chosen_after_caps_and_budgets():
    capped = fixed_offer(1, 500, best=True, **CAPPED)
    smaller = fixed_offer(2, 300, best=True)
    who = participant(awarded_in_period={1: 950})

    assert amounts(evaluate(event(lines=ONE_LINE), who, [capped, smaller], {})) == [(2, 300)]
    assert amounts(evaluate(event(lines=ONE_LINE), participant(), [capped, smaller], {2: 0})) == [
        (1, 500)
    ]


def test_refused_best_offer_does_not_block_the_others():
    refused = fixed_offer(1, 900, best=True, conditions={"products": ["shoes"]})
    other = fixed_offer(2, 100, best=True)

    assert amounts(evaluate(event(lines=ONE_LINE), participant(), [refused, other], {})) == [
        (2, 100)
    ]


# --- Facts checks ----------------------------------------------------------------------------


def test_naive_datetimes_are_refused():
    facts = EventFacts(
        type="purchase",
        occurred_at=datetime(2026, 3, 10, 12, 0),  # noqa: DTZ001 - the point of the test
        received_at=datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
        merchant_code=None,
        merchant_group_codes=frozenset(),
        payment_medium=None,
        area=None,
        lines=(),
        total_minor=0,
        achievement_code=None,
    )

    with pytest.raises(ValueError, match="Naive datetime"):
        evaluate(facts, participant(), [offer()], {})


def test_unknown_time_zone_is_refused():
    with pytest.raises(ValueError, match="Unknown time zone 'Mars/Olympus'"):
        evaluate(event(lines=ONE_LINE), participant("Mars/Olympus"), [offer()], {})


def test_every_refusal_has_a_message():
    assert all(message.endswith(".") for message in REFUSALS.values())


# --- Examples --------------------------------------------------------------------------------


@pytest.mark.parametrize("classification", CLASSIFICATIONS)
def test_every_example_is_valid(classification):
    rules = parse_offer_rules(42, classification, offer_rules_schema_example(classification))

    assert (rules.offer_id, rules.classification) == (42, classification)


def test_example_is_a_fresh_copy():
    example = offer_rules_schema_example("purchase_amount")
    example["conditions"]["categories"].append("garbage")

    assert offer_rules_schema_example("purchase_amount")["conditions"]["categories"] == [
        "groceries"
    ]


def test_example_for_unknown_classification_is_refused():
    with pytest.raises(ValidationError) as caught:
        offer_rules_schema_example("lottery")

    assert caught.value.messages == [
        "classification: unknown classification 'lottery'; expected one of purchase_amount, "
        "purchase_count, item_quantity, sign_up, referral, birthday, name_day, achievement."
    ]


# --- Validation of the rules JSON ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"award": {"type": "fixed", "amount_minor": -5}},
            "award.amount_minor: must be at least 1, not -5.",
        ),
        (
            {"award": {"type": "fixed", "amount_minor": 0}},
            "award.amount_minor: must be at least 1, not 0.",
        ),
        (
            {"award": {"type": "fixed", "amount_minor": 1.5}},
            "award.amount_minor: must be a whole number, not 1.5.",
        ),
        (
            {"award": {"type": "fixed", "amount_minor": True}},
            "award.amount_minor: must be a whole number, not True.",
        ),
        (
            {"award": {"type": "fixed", "amount_minor": "100"}},
            "award.amount_minor: must be a whole number, not '100'.",
        ),
        (
            {"award": {"type": "fixed", "amount_minor": 10**13}},
            "award.amount_minor: must be at most 1000000000000, not 10000000000000.",
        ),
        (
            {"award": {"type": "percentage", "basis_points": 0}},
            "award.basis_points: must be at least 1, not 0.",
        ),
        (
            {"award": {"type": "percentage", "basis_points": 5, "amount_minor": 5}},
            "award.amount_minor: not used by award type percentage.",
        ),
        ({"award": {"type": "fixed"}}, "award.amount_minor: is required for award type fixed."),
        (
            {"award": {"type": "bonus"}},
            "award.type: unknown value 'bonus'; expected one of fixed, percentage, per_item, "
            "tiers.",
        ),
        (
            {"award": {"type": "per_item", "amount_minor": 5}},
            "award.type: per_item is not available for purchase_amount offers; use fixed or "
            "percentage or tiers.",
        ),
        ({}, "award: is required."),
        (
            {"award": FIXED_100, "bonus": 1},
            "bonus: unknown key. Allowed keys: achievement_codes, apply_only_if_best, award, "
            "award_validity, conditions, every_nth_purchase, participant_cap, spend_conditions, "
            "spend_method, validity.",
        ),
        (
            {"award": {**FIXED_100, "currency": "EUR"}},
            "award.currency: unknown key. Allowed keys: amount_minor, basis_points, tiers, type.",
        ),
        (
            {"award": FIXED_100, "conditions": {"product": ["a"]}},
            "conditions.product: unknown key. Allowed keys: areas, categories, "
            "max_event_age_hours, merchant_groups, merchants, min_quantity, min_spend_minor, "
            "payment_media, products, segments_exclude, segments_include, time_window, weekdays.",
        ),
        (
            {"award": FIXED_100, "conditions": {"products": []}},
            "conditions.products: must list at least one code; leave the key out to allow any.",
        ),
        (
            {"award": FIXED_100, "conditions": {"products": "shoes"}},
            "conditions.products: must be a list of codes, not 'shoes'.",
        ),
        (
            {"award": FIXED_100, "conditions": {"products": ["shoes", " socks"]}},
            "conditions.products[1]: must be a non-empty code without surrounding spaces, "
            "not ' socks'.",
        ),
        (
            {"award": FIXED_100, "conditions": {"weekdays": ["monday"]}},
            "conditions.weekdays[0]: unknown weekday 'monday'; expected one of mon, tue, wed, "
            "thu, fri, sat, sun.",
        ),
        (
            {"award": FIXED_100, "conditions": {"max_event_age_hours": 0}},
            "conditions.max_event_age_hours: must be at least 1, not 0.",
        ),
        (
            {"award": FIXED_100, "conditions": {"min_spend_minor": -100}},
            "conditions.min_spend_minor: must be at least 1, not -100.",
        ),
        (
            {"award": FIXED_100, "validity": {"season": {"from": "02-30", "to": "03-01"}}},
            "validity.season.from: must be a month-day MM-DD such as 12-24, not '02-30'.",
        ),
        (
            {"award": FIXED_100, "validity": {"season": {"from": "12-01"}}},
            "validity.season.to: is required.",
        ),
        (
            {
                "award": FIXED_100,
                "validity": {"period": {"from": "2026-03-02", "to": "2026-03-01"}},
            },
            "validity.period: from must not be after to.",
        ),
        (
            {"award": FIXED_100, "validity": {"period": {"from": "2026-03-01T10:00:00"}}},
            "validity.period.from: datetime '2026-03-01T10:00:00' needs a UTC offset such as "
            "+01:00 or Z.",
        ),
        (
            {"award": FIXED_100, "validity": {"period": {"from": "March 1"}}},
            "validity.period.from: must be a date YYYY-MM-DD or a datetime "
            "YYYY-MM-DDTHH:MM+HH:MM, not 'March 1'.",
        ),
        (
            {
                "award": FIXED_100,
                "validity": {"period": {"from": "2026-03-01", "to": "2026-03-09T00:00:00Z"}},
            },
            "validity.period: from and to must both be dates or both datetimes.",
        ),
        (
            {"award": FIXED_100, "validity": {"period": {}}},
            "validity.period: needs from, to or both.",
        ),
        (
            {"award": FIXED_100, "validity": {"birthday_period": "year"}},
            "validity.birthday_period: unknown value 'year'; expected one of day, week, month.",
        ),
        (
            {"award": FIXED_100, "participant_cap": {"period": "fortnight", "amount_minor": 5}},
            "participant_cap.period: unknown value 'fortnight'; expected one of day, week, "
            "month, year, lifetime.",
        ),
        (
            {"award": FIXED_100, "participant_cap": {"period": "day", "amount_minor": -1}},
            "participant_cap.amount_minor: must be at least 1, not -1.",
        ),
        (
            {
                "award": FIXED_100,
                "award_validity": {"expires_after_days": 30, "expires_on": "2026-12-31"},
            },
            "award_validity: give expires_after_days or expires_on, not both.",
        ),
        (
            {"award": FIXED_100, "award_validity": {"available_after_days": -1}},
            "award_validity.available_after_days: must be at least 0, not -1.",
        ),
        (
            {"award": FIXED_100, "award_validity": {"expires_on": "2026-02-30"}},
            "award_validity.expires_on: must be a date YYYY-MM-DD, not '2026-02-30'.",
        ),
        (
            {"award": FIXED_100, "spend_method": "cash"},
            "spend_method: unknown value 'cash'; expected one of wallet, instant_discount.",
        ),
        (
            {"award": FIXED_100, "apply_only_if_best": "yes"},
            "apply_only_if_best: must be true or false, not 'yes'.",
        ),
        (
            {"award": FIXED_100, "spend_method": "instant_discount", "award_validity": {}},
            "award_validity: not used with spend_method instant_discount: the discount is taken "
            "off the same purchase.",
        ),
        (
            {"award": FIXED_100, "every_nth_purchase": 3},
            "every_nth_purchase: only applies to purchase_count offers.",
        ),
        (
            {"award": FIXED_100, "achievement_codes": ["a"]},
            "achievement_codes: only applies to achievement offers.",
        ),
        ([1, 2], "Offer rules must be a JSON object, not [1, 2]."),
    ],
)
def test_bad_rules_are_refused_with_a_named_message(data, message):
    assert errors_for(data) == [message]


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            {"from": "24:00", "to": "02:00"},
            "from: must be a time HH:MM from 00:00 to 23:59, not '24:00'.",
        ),
        (
            {"from": "7:30", "to": "09:00"},
            "from: must be a time HH:MM from 00:00 to 23:59, not '7:30'.",
        ),
        (
            {"from": "07:00", "to": "12:60"},
            "to: must be a time HH:MM from 00:00 to 23:59, not '12:60'.",
        ),
        ({"from": "07:00", "to": 900}, "to: must be a time HH:MM from 00:00 to 23:59, not 900."),
        (
            {"from": "07:00", "to": "9pm"},
            "to: must be a time HH:MM from 00:00 to 23:59, not '9pm'.",
        ),
        ({"from": "07:00"}, "to: is required."),
    ],
)
def test_bad_time_strings_are_refused(window, message):
    assert errors_for({"award": FIXED_100, "conditions": {"time_window": window}}) == [
        f"conditions.time_window.{message}"
    ]


def test_empty_time_window_is_refused():
    assert errors_for(
        {"award": FIXED_100, "conditions": {"time_window": {"from": "10:00", "to": "10:00"}}}
    ) == [
        "conditions.time_window: from and to must differ; leave time_window out for the whole day."
    ]


def test_unknown_classification_is_refused():
    assert errors_for({"award": FIXED_100}, "lottery") == [
        "classification: unknown classification 'lottery'; expected one of purchase_amount, "
        "purchase_count, item_quantity, sign_up, referral, birthday, name_day, achievement."
    ]


def test_every_mistake_is_reported_at_once():
    data = {
        "award": {"type": "fixed", "amount_minor": -1},
        "conditions": {"time_window": {"from": "25:00", "to": "01:00"}},
        "participant_cap": {"period": "month", "amount_minor": 0},
        "colour": "red",
    }

    assert errors_for(data) == [
        "colour: unknown key. Allowed keys: achievement_codes, apply_only_if_best, award, "
        "award_validity, conditions, every_nth_purchase, participant_cap, spend_conditions, "
        "spend_method, validity.",
        "conditions.time_window.from: must be a time HH:MM from 00:00 to 23:59, not '25:00'.",
        "award.amount_minor: must be at least 1, not -1.",
        "participant_cap.amount_minor: must be at least 1, not 0.",
    ]


@pytest.mark.parametrize(
    ("classification", "data", "message"),
    [
        (
            "purchase_count",
            {"award": FIXED_100},
            "every_nth_purchase: is required for purchase_count offers.",
        ),
        (
            "purchase_count",
            {"award": FIXED_100, "every_nth_purchase": 0},
            "every_nth_purchase: must be at least 1, not 0.",
        ),
        (
            "achievement",
            {"award": FIXED_100},
            "achievement_codes: is required for achievement offers.",
        ),
        (
            "birthday",
            {"award": FIXED_100},
            "validity.birthday_period: is required for birthday offers (day, week or month).",
        ),
        (
            "name_day",
            {"award": FIXED_100},
            "validity.name_day_period: is required for name_day offers (day, week or month).",
        ),
        (
            "sign_up",
            {"award": FIXED_100, "conditions": {"min_spend_minor": 100}},
            "conditions.min_spend_minor: only applies to purchase offers (purchase_amount, "
            "purchase_count, item_quantity).",
        ),
        (
            "referral",
            {"award": FIXED_100, "conditions": {"products": ["a"]}},
            "conditions.products: only applies to purchase offers (purchase_amount, "
            "purchase_count, item_quantity).",
        ),
        (
            "sign_up",
            {"award": FIXED_100, "spend_method": "instant_discount"},
            "spend_method: instant_discount only applies to purchase offers.",
        ),
        (
            "sign_up",
            {"award": {"type": "percentage", "basis_points": 100}},
            "award.type: percentage is not available for sign_up offers; use fixed.",
        ),
    ],
)
def test_classification_specific_rules(classification, data, message):
    assert errors_for(data, classification) == [message]


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], "award.tiers: must be a non-empty list of tiers."),
        (
            [
                {"min_spend_minor": 5000, "amount_minor": 1},
                {"min_spend_minor": 5000, "amount_minor": 2},
            ],
            "award.tiers[1].min_spend_minor: must be above the previous tier's 5000: list tiers "
            "from the lowest threshold up.",
        ),
        (
            [{"min_spend_minor": 100, "amount_minor": 1, "basis_points": 5}],
            "award.tiers[0]: needs exactly one of amount_minor or basis_points.",
        ),
        ([{"amount_minor": 1}], "award.tiers[0].min_spend_minor: is required."),
        (
            [{"min_spend_minor": -1, "amount_minor": 1}],
            "award.tiers[0].min_spend_minor: must be at least 0, not -1.",
        ),
    ],
)
def test_bad_tiers_are_refused(tiers, message):
    assert errors_for({"award": {"type": "tiers", "tiers": tiers}}) == [message]


def test_validation_error_messages_are_distinct_validation_errors_with_codes():
    with pytest.raises(ValidationError) as caught:
        parse_offer_rules(1, "purchase_amount", {"award": FIXED_100, "x": 1, "spend_method": 3})

    assert [error.code for error in caught.value.error_list] == ["unknown_key", "choice"]


def test_rules_parse_into_typed_values():
    rules = parse_offer_rules(
        5,
        "purchase_amount",
        {
            "validity": {"season": {"from": "12-15", "to": "01-06"}},
            "conditions": {
                "weekdays": ["mon", "sun"],
                "time_window": {"from": "22:00", "to": "02:00"},
                "max_event_age_hours": 48,
            },
            "award": FIXED_100,
            "participant_cap": {"period": "week", "amount_minor": 900},
        },
    )

    assert rules.validity.season == ((12, 15), (1, 6))
    assert rules.conditions.weekdays == frozenset({1, 7})
    assert rules.conditions.time_window.as_json() == {"from": "22:00", "to": "02:00"}
    assert rules.conditions.max_event_age == timedelta(hours=48)
    assert (rules.participant_cap.period, rules.participant_cap.amount_minor) == ("week", 900)
    assert rules.event_type == "purchase"


# --- Spend conditions ------------------------------------------------------------------------


def allowed(conditions: SpendConditions, **overrides: Any) -> str | None:
    arguments = {
        "merchant_code": "shop-1",
        "merchant_group_codes": (),
        "product_codes": ("p-1",),
        "at": moment("2026-03-10T12:00:00+00:00"),
        "time_zone": "UTC",
        **overrides,
    }
    return spend_allowed(conditions, **arguments)


def test_spend_without_conditions_is_allowed_anywhere():
    conditions = parse_spend_conditions({})

    assert conditions.is_unconditional
    assert allowed(conditions, merchant_code=None, product_codes=()) is None


@pytest.mark.parametrize(
    ("merchant", "groups", "expected"),
    [
        ("shop-1", (), None),
        ("shop-9", ("malls",), None),
        ("shop-9", ("outlets",), "merchant_not_allowed"),
        (None, (), "merchant_not_allowed"),
    ],
)
def test_spend_merchant_conditions(merchant, groups, expected):
    conditions = parse_spend_conditions({"merchants": ["shop-1"], "merchant_groups": ["malls"]})

    assert allowed(conditions, merchant_code=merchant, merchant_group_codes=groups) == expected


@pytest.mark.parametrize(
    ("products", "expected"),
    [
        (("coffee",), None),
        (("milk", "coffee"), None),
        (("milk",), "product_not_allowed"),
        ((), "product_not_allowed"),
    ],
)
def test_spend_product_conditions(products, expected):
    conditions = parse_spend_conditions({"products": ["coffee", "tea"]})

    assert allowed(conditions, product_codes=products) == expected


@pytest.mark.parametrize(
    ("at", "time_zone", "expected"),
    [
        # Monday 17:30 UTC is 18:30 in Stockholm: inside the window there, not in UTC.
        ("2026-03-16T17:30:00+00:00", STOCKHOLM, None),
        ("2026-03-16T17:30:00+00:00", "UTC", "outside_time_window"),
        # Sunday 23:30 UTC is Monday 00:30 in Stockholm, the tail of Sunday night's window.
        ("2026-03-15T23:30:00+00:00", STOCKHOLM, "weekday_not_allowed"),
        ("2026-03-16T02:00:00+01:00", STOCKHOLM, "outside_time_window"),
        ("2026-03-16T21:00:00+01:00", STOCKHOLM, None),
        # Tuesday 01:00 is still Monday night's window.
        ("2026-03-17T01:00:00+01:00", STOCKHOLM, None),
        ("2026-03-16T01:00:00+01:00", STOCKHOLM, "weekday_not_allowed"),
    ],
)
def test_spend_weekday_and_time_window_in_the_participants_zone(at, time_zone, expected):
    conditions = parse_spend_conditions(
        {"weekdays": ["mon"], "time_window": {"from": "18:00", "to": "02:00"}}
    )

    assert allowed(conditions, at=moment(at), time_zone=time_zone) == expected


def test_every_spend_refusal_has_a_message():
    conditions = parse_spend_conditions({"products": ["a"], "merchants": ["m"]})

    refusals = {
        allowed(conditions, merchant_code="x"),
        allowed(conditions, merchant_code="m", product_codes=("b",)),
    }

    assert refusals <= set(SPEND_REFUSAL_MESSAGES)


def test_bad_spend_conditions_are_refused_with_named_messages():
    with pytest.raises(ValidationError) as caught:
        parse_spend_conditions(
            {"places": ["x"], "weekdays": [], "time_window": {"from": "8:00", "to": "10:00"}}
        )

    assert caught.value.messages == [
        "spend_conditions.places: unknown key. Allowed keys: merchant_groups, merchants, "
        "products, time_window, weekdays.",
        "spend_conditions.weekdays: must be a non-empty list of mon, tue, wed, thu, fri, sat, sun.",
        "spend_conditions.time_window.from: must be a time HH:MM from 00:00 to 23:59, not '8:00'.",
    ]


def test_offer_rules_carry_their_spend_conditions():
    rules = offer(spend_conditions={"products": ["coffee"]})

    assert rules.spend_conditions == SpendConditions(products=frozenset({"coffee"}))


# --- Properties ------------------------------------------------------------------------------

ZONES = ["UTC", STOCKHOLM, "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
instants = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis attaches the zone below
    max_value=datetime(2060, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
minutes_of_day = st.integers(min_value=0, max_value=24 * 60 - 1)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


@PROPERTY_SETTINGS
@given(
    spend=st.integers(min_value=-(10**9), max_value=10**12),
    basis_points=st.integers(min_value=1, max_value=1_000_000),
)
def test_percentage_is_exact_integer_floor(spend, basis_points):
    rules = offer(award={"type": "percentage", "basis_points": basis_points})

    amount = awarded(event(lines=ONE_LINE, total_minor=spend), rules)

    assert isinstance(amount, int)
    if spend <= 0:
        assert amount == 0
    else:
        assert amount * 10_000 <= spend * basis_points < (amount + 1) * 10_000


@PROPERTY_SETTINGS
@given(
    amount=st.integers(min_value=1, max_value=10**6),
    cap=st.one_of(st.none(), st.integers(min_value=1, max_value=10**6)),
    already=st.integers(min_value=0, max_value=2 * 10**6),
    budget=st.one_of(st.none(), st.integers(min_value=-100, max_value=10**6)),
)
def test_award_never_exceeds_cap_remainder_or_budget(amount, cap, already, budget):
    data: dict[str, Any] = {"award": {"type": "fixed", "amount_minor": amount}}
    if cap is not None:
        data["participant_cap"] = {"period": "year", "amount_minor": cap}
    rules = parse_offer_rules(1, "purchase_amount", data)
    who = participant(awarded_in_period={1: already})

    given_amount = awarded(event(lines=ONE_LINE), rules, who, budget_left={1: budget})

    limits = [amount]
    if cap is not None:
        limits.append(cap - already)
    if budget is not None:
        limits.append(budget)
    assert given_amount == max(0, min(limits))


def reference_window_refusal(
    local: datetime, start: int, end: int, weekdays: frozenset[int]
) -> str | None:
    """The window as a set of minutes, each tagged with the weekday on which it opened."""
    length = (end - start) % (24 * 60)
    opened_on = {}
    for offset in range(length):
        minute = (start + offset) % (24 * 60)
        opened_on[minute] = 0 if start + offset < 24 * 60 else -1  # days back to the opening
    minute = local.hour * 60 + local.minute
    if minute not in opened_on:
        return "outside_time_window"
    opening_day = local.date() + timedelta(days=opened_on[minute])
    if weekdays and opening_day.isoweekday() not in weekdays:
        return "weekday_not_allowed"
    return None


@PROPERTY_SETTINGS
@given(
    at=instants,
    zone=st.sampled_from(ZONES),
    start=minutes_of_day,
    end=minutes_of_day,
    weekdays=st.sets(st.integers(min_value=1, max_value=7), max_size=7),
)
def test_time_window_matches_a_minute_by_minute_reference(at, zone, start, end, weekdays):
    assume(start != end)
    conditions: dict[str, Any] = {
        "time_window": {
            "from": f"{start // 60:02d}:{start % 60:02d}",
            "to": f"{end // 60:02d}:{end % 60:02d}",
        }
    }
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    if weekdays:
        conditions["weekdays"] = [names[day - 1] for day in sorted(weekdays)]
    rules = offer(conditions=conditions)

    result = refusal(event(lines=ONE_LINE, occurred_at=at.isoformat()), rules, participant(zone))

    local = at.astimezone(ZoneInfo(zone))
    assert result == reference_window_refusal(local, start, end, frozenset(weekdays))


month_days = st.dates(min_value=date(2027, 1, 1), max_value=date(2027, 12, 31)).map(
    lambda day: (day.month, day.day)  # a common year, so no Feb 29 in these seasons
)


@PROPERTY_SETTINGS
@given(
    start=month_days,
    end=month_days,
    on=st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 12, 31)),
)
def test_season_matches_a_day_by_day_walk(start, end, on):
    rules = offer(
        validity={
            "season": {"from": f"{start[0]:02d}-{start[1]:02d}", "to": f"{end[0]:02d}-{end[1]:02d}"}
        }
    )

    result = refusal(event(occurred_at=f"{on.isoformat()}T12:00:00+00:00"), rules)

    season_days = set()
    for year in (on.year - 1, on.year):
        day = date(year, *start)
        while True:
            season_days.add(day)
            if (day.month, day.day) == end:
                break
            day += timedelta(days=1)
    assert (result is None) == (on in season_days)


@PROPERTY_SETTINGS
@given(
    offers_spec=st.lists(
        st.tuples(st.integers(min_value=1, max_value=1000), st.booleans()), min_size=1, max_size=8
    )
)
def test_at_most_one_best_only_offer_applies_and_it_is_the_largest(offers_spec):
    offers = [
        fixed_offer(offer_id, amount, best=best)
        for offer_id, (amount, best) in enumerate(offers_spec, start=1)
    ]

    lines = amounts(evaluate(event(lines=ONE_LINE), participant(), offers, {}))

    unflagged = [(o.offer_id, o.award.amount_minor) for o in offers if not o.apply_only_if_best]
    flagged = [(o.offer_id, o.award.amount_minor) for o in offers if o.apply_only_if_best]
    expected = list(unflagged)
    if flagged:
        expected.append(min(flagged, key=lambda pair: (-pair[1], pair[0])))
    assert lines == sorted(expected)


@PROPERTY_SETTINGS
@given(
    at=instants,
    zone=st.sampled_from(ZONES),
    period=st.sampled_from(["day", "week", "month", "year"]),
)
def test_cap_period_starts_at_local_midnight_of_the_period_containing_the_instant(at, zone, period):
    rules = offer(participant_cap={"period": period, "amount_minor": 1})

    start = cap_period_start(rules, at, zone)

    local_start = start.astimezone(ZoneInfo(zone))
    local_at = at.astimezone(ZoneInfo(zone))
    assert start <= at
    assert (local_start.hour, local_start.minute) == (0, 0)
    first_day = {
        "day": local_at.date(),
        "week": local_at.date() - timedelta(days=local_at.weekday()),
        "month": local_at.date().replace(day=1),
        "year": local_at.date().replace(month=1, day=1),
    }[period]
    assert local_start.date() == first_day


@PROPERTY_SETTINGS
@given(
    basket=st.lists(
        st.tuples(
            st.sampled_from(["coffee", "tea", "milk"]),
            st.integers(min_value=-3, max_value=20),
            st.integers(min_value=-5000, max_value=50_000),
        ),
        max_size=6,
    ),
    basis_points=st.integers(min_value=1, max_value=10_000),
)
def test_only_matching_lines_count_and_the_award_never_exceeds_their_spend(basket, basis_points):
    rules = offer(
        conditions={"products": ["coffee", "tea"]},
        award={"type": "percentage", "basis_points": basis_points},
    )
    lines = tuple(
        line(product, quantity=qty, amount_minor=amount) for product, qty, amount in basket
    )

    amount = awarded(event(lines=lines, total_minor=10**9), rules)

    matching = sum(amount for product, _qty, amount in basket if product != "milk")
    assert amount == max(matching, 0) * basis_points // 10_000
    assert amount <= max(matching, 0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


def plausible(keys: tuple[str, ...], values: st.SearchStrategy) -> st.SearchStrategy:
    return st.dictionaries(st.sampled_from(keys), values, max_size=len(keys))


rules_documents = plausible(
    (
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
    ),
    json_values
    | plausible(
        ("type", "amount_minor", "basis_points", "tiers", "from", "to", "period"), json_values
    )
    | plausible(("products", "weekdays", "time_window", "season", "birthday_period"), json_values),
)


@PROPERTY_SETTINGS
@given(
    classification=st.sampled_from([*CLASSIFICATIONS, "bogus"]), data=rules_documents | json_values
)
def test_any_json_either_parses_or_raises_validation_error(classification, data):
    messages: list[str] = []
    rules = None
    try:
        rules = parse_offer_rules(1, classification, data)
    except ValidationError as error:
        messages = error.messages

    if rules is None:
        assert messages
        assert all(isinstance(message, str) for message in messages)
    else:
        assert rules.classification == classification
