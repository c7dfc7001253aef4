"""A stateful property test of the ledger: random sequences of purchases (awards), spends,
refunds, time passing, expiration runs, reversals and replays keep every invariant."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from rewards.models import Account, CustomerEvent, Journal, Scheme
from rewards.services.errors import InsufficientFunds, ReversalNotAllowed
from rewards.services.events import EventInput, event_submit
from rewards.services.ledger import journal_reverse, lots_expire
from rewards.services.spends import spend_create
from tests.rewards.conftest import assert_ledger_consistent
from tests.rewards.factories import OfferFactory, SchemeFactory, make_participant, merchant_in

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class LedgerMachine(RuleBasedStateMachine):
    purchases = Bundle("purchases")
    spends = Bundle("spends")

    def __init__(self) -> None:
        super().__init__()
        self.clock = time_machine.travel(START, tick=False)
        self.traveller = self.clock.start()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.now = START
        self.sequence = 0

    @initialize(policy=st.sampled_from(Scheme.ReturnPolicy.values))
    def set_up(self, policy: str) -> None:
        self.scheme = SchemeFactory(return_policy=policy, time_zone="UTC")
        self.merchant = merchant_in(self.scheme)
        self.participants = [make_participant(self.scheme) for _ in range(2)]
        OfferFactory(scheme=self.scheme)  # 10% of the total, at once, never expiring
        OfferFactory(
            scheme=self.scheme,
            rules={
                "award": {"type": "fixed", "amount_minor": 20},
                "award_validity": {"available_after_days": 1, "expires_after_days": 3},
            },
        )

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)
        self.clock.stop()

    def _next(self, prefix: str) -> str:
        self.sequence += 1
        return f"{prefix}-{self.sequence}"

    def _balances(self) -> list[int]:
        return [
            Account.objects.get(participant=participant).balance_minor
            for participant in self.participants
        ]

    @rule(target=purchases, who=st.integers(0, 1), total=st.integers(0, 3000))
    def purchase(self, who: int, total: int):
        event = EventInput(
            source="pos",
            external_id=self._next("p"),
            type="purchase",
            participant_id=self.participants[who].pk,
            occurred_at=self.now,
            merchant=self.merchant,
            total_minor=total,
        )
        body, created = event_submit(event=event)
        assert created
        return event, body

    @rule(purchase=purchases)
    def replay_purchase(self, purchase) -> None:
        event, first = purchase
        entries = Journal.objects.count()
        body, created = event_submit(event=event)
        assert not created
        assert body == first
        assert Journal.objects.count() == entries

    @rule(purchase=purchases, share=st.integers(1, 100))
    def refund(self, purchase, share: int) -> None:
        event, _body = purchase
        if event.total_minor == 0:
            return
        event_submit(
            event=EventInput(
                source="pos",
                external_id=self._next("r"),
                type="refund",
                participant_id=event.participant_id,
                occurred_at=self.now,
                merchant=self.merchant,
                total_minor=max(1, event.total_minor * share // 100),
                original_external_id=event.external_id,
            )
        )

    @rule(target=spends, who=st.integers(0, 1), amount=st.integers(1, 400))
    def spend(self, who: int, amount: int):
        key = self._next("s")
        before = self._balances()
        journals = Journal.objects.count()
        try:
            body, created = spend_create(
                participant_id=self.participants[who].pk,
                amount_minor=amount,
                merchant=self.merchant,
                idempotency_key=key,
            )
        except InsufficientFunds:
            assert self._balances() == before
            assert Journal.objects.count() == journals
            return multiple()
        assert created
        assert body["balance_minor"] == before[who] - amount
        return key, who, amount, body

    @rule(spend=spends)
    def replay_spend(self, spend) -> None:
        key, who, amount, first = spend
        journals = Journal.objects.count()
        body, created = spend_create(
            participant_id=self.participants[who].pk,
            amount_minor=amount,
            merchant=self.merchant,
            idempotency_key=key,
        )
        assert (created, body) == (False, first)
        assert Journal.objects.count() == journals

    @rule(spend=spends)
    def reverse_spend(self, spend) -> None:
        journal = Journal.objects.get(pk=spend[3]["id"])
        try:
            journal_reverse(journal=journal, actor="property test", reason="random")
        except ReversalNotAllowed:
            assert Journal.objects.filter(reverses=journal).exists()

    @rule(purchase=purchases)
    def reverse_award(self, purchase) -> None:
        _event, body = purchase
        journal = Journal.objects.filter(event_id=body["id"], kind="award").first()
        if journal is None:
            return
        balance = self._balances()
        try:
            journal_reverse(journal=journal, actor="property test", reason="random")
        except ReversalNotAllowed:
            assert self._balances() == balance

    @rule(hours=st.integers(1, 72))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)
        self.traveller.move_to(self.now)

    @rule()
    def expiration_run(self) -> None:
        lots_expire(scheme_id=self.scheme.pk, at=self.now)
        again = lots_expire(scheme_id=self.scheme.pk, at=self.now)
        assert (again.wallets, again.amount_minor) == (0, 0)

    @invariant()
    def ledger_is_consistent(self) -> None:
        if not hasattr(self, "scheme"):
            return
        assert_ledger_consistent()
        if self.scheme.return_policy != Scheme.ReturnPolicy.ALLOW_NEGATIVE:
            assert min(self._balances()) >= 0
        assert CustomerEvent.objects.filter(status="queued").count() == 0


@pytest.mark.django_db
def test_ledger_invariants_hold_over_random_histories():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=200,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.mark.django_db
def test_spend_reversal_while_in_debt_pays_the_debt_before_reopening_lots():
    """Found by the stateful test (allow_negative): a refund overdraws the wallet after a
    spend; reversing that spend must first pay back the debt and re-open only what is left
    above zero (else the lots held 99 while the balance was 87)."""
    machine = LedgerMachine()

    def step(rule, **kwargs):
        result = rule(**kwargs)
        machine.ledger_is_consistent()
        return result

    try:
        step(machine.set_up, policy="allow_negative")
        for _ in range(3):
            step(machine.expiration_run)
        purchases_0 = step(machine.purchase, total=1707, who=1)
        step(machine.replay_purchase, purchase=purchases_0)
        step(machine.time_passes, hours=15)
        step(machine.expiration_run)
        step(machine.refund, purchase=purchases_0, share=44)
        step(machine.spend, amount=100, who=1)
        step(machine.purchase, total=672, who=1)
        spends_0 = step(machine.spend, amount=99, who=1)
        assert isinstance(spends_0, tuple), "the spend of 99 must succeed"
        step(machine.spend, amount=395, who=0)
        step(machine.refund, purchase=purchases_0, share=100)
        step(machine.time_passes, hours=9)
        step(machine.replay_spend, spend=spends_0)
        step(machine.spend, amount=236, who=0)
        step(machine.replay_spend, spend=spends_0)
        step(machine.refund, purchase=purchases_0, share=1)
        step(machine.time_passes, hours=7)
        assert machine._balances()[1] < 0, "the refunds must have overdrawn the wallet"
        step(machine.reverse_spend, spend=spends_0)
    finally:
        machine.teardown()
