"""Every read the verification pages, API and dashboards use.

Access gates: ``queue_for_user`` and ``claim_for_reviewer`` (reviewers and checkers),
``batches_for_user`` (fulfilment), ``audit_events_search`` (the trail, for users allowed to
search it). The queue metrics take an optional set of scheme ids so the dashboards can pass
their own scope; they never decide scope themselves.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from claims.models import Claim, ClaimStatus, ClaimTransition
from claims.selectors import claims_for_staff
from crm.middleware import is_staff_user
from crm.models import AuditEvent
from verification.models import CheckerDecision, FulfilmentBatch, Proposal
from verification.services.review import CHECK, QUEUE_STATUSES, REVIEW

DEFAULT_SLA_HOURS = 48

# (code, label, lower bound in hours, upper bound in hours or None)
AGE_BUCKETS: list[tuple[str, Any, int, int | None]] = [
    ("under_24h", _("under 24 hours"), 0, 24),
    ("24_48h", _("24 to 48 hours"), 24, 48),
    ("48_72h", _("48 to 72 hours"), 48, 72),
    ("over_72h", _("over 72 hours"), 72, None),
]


def _staff_with_any(user: Any, *permissions: str) -> bool:
    """An active, signed-in staff member holding at least one of ``permissions``."""
    return bool(
        user.is_authenticated
        and user.is_active
        and is_staff_user(user)
        and any(user.has_perm(permission) for permission in permissions)
    )


def may_review(user: Any) -> bool:
    return _staff_with_any(user, REVIEW, CHECK)


def may_fulfil(user: Any) -> bool:
    return _staff_with_any(user, "claims.fulfil_claim")


def may_search_audit(user: Any) -> bool:
    return _staff_with_any(user, "verification.search_audit_trail")


def may_view_metrics(user: Any) -> bool:
    return _staff_with_any(user, "verification.view_queue_metrics")


# -- the queue -----------------------------------------------------------------------------


def _queued_at() -> Coalesce:
    """When the claim (last) entered the queue: its latest move to submitted."""
    latest = (
        ClaimTransition.objects.filter(claim=OuterRef("pk"), to_status=ClaimStatus.SUBMITTED)
        .order_by("-occurred_at")  # the latest time (ties share it): one index probe
        .values("occurred_at")[:1]
    )
    return Coalesce(Subquery(latest), F("submitted_at"), F("created_at"))


def queue_base(*, scheme_ids: Iterable[int] | None = None) -> QuerySet[Claim]:
    rows = Claim.objects.filter(status__in=QUEUE_STATUSES)
    if scheme_ids is not None:
        rows = rows.filter(scheme_id__in=list(scheme_ids))
    return rows.annotate(queued_at=_queued_at())


@dataclass(frozen=True)
class QueueFilters:
    scheme_id: int | None = None
    channel_partner_id: int | None = None
    status: str = ""
    prize_id: int | None = None
    age: str = ""  # an AGE_BUCKETS code, or "over_sla"


def queue_for_user(
    *, user: Any, filters: QueueFilters | None = None, now: datetime | None = None
) -> QuerySet[Claim]:
    """The claims waiting for review or a checker, oldest in the queue first, with
    ``queued_at``, ``sla_hours``, ``due_at``, the lock holder and expiry. Empty for users who
    neither review nor check."""
    if not may_review(user):
        return Claim.objects.none()
    filters = filters or QueueFilters()
    now = now or timezone.now()
    rows = (
        claims_for_staff(user=user)
        .filter(status__in=QUEUE_STATUSES)
        .annotate(
            queued_at=_queued_at(),
            sla_hours=Coalesce(F("scheme__review_settings__sla_hours"), Value(DEFAULT_SLA_HOURS)),
            lock_holder=F("review_lock__holder__username"),
            lock_expires_at=F("review_lock__expires_at"),
        )
        .annotate(
            due_at=ExpressionWrapper(
                F("queued_at") + F("sla_hours") * Value(timedelta(hours=1)),
                output_field=DateTimeField(),
            )
        )
    )
    if filters.scheme_id:
        rows = rows.filter(scheme_id=filters.scheme_id)
    if filters.channel_partner_id:
        rows = rows.filter(scheme__review_settings__channel_partner_id=filters.channel_partner_id)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.prize_id:
        rows = rows.filter(prize_id=filters.prize_id)
    if filters.age == "over_sla":
        rows = rows.filter(due_at__lt=now)
    else:
        for code, _label, low, high in AGE_BUCKETS:
            if filters.age == code:
                rows = rows.filter(queued_at__lte=now - timedelta(hours=low))
                if high is not None:
                    rows = rows.filter(queued_at__gt=now - timedelta(hours=high))
    return rows.order_by("queued_at", "pk")


def claim_for_reviewer(*, user: Any, claim_id: int) -> Claim | None:
    """A claim for a reviewer or checker (any status: the page also shows decided claims)."""
    if not may_review(user):
        return None
    return claims_for_staff(user=user).filter(pk=claim_id).first()


def claim_audit_history(claim: Claim) -> QuerySet[AuditEvent]:
    """Every audit event about the claim, its documents, shipments and fulfilment, oldest
    first."""
    return AuditEvent.objects.filter(
        Q(object_type="claims.claim", object_id=str(claim.pk))
        | Q(
            object_type="claims.shipment",
            object_id__in=[str(pk) for pk in claim.shipments.values_list("pk", flat=True)],
        )
        | Q(object_type="verification.fulfilmentbatch", after__claims__contains=[claim.number])
    ).order_by("id")


def claim_proposals(claim: Claim) -> QuerySet[Proposal]:
    return (
        Proposal.objects.filter(claim=claim)
        .select_related("maker", "rejection_reason", "decision__checker")
        .order_by("-created_at", "-pk")
    )


# -- fulfilment ----------------------------------------------------------------------------


def approved_awaiting_release(*, user: Any) -> QuerySet[Claim]:
    if not may_fulfil(user):
        return Claim.objects.none()
    return (
        Claim.objects.filter(status=ClaimStatus.APPROVED)
        .select_related("prize", "scheme", "customer")
        .order_by("prize__kind", "status_changed_at", "pk")
    )


def batches_for_user(*, user: Any) -> QuerySet[FulfilmentBatch]:
    if not may_fulfil(user):
        return FulfilmentBatch.objects.none()
    return FulfilmentBatch.objects.select_related("created_by").annotate(
        claims_count=Count("items")
    )


# -- the audit trail -----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    text: str = ""  # object label, actor or action, any part of it
    action: str = ""
    actor: str = ""
    object_type: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def audit_events_search(*, user: Any, query: AuditQuery) -> QuerySet[AuditEvent]:
    """The whole trail, newest first, for users allowed to search it."""
    if not may_search_audit(user):
        return AuditEvent.objects.none()
    rows = AuditEvent.objects.all()
    if query.text:
        rows = rows.filter(
            Q(object_label__icontains=query.text)
            | Q(actor_label__icontains=query.text)
            | Q(action__icontains=query.text)
            | Q(request_id=query.text)
        )
    if query.action:
        rows = rows.filter(action__startswith=query.action)
    if query.actor:
        rows = rows.filter(actor_label__iexact=query.actor)
    if query.object_type:
        rows = rows.filter(object_type=query.object_type)
    if query.object_id:
        rows = rows.filter(object_id=query.object_id)
    if query.since:
        rows = rows.filter(occurred_at__gte=query.since)
    if query.until:
        rows = rows.filter(occurred_at__lt=query.until)
    return rows.order_by("-id")


# -- queue metrics (reused by the dashboards) ----------------------------------------------


def waiting_by_age_bucket(
    *,
    scheme_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    channel_partner_id: int | None = None,
) -> list[dict[str, Any]]:
    """Claims waiting (submitted, in review, proposed) by time since they entered the queue;
    with ``channel_partner_id``, only that partner's claims (the dashboards' partner scope)."""
    now = now or timezone.now()
    rows = queue_base(scheme_ids=scheme_ids)
    if channel_partner_id is not None:
        rows = rows.filter(channel_partner_id=channel_partner_id)
    # Each claim's queue time once (a materialised CTE): counted with a FILTER per bucket
    # straight from the annotation, the ORM would repeat its subquery in every FILTER.
    waiting, params = rows.order_by().values("queued_at").query.sql_with_params()
    counts, bounds = [], []
    for _code, _label, low, high in AGE_BUCKETS:
        condition = "queued_at <= %s"
        bounds.append(now - timedelta(hours=low))
        if high is not None:
            condition += " AND queued_at > %s"
            bounds.append(now - timedelta(hours=high))
        counts.append(f"count(*) FILTER (WHERE {condition})")
    sql = f"WITH waiting AS MATERIALIZED ({waiting}) SELECT {', '.join(counts)} FROM waiting"  # noqa: S608 - the ORM's SQL
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *bounds])  # the ORM's statement and our bounds
        row = cursor.fetchone()
    return [
        {"bucket": code, "label": str(label), "count": count}
        for (code, label, _low, _high), count in zip(AGE_BUCKETS, row, strict=True)
    ]


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or timezone.now()
    return since or until - timedelta(days=30), until


def decisions_per_verifier_per_day(
    *,
    scheme_ids: Iterable[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Proposals per maker and decisions per checker, per day (in the site's time zone)."""
    since, until = _period(since, until)
    proposals = Proposal.objects.filter(created_at__gte=since, created_at__lt=until)
    decisions = CheckerDecision.objects.filter(decided_at__gte=since, decided_at__lt=until)
    if scheme_ids is not None:
        ids = list(scheme_ids)
        proposals = proposals.filter(claim__scheme_id__in=ids)
        decisions = decisions.filter(claim__scheme_id__in=ids)
    rows = [
        {
            "day": row["day"],
            "user_id": row["maker_id"],
            "username": row["maker__username"],
            "role": "maker",
            "count": row["count"],
        }
        for row in proposals.annotate(day=TruncDate("created_at"))
        .values("day", "maker_id", "maker__username")
        .annotate(count=Count("pk"))
    ] + [
        {
            "day": row["day"],
            "user_id": row["checker_id"],
            "username": row["checker__username"],
            "role": "checker",
            "count": row["count"],
        }
        for row in decisions.annotate(day=TruncDate("decided_at"))
        .values("day", "checker_id", "checker__username")
        .annotate(count=Count("pk"))
    ]
    return sorted(rows, key=lambda row: (row["day"], row["role"], row["username"]))


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def first_pass_approval_rate(
    *,
    scheme_ids: Iterable[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Of the claims whose first proposal was decided in the period, the share approved
    straight away (first proposal an approval, confirmed, no send-back or void before)."""
    since, until = _period(since, until)
    sql = """
        WITH first AS (
            SELECT DISTINCT ON (p.claim_id) p.claim_id, p.outcome, p.status, p.closed_at
              FROM verification_proposal p
              JOIN claims_claim c ON c.id = p.claim_id
             WHERE (%(all)s OR c.scheme_id = ANY(%(schemes)s))
             ORDER BY p.claim_id, p.created_at, p.id
        )
        SELECT count(*) FILTER (WHERE outcome = 'approve' AND status = 'confirmed'), count(*)
          FROM first
         WHERE status <> 'pending' AND closed_at >= %(since)s AND closed_at < %(until)s
    """
    ids = list(scheme_ids) if scheme_ids is not None else []
    with connection.cursor() as cursor:
        cursor.execute(
            sql, {"all": scheme_ids is None, "schemes": ids, "since": since, "until": until}
        )
        approved, decided = cursor.fetchone()
    return {"approved_first_pass": approved, "decided": decided, "rate": _ratio(approved, decided)}


def send_back_rate(
    *,
    scheme_ids: Iterable[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Of the checkers' decisions in the period, the share that sent the proposal back."""
    since, until = _period(since, until)
    decisions = CheckerDecision.objects.filter(decided_at__gte=since, decided_at__lt=until)
    if scheme_ids is not None:
        decisions = decisions.filter(claim__scheme_id__in=list(scheme_ids))
    counts = decisions.aggregate(
        sent_back=Count("pk", filter=Q(decision=CheckerDecision.Decision.SEND_BACK)),
        decisions=Count("pk"),
    )
    return {**counts, "rate": _ratio(counts["sent_back"], counts["decisions"])}


def median_time_to_decision(
    *,
    scheme_ids: Iterable[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    channel_partner_id: int | None = None,
) -> dict[str, Any]:
    """Median hours from a claim entering the queue (its latest submission before the
    proposal) to the checker's final decision (confirmations in the period); with
    ``channel_partner_id``, of that partner's claims only.

    The latest submission before the proposal is the latest before the decision: a claim
    moves to submitted only from draft or documents-asked-again, never while a proposal on
    it waits (claims.services.transitions). That wait is stored on the decision when it is
    made (``CheckerDecision.queue_time``, exact to the microsecond; migration 0004 filled
    the older rows), so the median reads the confirmations of the period with their queue
    time from one index (verification migration 0005) without probing the transitions."""
    since, until = _period(since, until)
    sql = """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.queue_time)),
               count(*)
          FROM verification_checkerdecision d
          JOIN claims_claim c ON c.id = d.claim_id
         WHERE d.decision = 'confirm' AND d.decided_at >= %(since)s AND d.decided_at < %(until)s
           AND (%(all)s OR c.scheme_id = ANY(%(schemes)s))
           AND (%(any_partner)s OR c.channel_partner_id = %(partner)s)
    """
    ids = list(scheme_ids) if scheme_ids is not None else []
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "all": scheme_ids is None,
                "schemes": ids,
                "since": since,
                "until": until,
                "any_partner": channel_partner_id is None,
                "partner": channel_partner_id,
            },
        )
        seconds, count = cursor.fetchone()
    return {
        "decisions": count,
        "median_hours": round(float(seconds) / 3600, 2) if seconds is not None else None,
    }


def queue_metrics(
    *,
    scheme_ids: Iterable[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every queue metric at once (the metrics page and API)."""
    ids = list(scheme_ids) if scheme_ids is not None else None
    since, until = _period(since, until)
    return {
        "since": since,
        "until": until,
        "waiting_by_age": waiting_by_age_bucket(scheme_ids=ids, now=now),
        "decisions_per_day": decisions_per_verifier_per_day(
            scheme_ids=ids, since=since, until=until
        ),
        "first_pass_approval": first_pass_approval_rate(scheme_ids=ids, since=since, until=until),
        "send_back": send_back_rate(scheme_ids=ids, since=since, until=until),
        "time_to_decision": median_time_to_decision(scheme_ids=ids, since=since, until=until),
    }
