"""Offer simulation: what a (draft) offer would have awarded over the last N days of real
customer events, evaluated with rewards.evaluation exactly as the live path would, without
writing anything.

Read-only by construction: only SELECTs, in a READ ONLY transaction (or savepoint) that is
rolled back at the end, so even a mistake here could not post: PostgreSQL refuses writes.
"""

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from rewards.evaluation import (
    EVENT_TYPE_BY_CLASSIFICATION,
    EventFacts,
    EventLine,
    OfferRules,
    ParticipantFacts,
    cap_period_start,
    explain,
    parse_offer_rules,
)
from rewards.models import Offer, Participant
from rewards.services.errors import InvalidRequest
from rewards.services.events import _product_categories

MAX_DAYS = 366
_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class ParticipantTotal:
    participant_id: int
    label: str
    awards: int
    total_minor: int


@dataclass(slots=True)
class SimulationReport:
    offer_id: int
    since: datetime
    until: datetime
    events_considered: int = 0
    awards: int = 0
    total_minor: int = 0
    instant_discount_minor: int = 0
    participants_awarded: int = 0
    top_participants: list[ParticipantTotal] = field(default_factory=list)
    budget_total_minor: int | None = None
    budget_left_before_minor: int | None = None
    budget_used_minor: int = 0
    budget_exhausted_at: datetime | None = None
    # Awards other apply-only-if-best offers gave that this offer would have beaten.
    displaced_awards: int = 0
    refusals: dict[str, int] = field(default_factory=dict)

    @property
    def budget_used_percent(self) -> int | None:
        if not self.budget_left_before_minor:
            return None
        return self.budget_used_minor * 100 // self.budget_left_before_minor


def offer_simulate(
    *, offer: Offer, days: int = 30, now: datetime | None = None, top: int = 10
) -> SimulationReport:
    """Dry-runs ``offer`` over the scheme's events that happened in the last ``days`` days,
    in the order they were received (event id), and reports what it would have awarded.

    The participant cap counts only the simulated awards; the budget starts from what is
    left of the offer's; participant facts (segments, birthday, time zone) are today's;
    refunds are not replayed. With ``apply_only_if_best``, the offer competes with what the
    other flagged offers actually awarded for each event.
    """
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRequest(f"days must be between 1 and {MAX_DAYS}.")
    try:
        rules = parse_offer_rules(offer.pk, offer.classification, offer.rules)
    except ValidationError as error:
        raise InvalidRequest("; ".join(error.messages)) from error
    until = now or timezone.now()
    report = SimulationReport(
        offer_id=offer.pk,
        since=until - timedelta(days=days),
        until=until,
        budget_total_minor=offer.budget_total_minor,
        budget_left_before_minor=offer.budget_left_minor,
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
        _simulate(offer, rules, report, top)
        # Always rolled back: inside an outer transaction this ends the read-only mode too.
        transaction.set_rollback(True)
    return report


def _simulate(offer: Offer, rules: OfferRules, report: SimulationReport, top: int) -> None:
    event_type = EVENT_TYPE_BY_CLASSIFICATION[offer.classification]
    client_id = offer.scheme.client_id
    default_zone = offer.scheme.time_zone
    merchants = _merchants(offer.scheme_id)
    competitors = _best_only_competitors(offer, event_type) if rules.apply_only_if_best else []
    budget_left = offer.budget_left_minor
    awarded: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    per_participant: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    refusals: Counter[str] = Counter()
    people: dict[int, ParticipantFacts] = {}
    for chunk in _events(offer.scheme_id, event_type, report.since, report.until):
        _load_people(people, {row["participant_id"] for row in chunk}, default_zone)
        categories = _categories(client_id, chunk) if rules.conditions.categories else {}
        purchases_before = (
            _purchases_before([row["id"] for row in chunk])
            if rules.every_nth_purchase is not None
            else {}
        )
        best_other = _awarded_by(competitors, [row["id"] for row in chunk])
        for row in chunk:
            report.events_considered += 1
            person = people[row["participant_id"]]
            since = cap_period_start(rules, row["occurred_at"], person.time_zone)
            history = awarded[row["participant_id"]]
            facts = ParticipantFacts(
                participant_id=person.participant_id,
                segments=person.segments,
                time_zone=person.time_zone,
                birth_date=person.birth_date,
                name_day=person.name_day,
                purchase_count_before=purchases_before.get(row["id"], 0),
                awarded_in_period={
                    offer.pk: sum(amount for at, amount in history if since is None or at >= since)
                },
            )
            outcome = explain(
                _event_facts(row, merchants, categories),
                facts,
                [rules],
                {offer.pk: budget_left},
            )[0]
            award = outcome.award
            if award is not None and row["id"] in best_other:
                other_amount, other_offer_id = best_other[row["id"]]
                if award.amount_minor < other_amount or (
                    award.amount_minor == other_amount and other_offer_id < offer.pk
                ):
                    award = None
                    refusals["not_best_offer"] += 1
                else:
                    report.displaced_awards += 1
            elif award is None:
                refusals[outcome.refusal or "no_award"] += 1
            if award is None:
                continue
            report.awards += 1
            report.total_minor += award.amount_minor
            if award.spend_method == "instant_discount":
                report.instant_discount_minor += award.amount_minor
            history.append((row["occurred_at"], award.amount_minor))
            totals = per_participant[row["participant_id"]]
            totals[0] += 1
            totals[1] += award.amount_minor
            if budget_left is not None:
                budget_left -= award.amount_minor
                if budget_left <= 0 and report.budget_exhausted_at is None:
                    report.budget_exhausted_at = row["occurred_at"]
    report.budget_used_minor = report.total_minor if report.budget_total_minor else 0
    report.participants_awarded = len(per_participant)
    report.refusals = dict(refusals.most_common())
    ranked = sorted(per_participant.items(), key=lambda item: (-item[1][1], item[0]))[:top]
    labels = {
        participant.pk: str(participant.customer)
        for participant in Participant.objects.filter(
            pk__in=[participant_id for participant_id, _totals in ranked]
        ).select_related("customer")
    }
    report.top_participants = [
        ParticipantTotal(participant_id, labels.get(participant_id, ""), totals[0], totals[1])
        for participant_id, totals in ranked
    ]


def _events(
    scheme_id: int, event_type: str, since: datetime, until: datetime
) -> Iterator[list[dict[str, Any]]]:
    """The events in id order, a chunk at a time (keyset pagination)."""
    after = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT id, participant_id, merchant_id, type, occurred_at, received_at,
                       total_minor, payload
                  FROM rewards_customerevent
                 WHERE scheme_id = %s AND type = %s AND occurred_at >= %s AND occurred_at < %s
                   AND id > %s
                 ORDER BY id LIMIT %s
                """,
                [scheme_id, event_type, since, until, after, _CHUNK],
            )
            columns = [column[0] for column in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        if not rows:
            return
        for row in rows:
            payload = row["payload"]
            row["payload"] = json.loads(payload) if isinstance(payload, str) else payload
        yield rows
        after = rows[-1]["id"]


def _load_people(people: dict[int, ParticipantFacts], ids: set[int], default_zone: str) -> None:
    missing = ids - people.keys()
    for participant in Participant.objects.filter(pk__in=missing).only(
        "pk", "segments", "time_zone", "birth_date", "name_day_month", "name_day_day"
    ):
        people[participant.pk] = ParticipantFacts(
            participant_id=participant.pk,
            segments=frozenset(participant.segments or ()),
            time_zone=participant.time_zone or default_zone,
            birth_date=participant.birth_date,
            name_day=participant.name_day,
        )


def _merchants(scheme_id: int) -> dict[int, tuple[str, str, frozenset[str]]]:
    """Every merchant of the scheme's events: id -> (code, area, group codes)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT m.id, m.code, m.area,
                   COALESCE(array_agg(g.code) FILTER (WHERE g.code IS NOT NULL), '{}')
              FROM rewards_merchant m
              LEFT JOIN rewards_merchant_groups mg ON mg.merchant_id = m.id
              LEFT JOIN rewards_merchantgroup g ON g.id = mg.merchantgroup_id
             WHERE m.id IN (SELECT merchant_id FROM rewards_schememerchant WHERE scheme_id = %s)
                OR m.id IN (SELECT DISTINCT merchant_id FROM rewards_customerevent
                             WHERE scheme_id = %s AND merchant_id IS NOT NULL)
             GROUP BY m.id
            """,
            [scheme_id, scheme_id],
        )
        return {row[0]: (row[1], row[2], frozenset(row[3])) for row in cursor.fetchall()}


def _categories(client_id: int, chunk: list[dict[str, Any]]) -> dict[str, frozenset[str]]:
    codes = {line["product"] for row in chunk for line in row["payload"].get("lines", [])}
    return _product_categories(client_id, codes) if codes else {}


def _purchases_before(event_ids: list[int]) -> dict[int, int]:
    """For each purchase event, how many purchases its participant made before it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.id, (SELECT count(*) FROM rewards_customerevent x
                           WHERE x.participant_id = e.participant_id AND x.type = 'purchase'
                             AND x.id < e.id)
              FROM rewards_customerevent e WHERE e.id = ANY(%s)
            """,
            [event_ids],
        )
        return dict(cursor.fetchall())


def _best_only_competitors(offer: Offer, event_type: str) -> list[int]:
    classifications = [
        classification
        for classification, triggered_by in EVENT_TYPE_BY_CLASSIFICATION.items()
        if triggered_by == event_type
    ]
    return list(
        Offer.objects.filter(
            scheme_id=offer.scheme_id,
            status=Offer.Status.EFFECTIVE,
            classification__in=classifications,
            rules__apply_only_if_best=True,
        )
        .exclude(pk=offer.pk)
        .values_list("pk", flat=True)
    )


def _awarded_by(offer_ids: list[int], event_ids: list[int]) -> dict[int, tuple[int, int]]:
    """event id -> (largest amount, its offer id) that ``offer_ids`` awarded for it."""
    if not offer_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT ON (j.event_id) j.event_id, l.amount_minor, l.offer_id
              FROM rewards_journal j JOIN rewards_awardlot l ON l.journal_id = j.id
             WHERE j.event_id = ANY(%s) AND j.kind = 'award' AND l.offer_id = ANY(%s)
             ORDER BY j.event_id, l.amount_minor DESC, l.offer_id
            """,
            [event_ids, offer_ids],
        )
        return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


def _event_facts(
    row: dict[str, Any],
    merchants: dict[int, tuple[str, str, frozenset[str]]],
    categories: dict[str, frozenset[str]],
) -> EventFacts:
    payload = row["payload"]
    code, area, groups = merchants.get(row["merchant_id"], (None, "", frozenset()))
    return EventFacts(
        type=row["type"],
        occurred_at=row["occurred_at"],
        received_at=row["received_at"],
        merchant_code=code,
        merchant_group_codes=groups,
        payment_medium=payload.get("payment_medium"),
        area=payload.get("area") or area or None,
        lines=tuple(
            EventLine(
                product_code=line["product"],
                category_codes=categories.get(line["product"], frozenset()),
                quantity=line["quantity"],
                amount_minor=line["amount_minor"],
            )
            for line in payload.get("lines", [])
        ),
        total_minor=row["total_minor"],
        achievement_code=payload.get("achievement_code"),
    )
