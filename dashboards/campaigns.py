"""Reads for the client campaign dashboard (instant-win and lucky-draw campaigns): every number
on the page and in the API comes from here, through a Scope (dashboards.scoping).

The figures are counted live (no rollup): one grouped pass over the claims of one campaign
in the date range (an index-only range of dashboards' covering index on (scheme_id,
submitted_at), migration 0006), one over its codes, one for the rejection reasons, plus the
verification queue metrics (verification.selectors); docs/DASHBOARDS.md, "Speed".

Definitions (docs/DASHBOARDS.md has the long form); "the claims" are those first submitted
in the date range (days in the campaign's time zone), of the chosen prize and partner:

- codes issued: codes of the campaign's ready batches (as of now; per prize: the codes
  pre-assigned that prize); codes entered: codes entered in the range.
- claims submitted: the claims; in review: of those, submitted, in review, proposed or asked
  for documents again; approved: approved or past it (released, dispatched, returned,
  delivered); rejected; dispatched: dispatched, returned or delivered; delivered.
- conversion: each step over the one before it (entered / issued, submitted / entered,
  approved and rejected / submitted, dispatched / approved, delivered / dispatched).
- backlog by age: claims waiting now, by time since they entered the queue; median time to
  decision: checkers' confirmations in the range. Both per campaign (the prize filter does
  not narrow them: verification counts per campaign).
- prizes: stock, won (``quantity_awarded``) and left, now (the campaign's whole stock,
  shown to managers and to the partner the campaign runs through).
- channel partner: each claim's own partner (its code batch's, else the campaign's, set when
  the claim was created); a code's: its batch's, else the campaign's.
- region: the county the claim form names (blank: not asked or not given).
- budget: the campaign's prize budget cap; spent = prize values of the claims approved or
  past it, committed = of those still waiting for a decision (both in the filters). The cap
  is for the campaign's whole life, so what is left of it is counted over every claim of the
  campaign since it began, whatever the filters, and shown only to those who see the whole
  campaign (a channel partner sees its own spent and committed, not the other partners').
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from claims.models import Claim, ClaimStatus, Region
from crm.models import ChannelPartner
from dashboards.scoping import (
    CAMPAIGN_PARTNER_FIELD,
    CLAIM_PARTNER_FIELD,
    CODE_PARTNER_FIELDS,
    Scope,
    partner_is,
)
from dashboards.selectors import Unit
from rewards.models import Code, CodeBatch, Prize, Scheme
from verification.models import Proposal
from verification.selectors import median_time_to_decision, waiting_by_age_bucket

MAX_DAYS = 366
DEFAULT_DAYS = 30

IN_REVIEW = (
    ClaimStatus.SUBMITTED,
    ClaimStatus.IN_REVIEW,
    ClaimStatus.PROPOSED,
    ClaimStatus.RESUBMISSION_REQUESTED,
)
APPROVED = (
    ClaimStatus.APPROVED,
    ClaimStatus.RELEASED,
    ClaimStatus.DISPATCHED,
    ClaimStatus.RETURNED,
    ClaimStatus.DELIVERED,
)
DISPATCHED = (ClaimStatus.DISPATCHED, ClaimStatus.RETURNED, ClaimStatus.DELIVERED)

# (key, label, the step it converts from)
FUNNEL_STEPS: tuple[tuple[str, str, str | None], ...] = (
    ("codes_issued", gettext_noop("Codes issued"), None),
    ("codes_entered", gettext_noop("Codes entered"), "codes_issued"),
    ("submitted", gettext_noop("Claims submitted"), "codes_entered"),
    ("in_review", gettext_noop("In review"), "submitted"),
    ("approved", gettext_noop("Approved"), "submitted"),
    ("rejected", gettext_noop("Rejected"), "submitted"),
    ("dispatched", gettext_noop("Dispatched"), "approved"),
    ("delivered", gettext_noop("Delivered"), "dispatched"),
)


def default_range(today: date | None = None) -> tuple[date, date]:
    today = today or timezone.localdate()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


@dataclass(frozen=True, slots=True)
class CampaignFilters:
    date_from: date
    date_to: date
    prize: Prize | None = None
    channel_partner: ChannelPartner | None = None
    region: str = ""


@dataclass(frozen=True, slots=True)
class FunnelStep:
    key: str
    label: str
    count: int
    rate: float | None  # share of the step it converts from, 0..1; None when that is 0
    rate_of: str | None


@dataclass(frozen=True, slots=True)
class PrizeFigures:
    prize_id: int
    name: str
    quantity_total: int
    quantity_awarded: int
    quantity_left: int
    claims: int


@dataclass(frozen=True, slots=True)
class PartnerFigures:
    channel_partner_id: int | None
    name: str
    submitted: int
    in_review: int
    approved: int
    rejected: int


@dataclass(frozen=True, slots=True)
class RegionFigures:
    region: str  # an ISO 3166-2:SE county code; "" when the claim names none
    name: str
    submitted: int
    in_review: int
    approved: int
    rejected: int


@dataclass(frozen=True, slots=True)
class BudgetFigures:
    unit: Unit
    cap_minor: int | None  # None: the campaign has no prize budget cap
    spent_minor: int  # in the filters
    committed_minor: int  # in the filters
    # The whole campaign since it began, whatever the filters; None for a partner-limited
    # scope (it would tell a partner what the others spent) and, for the last two, no cap.
    total_spent_minor: int | None
    left_minor: int | None
    spent_share: float | None  # total spent / cap, 0..1 and beyond; None: no cap, cap 0

    @property
    def spent_percent(self) -> int | None:
        """Spent as a whole percentage of the cap, capped at 100 for the progress bar."""
        if self.spent_share is None:
            return None
        return min(100, round(self.spent_share * 100))


@dataclass
class CampaignDashboard:
    computed_at: datetime
    campaign: Scheme
    filters: CampaignFilters
    funnel: list[FunnelStep] = field(default_factory=list)
    days: list[dict[str, Any]] = field(default_factory=list)
    backlog: list[dict[str, Any]] = field(default_factory=list)
    backlog_total: int = 0
    time_to_decision: dict[str, Any] = field(default_factory=dict)
    rejection_reasons: list[dict[str, Any]] = field(default_factory=list)
    prizes: list[PrizeFigures] = field(default_factory=list)
    channel_partners: list[PartnerFigures] = field(default_factory=list)
    regions: list[RegionFigures] = field(default_factory=list)
    budget: BudgetFigures | None = None

    def funnel_count(self, key: str) -> int:
        return next(step.count for step in self.funnel if step.key == key)


def campaign_partners(scope: Scope) -> QuerySet[ChannelPartner]:
    """The partners the partner filter may name: a partner user's own only; otherwise the
    partners of the clients in scope."""
    partners = ChannelPartner.objects.all()
    if scope.is_partner_limited:
        return partners.filter(pk=scope.channel_partner_id)
    if scope.client_id is not None:
        partners = partners.filter(client_id=scope.client_id)
    return partners


def campaign_prizes(scope: Scope, campaign: Scheme) -> QuerySet[Prize]:
    """The campaign's prizes with their whole stock: a partner-limited scope sees them only
    for a campaign run through its partner (the stock is shared by every partner)."""
    return scope.restrict(
        Prize.objects.filter(scheme=campaign), partner_field=CAMPAIGN_PARTNER_FIELD
    )


def _bounds(campaign: Scheme, filters: CampaignFilters) -> tuple[datetime, datetime, ZoneInfo]:
    zone = ZoneInfo(campaign.time_zone)
    start = datetime.combine(filters.date_from, time.min, tzinfo=zone)
    end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=zone)
    return start, end, zone


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _partner_rows(
    scope: Scope,
    rows: QuerySet[Any],
    filters: CampaignFilters,
    partner_field: str | tuple[str, ...] = CLAIM_PARTNER_FIELD,
) -> QuerySet[Any]:
    rows = scope.restrict(rows, partner_field=partner_field)
    if filters.channel_partner is not None:
        rows = rows.filter(partner_is(partner_field, filters.channel_partner.pk))
    return rows


# The claims pass groups by these sets; GROUPING(day, prize_id, channel_partner_id, region,
# status) names a row's set: a bit (day = 16 ... status = 1) for each column it leaves out.
_GROUPED_SQL = """
    SELECT GROUPING(day, prize_id, channel_partner_id, region, status),
           day, prize_id, channel_partner_id, region, status, count(*)
      FROM (SELECT (c.submitted_at AT TIME ZONE %s)::date AS day, c.prize_id,
                   c.channel_partner_id, c.region, c.status
              FROM ({claims}) c) claims
     GROUP BY GROUPING SETS ((prize_id, status), (day), (channel_partner_id, status),
                             (region, status))
"""
# mask -> (set name, the positions of its key among day, prize, partner, region, status)
_SETS: dict[int, tuple[str, tuple[int, ...]]] = {
    0b10110: ("prize_status", (1, 4)),
    0b01111: ("day", (0,)),
    0b11010: ("partner_status", (2, 4)),
    0b11100: ("region_status", (3, 4)),
}


def _grouped_claims(claims: QuerySet[Claim], zone: ZoneInfo) -> dict[str, dict[Any, int]]:
    """Claim counts of ``claims`` per (prize, status), day (in ``zone``), (partner, status)
    and (county, status), from one statement over the rows ``claims`` selects."""
    inner, params = (
        claims.order_by()
        .values("submitted_at", "prize_id", "channel_partner_id", "region", "status")
        .query.sql_with_params()
    )
    grouped: dict[str, dict[Any, int]] = {name: {} for name, _positions in _SETS.values()}
    with connection.cursor() as cursor:
        # The inner statement is the ORM's own, its values passed as parameters.
        cursor.execute(_GROUPED_SQL.format(claims=inner), [str(zone), *params])
        for mask, *values, count in cursor.fetchall():
            name, positions = _SETS[mask]
            key = tuple(values[i] for i in positions)
            grouped[name][key[0] if len(key) == 1 else key] = count
    return grouped


def _by_key(counts: dict[tuple[Any, str], int]) -> dict[Any, dict[str, int]]:
    """{(key, status): count} as {key: {status: count}}, keys in first-seen order."""
    out: dict[Any, dict[str, int]] = {}
    for (key, status), count in counts.items():
        out.setdefault(key, {})[status] = count
    return out


def _fold_statuses(per_status: dict[str, int], *, with_shipping: bool = False) -> dict[str, int]:
    """Claim counts per status as the dashboard's figures: submitted (all), in review,
    approved, rejected; with ``with_shipping`` also dispatched and delivered."""
    figures = {
        "submitted": sum(per_status.values()),
        "in_review": sum(per_status.get(status, 0) for status in IN_REVIEW),
        "approved": sum(per_status.get(status, 0) for status in APPROVED),
        "rejected": per_status.get(ClaimStatus.REJECTED, 0),
    }
    if with_shipping:
        figures["dispatched"] = sum(per_status.get(status, 0) for status in DISPATCHED)
        figures["delivered"] = per_status.get(ClaimStatus.DELIVERED, 0)
    return figures


def campaign_dashboard(
    *, scope: Scope, campaign: Scheme, filters: CampaignFilters, now: datetime | None = None
) -> CampaignDashboard:
    """Every figure of one campaign's dashboard under ``scope``. ``campaign`` must come from
    ``scope.campaigns()`` (the views look it up there); every row read here is restricted
    by the scope again, so a partner-limited scope counts only its partner's rows."""
    now = now or timezone.now()
    start, end, zone = _bounds(campaign, filters)
    board = CampaignDashboard(computed_at=now, campaign=campaign, filters=filters)
    prize_id = filters.prize.pk if filters.prize is not None else None

    # Codes: issued as of now (ready batches), entered in the range.
    codes = _partner_rows(
        scope, Code.objects.filter(scheme=campaign), filters, CODE_PARTNER_FIELDS
    ).filter(batch__status=CodeBatch.Status.READY)
    if prize_id is not None:
        codes = codes.filter(prize_id=prize_id)
    if filters.region:
        # Codes carry no county: only those whose claim names it count.
        codes = codes.filter(claim__region=filters.region)
    code_counts = codes.aggregate(
        codes_issued=Count("pk"),
        codes_entered=Count(
            "pk",
            filter=Q(status=Code.Status.ENTERED, entered_at__gte=start, entered_at__lt=end),
        ),
    )

    # Claims first submitted in the range: ONE pass over the covering index on (scheme_id,
    # submitted_at), grouped by sets (prize and status; day; partner and status; county and
    # status) and folded here: a few hundred rows at most.
    claims = _partner_rows(scope, Claim.objects.filter(scheme=campaign), filters).filter(
        submitted_at__gte=start, submitted_at__lt=end
    )
    if prize_id is not None:
        claims = claims.filter(prize_id=prize_id)
    if filters.region:
        claims = claims.filter(region=filters.region)
    grouped = _grouped_claims(claims, zone)
    by_prize_status = grouped["prize_status"]
    prize_values = dict(
        Prize.objects.filter(pk__in={key[0] for key in by_prize_status if key[0] is not None})
        .exclude(value_minor=None)
        .values_list("pk", "value_minor")
    )
    status_totals: dict[str, int] = {}
    spent_minor = committed_minor = 0
    claims_per_prize: dict[int | None, int] = {}
    for (prize, status), count in by_prize_status.items():
        status_totals[status] = status_totals.get(status, 0) + count
        claims_per_prize[prize] = claims_per_prize.get(prize, 0) + count
        value = prize_values.get(prize)
        if value is not None and status in APPROVED:
            spent_minor += value * count
        elif value is not None and status in IN_REVIEW:
            committed_minor += value * count
    counts = {
        **code_counts,
        **_fold_statuses(status_totals, with_shipping=True),
        "spent_minor": spent_minor,
        "committed_minor": committed_minor,
    }
    board.funnel = [
        FunnelStep(
            key=key,
            label=label,
            count=counts[key],
            rate=_ratio(counts[key], counts[base]) if base else None,
            rate_of=base,
        )
        for key, label, base in FUNNEL_STEPS
    ]

    per_day = grouped["day"]
    day, board.days = filters.date_from, []
    while day <= filters.date_to:
        board.days.append({"day": day, "claims": per_day.get(day, 0)})
        day += timedelta(days=1)

    # Verification: the campaign's queue, of the scope's (or the filter's) partner's claims.
    partner_id = filters.channel_partner.pk if filters.channel_partner is not None else None
    if scope.is_partner_limited:
        partner_id = scope.channel_partner_id
    board.backlog = waiting_by_age_bucket(
        scheme_ids=[campaign.pk], now=now, channel_partner_id=partner_id
    )
    board.backlog_total = sum(bucket["count"] for bucket in board.backlog)
    board.time_to_decision = median_time_to_decision(
        scheme_ids=[campaign.pk], since=start, until=end, channel_partner_id=partner_id
    )

    # Rejection reasons of the rejected claims (their confirmed rejecting proposal).
    board.rejection_reasons = [
        {
            "code": row["rejection_reason__code"] or "",
            "text": row["rejection_reason__text"] or "Other (the maker's own words)",
            "count": row["count"],
        }
        for row in Proposal.objects.filter(
            claim__in=claims.filter(status=ClaimStatus.REJECTED),
            outcome="reject",
            status=Proposal.Status.CONFIRMED,
        )
        .values("rejection_reason__code", "rejection_reason__text")
        .annotate(count=Count("claim_id", distinct=True))
        .order_by("-count", "rejection_reason__code")
    ]

    # Prizes: stock, won and left now; claims in the range per prize.
    prizes = _partner_rows(
        scope, Prize.objects.filter(scheme=campaign), filters, CAMPAIGN_PARTNER_FIELD
    )
    if prize_id is not None:
        prizes = prizes.filter(pk=prize_id)
    board.prizes = [
        PrizeFigures(
            prize_id=prize.pk,
            name=prize.name,
            quantity_total=prize.quantity_total,
            quantity_awarded=prize.quantity_awarded,
            quantity_left=prize.quantity_total - prize.quantity_awarded,
            claims=claims_per_prize.get(prize.pk, 0),
        )
        for prize in prizes.order_by("name", "pk")
    ]

    by_partner = _by_key(grouped["partner_status"])
    partner_names = dict(
        ChannelPartner.objects.filter(pk__in=[pk for pk in by_partner if pk is not None])
        .order_by("name", "pk")
        .values_list("pk", "name")
    )
    # The partners in name order (as the database sorts them), claims of none last.
    partner_order = [*partner_names, *([None] if None in by_partner else [])]
    board.channel_partners = [
        PartnerFigures(
            channel_partner_id=partner,
            name=partner_names.get(partner) or "No channel partner",
            **_fold_statuses(by_partner[partner]),
        )
        for partner in partner_order
    ]

    board.regions = sorted(
        (
            RegionFigures(
                region=region,
                name=str(Region(region).label) if region else "No county given",
                **_fold_statuses(statuses),
            )
            for region, statuses in _by_key(grouped["region_status"]).items()
        ),
        key=lambda figures: (-figures.submitted, figures.region == "", figures.name),
    )

    cap = campaign.prize_budget_minor
    total_spent = None
    if not scope.is_partner_limited:
        total_spent = (
            Claim.objects.filter(scheme=campaign, status__in=APPROVED).aggregate(
                total=Sum("prize__value_minor")
            )["total"]
            or 0
        )
    board.budget = BudgetFigures(
        unit=Unit.of(campaign),
        cap_minor=cap,
        spent_minor=spent_minor,
        committed_minor=committed_minor,
        total_spent_minor=total_spent,
        left_minor=cap - total_spent if cap is not None and total_spent is not None else None,
        spent_share=round(total_spent / cap, 4) if cap and total_spent is not None else None,
    )
    return board
