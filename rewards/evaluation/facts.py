"""What evaluation reads (an event and a participant snapshot) and what it returns (award lines).

All amounts are integers in the scheme's minor unit; all datetimes are aware.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

EVENT_TYPES = ("purchase", "sign_up", "referral", "achievement", "birthday", "name_day")
SPEND_METHODS = ("wallet", "instant_discount")


@dataclass(frozen=True, slots=True)
class EventLine:
    product_code: str
    category_codes: frozenset[str]
    quantity: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class EventFacts:
    """One customer event. ``occurred_at`` decides validity, weekday and time conditions;
    ``received_at - occurred_at`` is the event's age for ``max_event_age_hours``."""

    type: str  # one of EVENT_TYPES
    occurred_at: datetime
    received_at: datetime
    merchant_code: str | None = None
    merchant_group_codes: frozenset[str] = frozenset()
    payment_medium: str | None = None
    area: str | None = None
    lines: tuple[EventLine, ...] = ()
    total_minor: int = 0
    achievement_code: str | None = None


@dataclass(frozen=True, slots=True)
class ParticipantFacts:
    """A snapshot of the participant the event is evaluated for.

    ``time_zone`` is an IANA name: weekday, time window, season, birthday and cap periods are
    all reckoned in it. ``purchase_count_before`` counts the participant's purchases before this
    one (for "every Nth purchase"). ``awarded_in_period`` maps offer id to what this participant
    has already been awarded by that offer since ``cap_period_start(...)``; offers without a
    participant cap need no entry.
    """

    participant_id: int
    segments: frozenset[str] = frozenset()
    time_zone: str = "UTC"
    birth_date: date | None = None
    name_day: tuple[int, int] | None = None  # (month, day)
    purchase_count_before: int = 0
    awarded_in_period: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AwardLine:
    """One award to post. ``available_from`` and ``expires_at`` are in UTC; ``expires_at`` is
    None when the award never expires. An ``instant_discount`` line is taken off the same
    purchase instead of waiting in the wallet."""

    offer_id: int
    amount_minor: int
    available_from: datetime
    expires_at: datetime | None
    spend_method: str  # one of SPEND_METHODS
