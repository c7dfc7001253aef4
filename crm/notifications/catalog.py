"""The events customers hear about, and what each event gives its message templates.

Every event provides ``customer`` (first_name, last_name, full_name, email, phone) and
``site`` (name, url); the rest is declared per event below. A template may use only the
top-level variables its event declares; the attributes under them are documented here and
shown, filled with sample data, in the admin preview.
"""

from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")


class Purpose(models.TextChoices):
    """Transactional messages are part of a service the customer asked for and always go
    out; marketing messages need consent and wait for the end of quiet hours."""

    TRANSACTIONAL = "transactional", _("Transactional")
    MARKETING = "marketing", _("Marketing")


class Event(models.TextChoices):
    CLAIM_SUBMITTED = "claim.submitted", _("Claim submitted")
    CLAIM_IN_REVIEW = "claim.in_review", _("Claim in review")
    CLAIM_RESUBMISSION_REQUESTED = (
        "claim.resubmission_requested",
        _("Claim: resubmission requested"),
    )
    CLAIM_APPROVED = "claim.approved", _("Claim approved")
    CLAIM_REJECTED = "claim.rejected", _("Claim rejected")
    CLAIM_DISPATCHED = "claim.dispatched", _("Claim dispatched")
    CLAIM_DELIVERED = "claim.delivered", _("Claim delivered")
    WALLET_AWARDED = "wallet.awarded", _("Wallet: points awarded")
    WALLET_SPENT = "wallet.spent", _("Wallet: points spent")
    WALLET_POINTS_EXPIRING = "wallet.points_expiring", _("Wallet: points expiring")
    OTP_CODE = "otp.code", _("One-time sign-in code")
    DRAW_WINNER_DRAWN = "draw.winner_drawn", _("Draw: winner drawn")
    DRAW_RESERVE_PROMOTED = "draw.reserve_promoted", _("Draw: reserve promoted to winner")


COMMON_VARIABLES: dict[str, dict[str, Any]] = {
    "customer": {
        "first_name": "Ada",
        "last_name": "Lindqvist",
        "full_name": "Ada Lindqvist",
        "email": "ada@example.com",
        "phone": "+46701234567",
    },
    "site": {"name": "Reward campaigns", "url": "https://rewards.example.com"},
}

_CLAIM = {
    "number": "C-2026-000123",
    "status": "submitted",
    "prize_name": "Wireless headphones",
    "campaign_name": "Summer scratch card",
    "url": "https://rewards.example.com/claims/C-2026-000123/",
    "tracking_url": "https://rewards.example.com/claims/C-2026-000123/",
}
_WALLET = {"scheme_name": "Bonus club", "balance": 1250, "unit": "points"}
# What rewards.services.draws publishes as ``draw``, plus ``claim_url`` (the portal's
# "My claims" page, where the win is claimed), which the subscriber adds.
_DRAW = {
    "name": "Week 1",
    "prize_name": "Weekend trip",
    "campaign_name": "Summer lucky draw",
    "position": 1,
    "claim_deadline_on": "2026-08-31",
    "claim_url": "https://rewards.example.com/claim/",
}
_DRAW_DESCRIPTION = (
    "draw: name, prize_name, campaign_name, position (1 = first drawn), claim_deadline_on "
    "(empty when the campaign has no claim deadline), claim_url (the portal's My claims page)"
)


@dataclass(frozen=True)
class EventSpec:
    """What an event provides to its templates: top-level name -> sample value."""

    variables: dict[str, Any]
    default_purpose: str = Purpose.TRANSACTIONAL
    description: str = ""
    # A secret (a sign-in code) is wiped from the stored message once it is sent or has
    # failed for good, and such a message is never resent or retried.
    is_secret: bool = False
    sample: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample", {**COMMON_VARIABLES, **self.variables})

    @property
    def variable_names(self) -> frozenset[str]:
        return frozenset(self.sample)


EVENTS: dict[str, EventSpec] = {
    Event.CLAIM_SUBMITTED: EventSpec(
        {"claim": _CLAIM}, description="claim: number, status, prize_name, campaign_name, url"
    ),
    Event.CLAIM_IN_REVIEW: EventSpec({"claim": {**_CLAIM, "status": "in_review"}}),
    Event.CLAIM_RESUBMISSION_REQUESTED: EventSpec(
        {
            "claim": {
                **_CLAIM,
                "status": "resubmission_requested",
                "reason": "The invoice photo is unreadable.",
                "deadline_on": "2026-07-31",
            }
        },
        description="claim also has: reason, deadline_on",
    ),
    Event.CLAIM_APPROVED: EventSpec({"claim": {**_CLAIM, "status": "approved"}}),
    Event.CLAIM_REJECTED: EventSpec(
        {
            "claim": {
                **_CLAIM,
                "status": "rejected",
                "reason": "The purchase was made before the campaign started.",
            }
        },
        description="claim also has: reason",
    ),
    Event.CLAIM_DISPATCHED: EventSpec(
        {
            "claim": {
                **_CLAIM,
                "status": "dispatched",
                "carrier": "PostNord",
                "tracking_number": "00370712345678901234",
                "tracking_url": "https://tracking.example.com/00370712345678901234",
            }
        },
        description="claim also has: carrier, tracking_number, tracking_url (the carrier's)",
    ),
    Event.CLAIM_DELIVERED: EventSpec(
        {"claim": {**_CLAIM, "status": "delivered", "voucher_code": "K7QM-2XPA-9RTB-C4WN"}},
        description=(
            "claim also has: voucher_code (optional: the code issued for a voucher or "
            "e-voucher prize; empty for other prizes)"
        ),
    ),
    Event.WALLET_AWARDED: EventSpec(
        {
            "wallet": _WALLET,
            "award": {
                "points": 150,
                "description": "Purchase at Store 12",
                "expires_on": "2027-06-30",
            },
        },
        description="wallet: scheme_name, balance, unit; award: points, description, expires_on",
    ),
    Event.WALLET_SPENT: EventSpec(
        {"wallet": _WALLET, "spend": {"points": 500, "description": "Cinema voucher"}},
        description="wallet: scheme_name, balance, unit; spend: points, description",
    ),
    Event.WALLET_POINTS_EXPIRING: EventSpec(
        {"wallet": _WALLET, "expiring": {"points": 300, "expires_on": "2026-08-31", "days": 14}},
        default_purpose=Purpose.MARKETING,
        description="wallet: scheme_name, balance, unit; expiring: points, expires_on, days",
    ),
    Event.OTP_CODE: EventSpec(
        {"otp": {"code": "482913", "valid_minutes": 10}},
        description="otp: code, valid_minutes",
        is_secret=True,
    ),
    Event.DRAW_WINNER_DRAWN: EventSpec({"draw": _DRAW}, description=_DRAW_DESCRIPTION),
    Event.DRAW_RESERVE_PROMOTED: EventSpec(
        {"draw": {**_DRAW, "position": 4}}, description=_DRAW_DESCRIPTION
    ),
}


def event_spec(event: str) -> EventSpec:
    try:
        return EVENTS[event]
    except KeyError:
        raise ValueError(f"Unknown notification event {event!r}.") from None
