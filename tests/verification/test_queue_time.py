"""A checker's decision stores how long the claim waited in the queue, migration 0004 fills
the older decisions with the same value, and the median time to decision reads it."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from claims.models import ClaimTransition
from tests.verification.factories import checker, proposed_claim
from verification import selectors, services
from verification.models import CheckerDecision

pytestmark = pytest.mark.django_db

backfill = importlib.import_module("verification.migrations.0004_backfill_decision_queue_time")


def decided_after(hours: float, *, decision: str = "confirm", note: str = "") -> CheckerDecision:
    """A claim that entered the queue ``hours`` ago (plus an older submission that must not
    count), decided now by a checker."""
    claim, _proposal = proposed_claim()
    entered = ClaimTransition.objects.get(claim=claim, to_status="submitted")
    ClaimTransition.objects.filter(pk=entered.pk).update(
        occurred_at=timezone.now() - timedelta(hours=hours)
    )
    ClaimTransition.objects.create(
        claim=claim,
        from_status="draft",
        to_status="submitted",
        occurred_at=timezone.now() - timedelta(hours=hours + 100),
    )
    return services.proposal_decide(claim=claim, actor=checker(), decision=decision, note=note)


def expected(decision: CheckerDecision) -> timedelta:
    latest = (
        ClaimTransition.objects.filter(
            claim_id=decision.claim_id, to_status="submitted", occurred_at__lte=decision.decided_at
        )
        .latest("occurred_at")
        .occurred_at
    )
    return decision.decided_at - latest


def test_a_decision_stores_the_claims_time_in_the_queue():
    first = decided_after(30)
    second = decided_after(2.5, decision="send_back", note="Look again.")
    for decision in (first, second):
        stored = CheckerDecision.objects.get(pk=decision.pk).queue_time
        assert stored == expected(decision)
    assert timedelta(hours=30) <= first.queue_time < timedelta(hours=30, minutes=1)
    # Only confirmations count; 30 hours to the hundredth.
    assert selectors.median_time_to_decision() == {"decisions": 1, "median_hours": 30.0}


def test_the_backfill_computes_the_same_queue_time_and_runs_twice():
    decisions = [decided_after(hours) for hours in (1, 7.25, 49)]
    stored = {d.pk: CheckerDecision.objects.get(pk=d.pk).queue_time for d in decisions}
    median = selectors.median_time_to_decision()
    assert median == {"decisions": 3, "median_hours": 7.25}
    CheckerDecision.objects.update(queue_time=None)
    assert selectors.median_time_to_decision() == {"decisions": 3, "median_hours": None}
    for _run in range(2):
        backfill.fill_queue_time(apps, connection.schema_editor())
        assert {d.pk: d.queue_time for d in CheckerDecision.objects.filter(pk__in=stored)} == stored
    assert selectors.median_time_to_decision() == median


def test_a_decision_without_a_submission_keeps_no_queue_time():
    decision = decided_after(3)
    ClaimTransition.objects.filter(claim_id=decision.claim_id, to_status="submitted").delete()
    CheckerDecision.objects.filter(pk=decision.pk).update(queue_time=None)
    backfill.fill_queue_time(apps, connection.schema_editor())
    assert CheckerDecision.objects.get(pk=decision.pk).queue_time is None
    assert selectors.median_time_to_decision() == {"decisions": 1, "median_hours": None}
