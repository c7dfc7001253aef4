"""The ledger's services against the real database: awards, FIFO spends, reversals,
expiration, refunds under each return policy and duplicate termination."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import AuditEvent
from rewards.models import Account, AwardLot, CustomerEvent, Entry, Journal, Participant, Scheme
from rewards.services.errors import (
    AlreadyParticipant,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidRequest,
    ParticipantNotEffective,
    ReversalNotAllowed,
)
from rewards.services.events import EventInput, event_submit
from rewards.services.ledger import journal_reverse, lots_expire
from rewards.services.participants import participant_terminate
from rewards.services.spends import spend_create
from tests.crm.factories import UserFactory
from tests.rewards.conftest import (
    assert_ledger_consistent,
    award,
    balance_of,
    lots_of,
    purchase,
    refund,
    wallet_of,
)
from tests.rewards.factories import OfferFactory, make_participant, merchant_in

pytestmark = pytest.mark.django_db


def spend(participant, merchant, amount_minor, key, **kwargs):
    return spend_create(
        participant_id=participant.pk,
        amount_minor=amount_minor,
        merchant=merchant,
        idempotency_key=key,
        **kwargs,
    )


# ---------------------------------------------------------------- participants


def test_join_opens_an_empty_wallet_and_the_scheme_accounts(scheme):
    participant = make_participant(scheme)

    wallet = wallet_of(participant)
    assert wallet.balance_minor == 0
    assert wallet.allows_negative_balance is False
    assert set(
        Account.objects.filter(scheme=scheme, participant__isnull=True).values_list(
            "kind", flat=True
        )
    ) == {"points_issued", "points_redeemed", "points_expired", "merchant_contributions"}
    assert CustomerEvent.objects.get(participant=participant).type == "sign_up"
    assert AuditEvent.objects.filter(action="participant.join", object_id=participant.pk).exists()


def test_a_customer_joins_a_scheme_once(scheme, participant):
    with pytest.raises(AlreadyParticipant):
        make_participant(scheme, customer=participant.customer)

    assert Participant.objects.filter(scheme=scheme).count() == 1


def test_reference_code_is_required_and_validated_when_the_scheme_says_so(scheme):
    scheme.requires_reference_code = True
    scheme.reference_code_pattern = r"S\d{6}"
    scheme.save()

    with pytest.raises(InvalidRequest, match="requires a reference code"):
        make_participant(scheme)
    with pytest.raises(InvalidRequest, match="not valid"):
        make_participant(scheme, reference_code="X123")
    assert make_participant(scheme, reference_code="S123456").reference_code == "S123456"


# ---------------------------------------------------------------- awards from events


def test_purchase_awards_the_offer_into_a_lot(scheme, merchant, participant):
    offer = OfferFactory(scheme=scheme)

    response = purchase(participant, merchant, 1000, external_id="r1")

    assert response["status"] == "processed"
    assert [(a["offer"], a["amount_minor"]) for a in response["awards"]] == [(offer.pk, 100)]
    assert response["balance_minor"] == 100
    assert balance_of(participant) == 100
    [lot] = lots_of(participant)
    assert (lot.amount_minor, lot.remaining_minor, lot.offer_id) == (100, 100, offer.pk)
    journal = Journal.objects.get(kind="award")
    assert sorted(journal.entries.values_list("amount_minor", flat=True)) == [-100, 100]
    assert Participant.objects.get(pk=participant.pk).purchase_count == 1
    assert_ledger_consistent()


def test_replayed_event_returns_the_first_answer_and_posts_nothing(scheme, merchant, participant):
    OfferFactory(scheme=scheme)
    event = EventInput(
        source="pos",
        external_id="r1",
        type="purchase",
        participant_id=participant.pk,
        occurred_at=timezone.now(),
        merchant=merchant,
        total_minor=1000,
    )
    first, created = event_submit(event=event)
    entries = Entry.objects.count()

    again, created_again = event_submit(event=event)

    assert (created, created_again) == (True, False)
    assert again == first
    assert Entry.objects.count() == entries
    assert balance_of(participant) == 100


def test_same_event_key_with_other_content_is_refused(scheme, merchant, participant):
    OfferFactory(scheme=scheme)
    purchase(participant, merchant, 1000, external_id="r1")

    with pytest.raises(IdempotencyConflict):
        purchase(participant, merchant, 2000, external_id="r1")

    assert balance_of(participant) == 100
    assert CustomerEvent.objects.filter(type="purchase").count() == 1


def test_offer_budget_is_never_exceeded(scheme, merchant, participant):
    OfferFactory(scheme=scheme, budget_total_minor=150)

    first = purchase(participant, merchant, 1000)
    second = purchase(participant, merchant, 1000)
    third = purchase(participant, merchant, 1000)

    assert [a["amount_minor"] for a in first["awards"]] == [100]
    assert [a["amount_minor"] for a in second["awards"]] == [50]
    assert third["awards"] == []
    assert balance_of(participant) == 150


def test_participant_cap_per_period(scheme, merchant, participant):
    OfferFactory(
        scheme=scheme,
        rules={
            "award": {"type": "percentage", "basis_points": 1000},
            "participant_cap": {"period": "day", "amount_minor": 150},
        },
    )

    amounts = [purchase(participant, merchant, 1000)["awards"] for _ in range(3)]

    assert [[a["amount_minor"] for a in awards] for awards in amounts] == [[100], [50], []]


def test_pending_award_waits_for_its_return_window(scheme, merchant, participant):
    OfferFactory(
        scheme=scheme,
        rules={
            "award": {"type": "fixed", "amount_minor": 100},
            "award_validity": {"available_after_days": 14, "expires_after_days": 365},
        },
    )
    purchase(participant, merchant, 1000)

    with pytest.raises(InsufficientFunds):
        spend(participant, merchant, 10, "k1")

    [lot] = lots_of(participant)
    assert lot.available_from > timezone.now() + timedelta(days=13)
    assert balance_of(participant) == 100


def test_instant_discount_is_spent_on_the_same_purchase(scheme, merchant, participant):
    OfferFactory(
        scheme=scheme,
        rules={"award": {"type": "fixed", "amount_minor": 50}, "spend_method": "instant_discount"},
    )

    response = purchase(participant, merchant, 1000)

    assert response["instant_discount_minor"] == 50
    assert balance_of(participant) == 0
    [lot] = lots_of(participant)
    assert (lot.consumed_minor, lot.spend_method) == (50, "instant_discount")
    assert_ledger_consistent()


def test_referrer_is_rewarded_when_the_referred_is_first_rewarded(
    scheme, merchant, django_capture_on_commit_callbacks
):
    OfferFactory(scheme=scheme)
    OfferFactory(
        scheme=scheme,
        classification="referral",
        rules={"award": {"type": "fixed", "amount_minor": 25}},
    )
    referrer = make_participant(scheme)
    referred = make_participant(scheme, referred_by=referrer)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        purchase(referred, merchant, 1000)
        purchase(referred, merchant, 1000)

    assert len(callbacks) == 1
    assert balance_of(referrer) == 25
    assert CustomerEvent.objects.get(type="referral").status == "processed"
    assert balance_of(referred) == 200


def test_sign_up_offer_rewards_a_new_participant(scheme):
    OfferFactory(
        scheme=scheme,
        classification="sign_up",
        rules={"award": {"type": "fixed", "amount_minor": 30}},
    )

    participant = make_participant(scheme)

    assert balance_of(participant) == 30


# ---------------------------------------------------------------- spends


def test_spend_consumes_lots_soonest_to_expire_first(scheme, merchant, participant):
    award(participant, 50, expires_in_days=10)
    award(participant, 30, expires_in_days=5)
    award(participant, 100)

    result, created = spend(participant, merchant, 60, "k1")

    assert created is True
    assert result["balance_minor"] == 120
    later, sooner, never = lots_of(participant)
    assert (sooner.consumed_minor, later.consumed_minor, never.consumed_minor) == (30, 30, 0)
    assert balance_of(participant) == 120
    assert_ledger_consistent()


def test_spend_without_enough_funds_posts_nothing(scheme, merchant, participant):
    award(participant, 50)
    journals = Journal.objects.count()

    with pytest.raises(InsufficientFunds, match="50 available"):
        spend(participant, merchant, 60, "k1")

    assert Journal.objects.count() == journals
    assert balance_of(participant) == 50
    assert lots_of(participant)[0].consumed_minor == 0


def test_spend_replay_returns_the_first_result(scheme, merchant, participant):
    award(participant, 100)
    first, _ = spend(participant, merchant, 30, "k1")
    spend(participant, merchant, 10, "k2")

    again, created = spend(participant, merchant, 30, "k1")

    assert created is False
    assert again == first
    assert first["balance_minor"] == 70
    assert balance_of(participant) == 60
    with pytest.raises(IdempotencyConflict):
        spend(participant, merchant, 31, "k1")


def test_a_merchant_outside_the_scheme_cannot_spend(scheme, participant):
    award(participant, 100)
    outsider = merchant_in(make_participant.__globals__["SchemeFactory"]())

    with pytest.raises(Participant.DoesNotExist):
        spend(participant, outsider, 10, "k1")


def test_terminated_participant_cannot_spend(scheme, merchant, participant):
    award(participant, 100)
    participant_terminate(participant=participant, reason="fraud", actor="tests")

    with pytest.raises(ParticipantNotEffective):
        spend(participant, merchant, 10, "k1")


def test_spend_conditions_of_an_offer_limit_where_its_lots_are_spent(scheme, merchant, participant):
    other = merchant_in(scheme)
    offer = OfferFactory(
        scheme=scheme,
        rules={
            "award": {"type": "fixed", "amount_minor": 100},
            "spend_conditions": {"merchants": [other.code]},
        },
    )
    award(participant, 100, offer=offer)

    from rewards.services.errors import SpendNotAllowed

    with pytest.raises(SpendNotAllowed):
        spend(participant, merchant, 10, "k1")
    result, _ = spend(participant, other, 10, "k2")
    assert result["balance_minor"] == 90


# ---------------------------------------------------------------- reversals


def test_reversing_a_spend_gives_its_lots_back(scheme, merchant, participant):
    award(participant, 100)
    result, _ = spend(participant, merchant, 40, "k1")
    user = UserFactory()

    reversal = journal_reverse(
        journal=Journal.objects.get(pk=result["id"]), actor=user, reason="till error"
    )

    assert reversal.reverses_id == result["id"]
    assert balance_of(participant) == 100
    assert lots_of(participant)[0].consumed_minor == 0
    assert AuditEvent.objects.filter(action="ledger.reverse").count() == 1
    with pytest.raises(ReversalNotAllowed):
        journal_reverse(journal=Journal.objects.get(pk=result["id"]), actor=user, reason="again")
    assert_ledger_consistent()


def test_reversing_an_award_voids_its_untouched_lot(scheme, merchant, participant):
    posted = award(participant, 100)

    journal_reverse(journal=Journal.objects.get(pk=posted.journal_id), actor="tests", reason="x")

    assert balance_of(participant) == 0
    assert lots_of(participant)[0].reversed_minor == 100
    assert_ledger_consistent()


def test_an_award_already_spent_from_cannot_be_reversed(scheme, merchant, participant):
    posted = award(participant, 100)
    spend(participant, merchant, 1, "k1")

    with pytest.raises(ReversalNotAllowed):
        journal_reverse(
            journal=Journal.objects.get(pk=posted.journal_id), actor="tests", reason="x"
        )

    assert balance_of(participant) == 99


def test_reversing_a_spend_while_overdrawn_first_pays_back_the_debt(scheme, merchant, participant):
    _policy(scheme, Scheme.ReturnPolicy.ALLOW_NEGATIVE)
    OfferFactory(scheme=scheme)
    purchase(participant, merchant, 1000, external_id="buy")  # a lot of 100
    result, _ = spend(participant, merchant, 60, "k1")
    refund(participant, merchant, 500, original_external_id="buy")  # takes 40 and 10 more
    assert balance_of(participant) == -10

    journal_reverse(journal=Journal.objects.get(pk=result["id"]), actor="tests", reason="x")

    assert balance_of(participant) == 50
    [lot] = lots_of(participant)
    assert (lot.consumed_minor, lot.reversed_minor, lot.remaining_minor) == (10, 40, 50)
    assert_ledger_consistent()


# ---------------------------------------------------------------- expiration


def test_expiration_expires_what_is_left_once_per_wallet(scheme, merchant, participant):
    award(participant, 50, expires_in_days=5)
    award(participant, 30, expires_in_days=6)
    award(participant, 20, expires_in_days=30)
    spend(participant, merchant, 10, "k1")
    at = timezone.now() + timedelta(days=7)

    result = lots_expire(scheme_id=scheme.pk, at=at)
    again = lots_expire(scheme_id=scheme.pk, at=at)

    assert (result.wallets, result.amount_minor) == (1, 70)
    assert (again.wallets, again.amount_minor) == (0, 0)
    assert balance_of(participant) == 20
    assert Journal.objects.filter(kind="expiration").count() == 1
    assert_ledger_consistent()


# ---------------------------------------------------------------- refunds


def _policy(scheme, policy):
    scheme.return_policy = policy
    scheme.save(update_fields=["return_policy"])


def test_refund_within_balance_takes_back_only_what_is_left(scheme, merchant, participant):
    _policy(scheme, Scheme.ReturnPolicy.WITHIN_BALANCE)
    OfferFactory(scheme=scheme)
    purchase(participant, merchant, 1000, external_id="buy")
    spend(participant, merchant, 80, "k1")

    response = refund(participant, merchant, 1000, original_external_id="buy")

    assert (response["clawback_demanded_minor"], response["clawback_minor"]) == (100, 20)
    assert balance_of(participant) == 0
    assert_ledger_consistent()


def test_partial_refunds_take_back_proportional_shares(scheme, merchant, participant):
    OfferFactory(scheme=scheme)
    purchase(participant, merchant, 1000, external_id="buy")

    first = refund(participant, merchant, 300, original_external_id="buy")
    second = refund(participant, merchant, 700, original_external_id="buy")
    third = refund(participant, merchant, 100, original_external_id="buy")

    assert [r["clawback_minor"] for r in (first, second, third)] == [30, 70, 0]
    assert balance_of(participant) == 0


def test_refund_pending_only_leaves_available_awards(scheme, merchant, participant):
    _policy(scheme, Scheme.ReturnPolicy.PENDING_ONLY)
    OfferFactory(scheme=scheme)
    purchase(participant, merchant, 1000, external_id="buy")

    response = refund(participant, merchant, 1000, original_external_id="buy")

    assert (response["clawback_demanded_minor"], response["clawback_minor"]) == (100, 0)
    assert balance_of(participant) == 100


def test_refund_pending_only_takes_back_a_pending_award(scheme, merchant, participant):
    _policy(scheme, Scheme.ReturnPolicy.PENDING_ONLY)
    OfferFactory(
        scheme=scheme,
        rules={
            "award": {"type": "percentage", "basis_points": 1000},
            "award_validity": {"available_after_days": 14},
        },
    )
    purchase(participant, merchant, 1000, external_id="buy")

    response = refund(participant, merchant, 500, original_external_id="buy")

    assert response["clawback_minor"] == 50
    assert balance_of(participant) == 50
    assert lots_of(participant)[0].reversed_minor == 50


def test_refund_allow_negative_overdraws_and_future_awards_recover(scheme, merchant, participant):
    _policy(scheme, Scheme.ReturnPolicy.ALLOW_NEGATIVE)
    OfferFactory(scheme=scheme)
    purchase(participant, merchant, 1000, external_id="buy")
    spend(participant, merchant, 80, "k1")

    response = refund(participant, merchant, 1000, original_external_id="buy")

    assert response["clawback_minor"] == 100
    assert balance_of(participant) == -80
    assert wallet_of(participant).allows_negative_balance is True
    with pytest.raises(InsufficientFunds):
        spend(participant, merchant, 1, "k2")

    purchase(participant, merchant, 1000)

    assert balance_of(participant) == 20
    assert lots_of(participant)[-1].remaining_minor == 20
    assert_ledger_consistent()


def test_refund_of_an_unknown_purchase_is_refused(scheme, merchant, participant):
    with pytest.raises(InvalidRequest):
        refund(participant, merchant, 100, original_external_id="nope")


# ---------------------------------------------------------------- termination


def test_duplicate_termination_transfers_the_balance_in_one_journal(scheme, merchant):
    duplicate = make_participant(scheme)
    survivor = make_participant(scheme)
    award(duplicate, 70, expires_in_days=10)
    award(duplicate, 30)
    spend(duplicate, merchant, 20, "k1")
    user = UserFactory()

    participant_terminate(
        participant=duplicate,
        reason="duplicate",
        actor=user,
        replaced_by=survivor,
        transfer_balance=True,
    )

    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.termination_reason) == ("terminated", "duplicate")
    assert duplicate.replaced_by_id == survivor.pk
    assert (balance_of(duplicate), balance_of(survivor)) == (0, 80)
    transfer = Journal.objects.get(kind="transfer")
    assert transfer.entries.count() == 4
    moved = lots_of(survivor)
    assert [(lot.amount_minor, lot.expires_at is not None) for lot in moved] == [
        (50, True),
        (30, False),
    ]
    event = AuditEvent.objects.get(action="participant.terminate")
    assert event.after["transferred_minor"] == 80
    assert_ledger_consistent()


def test_duplicate_transfer_into_an_overdrawn_survivor_first_pays_back_the_debt(scheme, merchant):
    _policy(scheme, Scheme.ReturnPolicy.ALLOW_NEGATIVE)
    OfferFactory(scheme=scheme)
    duplicate = make_participant(scheme)
    survivor = make_participant(scheme)
    purchase(survivor, merchant, 1000, external_id="buy")
    spend(survivor, merchant, 80, "k1")
    refund(survivor, merchant, 1000, original_external_id="buy")
    assert balance_of(survivor) == -80
    award(duplicate, 70, expires_in_days=10)
    award(duplicate, 30)

    participant_terminate(
        participant=duplicate,
        reason="duplicate",
        actor="tests",
        replaced_by=survivor,
        transfer_balance=True,
    )

    assert (balance_of(duplicate), balance_of(survivor)) == (0, 20)
    moved = lots_of(survivor)[1:]
    assert [(lot.amount_minor, lot.consumed_minor) for lot in moved] == [(70, 70), (30, 10)]
    assert_ledger_consistent()


def test_termination_reasons_are_checked(scheme, participant):
    other = make_participant(scheme)
    with pytest.raises(InvalidRequest):
        participant_terminate(participant=participant, reason="bored", actor="tests")
    with pytest.raises(InvalidRequest):
        participant_terminate(participant=participant, reason="duplicate", actor="tests")
    with pytest.raises(InvalidRequest):
        participant_terminate(
            participant=participant, reason="fraud", actor="tests", replaced_by=other
        )
    participant.refresh_from_db()
    assert participant.status == "effective"


def test_terminated_participant_earns_nothing(scheme, merchant, participant):
    OfferFactory(scheme=scheme)
    participant_terminate(participant=participant, reason="customer_request", actor="tests")

    with pytest.raises(ParticipantNotEffective):
        purchase(participant, merchant, 1000)

    assert AwardLot.objects.count() == 0
