"""Races, with real transactions in threads: two checkers confirming at once give one
transition; two verifiers taking at once leave one holder; a prize posted twice at once is
posted once."""

import threading

import pytest
from django.db import connection

from claims.models import ClaimStatus, ClaimTransition
from tests.verification.factories import (
    approved_claim,
    checker,
    fulfiller,
    proposed_claim,
    submitted_claim,
    verifier,
)
from verification import services
from verification.errors import VerificationError
from verification.models import CheckerDecision, ReviewLock

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls):
    """Runs the calls at once, each in its own thread (own connection); returns
    (results, errors) in call order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # the race's loser reports how it lost
            errors[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_two_checkers_confirming_at_once_give_one_transition():
    claim, proposal = proposed_claim()
    first, second = checker(), checker()
    results, errors = race(
        lambda: services.proposal_decide(claim=claim, actor=first, decision="confirm"),
        lambda: services.proposal_decide(claim=claim, actor=second, decision="confirm"),
    )
    winners = [result for result in results if result is not None]
    losers = [error for error in errors if error is not None]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0], VerificationError)
    assert losers[0].code in ("no_proposal", "already_decided")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert ClaimTransition.objects.filter(claim=claim, to_status=ClaimStatus.APPROVED).count() == 1
    assert CheckerDecision.objects.filter(proposal=proposal).count() == 1


def test_two_verifiers_taking_at_once_leave_one_holder():
    claim = submitted_claim()
    first, second = verifier(), verifier()
    results, errors = race(
        lambda: services.review_lock_take(claim=claim, actor=first),
        lambda: services.review_lock_take(claim=claim, actor=second),
    )
    assert sum(result is not None for result in results) == 1
    assert [error.code for error in errors if error is not None] == ["locked"]
    holder = next(result for result in results if result is not None).holder_id
    assert list(ReviewLock.objects.values_list("holder_id", flat=True)) == [holder]
    assert ClaimTransition.objects.filter(claim=claim, to_status=ClaimStatus.IN_REVIEW).count() == 1


def test_points_posted_twice_at_once_are_posted_once(points_prize):
    from rewards.models import Journal

    claim, _decision = approved_claim(prize=points_prize)
    helpdesk = fulfiller()
    batch = services.fulfilment_release(claim_ids=[claim.pk], actor=helpdesk)
    item = batch.items.get()
    _results, errors = race(
        lambda: services.fulfilment_item_complete(item=item, actor=helpdesk),
        lambda: services.fulfilment_item_complete(item=item, actor=helpdesk),
    )
    assert errors == [None, None]
    assert Journal.objects.filter(idempotency_key=f"claim:{claim.pk}:prize").count() == 1
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DELIVERED
