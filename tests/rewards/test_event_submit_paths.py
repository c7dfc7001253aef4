"""event_submit's fewer round trips: the cap sums read with the event's insert from the
offers this process saw last (and read again when the offers changed), and replays found
by the insert's conflict rather than a look before it."""

from datetime import UTC, datetime

import pytest

from rewards.models import CustomerEvent, Journal, Participant
from rewards.services import events as events_service
from rewards.services.errors import IdempotencyConflict, ParticipantNotEffective
from rewards.services.events import EventInput, LineInput, event_submit
from rewards.services.participants import participant_terminate
from tests.rewards.factories import OfferFactory, SchemeFactory, make_participant, merchant_in

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def purchase(participant, merchant, external_id, total=1000, **fields):
    return EventInput(
        source="pos-1",
        external_id=external_id,
        type="purchase",
        participant_id=participant.pk,
        occurred_at=fields.pop("occurred_at", WHEN),
        merchant=merchant,
        lines=(LineInput("SKU1", 1, total),),
        total_minor=total,
        **fields,
    )


def capped(amount):
    return {
        "award": {"type": "percentage", "basis_points": 1000},
        "participant_cap": {"period": "month", "amount_minor": amount},
    }


def amounts(response):
    return [award["amount_minor"] for award in response["awards"]]


@pytest.fixture
def separate_cap_reads(monkeypatch):
    """Counts the cap sums read by their own statement (not with the insert)."""
    calls = []
    original = events_service._awarded_in_period

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(events_service, "_awarded_in_period", counted)
    return calls


@pytest.fixture(autouse=True)
def forget_seen_offers():
    events_service._offers_seen.clear()
    yield
    events_service._offers_seen.clear()


def test_caps_read_with_the_insert_cut_awards_exactly(
    scheme, merchant, participant, separate_cap_reads
):
    OfferFactory(scheme=scheme, rules=capped(250))

    first, _ = event_submit(event=purchase(participant, merchant, "r1"))  # learns the offers
    second, _ = event_submit(event=purchase(participant, merchant, "r2"))  # caps read at once
    third, _ = event_submit(event=purchase(participant, merchant, "r3"))

    assert amounts(first) == [100]
    assert amounts(second) == [100]
    assert amounts(third) == [50]
    assert first["balance_minor"] + 150 == third["balance_minor"] == 250
    assert len(separate_cap_reads) == 1  # only the first event, before the offers were seen


def test_a_cap_changed_since_the_last_event_is_read_again(
    scheme, merchant, participant, separate_cap_reads
):
    offer = OfferFactory(scheme=scheme, rules=capped(1000))
    event_submit(event=purchase(participant, merchant, "r1"))
    event_submit(event=purchase(participant, merchant, "r2"))
    assert len(separate_cap_reads) == 1
    offer.rules = capped(250)
    offer.save(update_fields=["rules"])

    response, _ = event_submit(event=purchase(participant, merchant, "r3"))

    assert amounts(response) == [50]
    assert response["balance_minor"] == 250
    assert len(separate_cap_reads) == 2


def test_a_capped_offer_made_effective_since_the_last_event_is_capped(
    scheme, merchant, participant
):
    OfferFactory(scheme=scheme, rules={"award": {"type": "fixed", "amount_minor": 7}})
    event_submit(event=purchase(participant, merchant, "r1"))
    event_submit(event=purchase(participant, merchant, "r2"))
    late = OfferFactory(scheme=scheme, rules=capped(150))

    third, _ = event_submit(event=purchase(participant, merchant, "r3"))
    fourth, _ = event_submit(event=purchase(participant, merchant, "r4"))

    by_offer = {award["offer"]: award["amount_minor"] for award in fourth["awards"]}
    assert {award["offer"]: award["amount_minor"] for award in third["awards"]}[late.pk] == 100
    assert by_offer[late.pk] == 50
    assert fourth["balance_minor"] == 4 * 7 + 150


def test_caps_are_per_wallet_and_per_cap_period(scheme, merchant):
    OfferFactory(scheme=scheme, rules=capped(100))
    eva, olle = make_participant(scheme), make_participant(scheme)

    event_submit(event=purchase(eva, merchant, "e1"))
    olle_first, _ = event_submit(event=purchase(olle, merchant, "o1"))
    eva_capped, _ = event_submit(event=purchase(eva, merchant, "e2"))
    next_month, _ = event_submit(
        event=purchase(eva, merchant, "e3", occurred_at=datetime(2026, 12, 10, 10, tzinfo=UTC))
    )

    assert amounts(olle_first) == [100]
    assert amounts(eva_capped) == []
    assert amounts(next_month) == [100]


def test_a_replay_answers_first_and_other_content_is_refused(scheme, merchant, participant):
    OfferFactory(scheme=scheme)
    first, created = event_submit(event=purchase(participant, merchant, "r1"))

    again, created_again = event_submit(event=purchase(participant, merchant, "r1"))
    with pytest.raises(IdempotencyConflict):
        event_submit(event=purchase(participant, merchant, "r1", total=2000))

    assert created is True
    assert created_again is False
    assert again == first
    assert CustomerEvent.objects.filter(source="pos-1").count() == 1
    assert Journal.objects.filter(event__source="pos-1").count() == 1
    participant.refresh_from_db()
    assert participant.purchase_count == 1


def test_a_replay_of_a_since_terminated_participant_still_answers_first(
    scheme, merchant, participant
):
    OfferFactory(scheme=scheme)
    first, _ = event_submit(event=purchase(participant, merchant, "r1"))
    participant_terminate(participant=participant, reason="customer_request", actor="tests")

    again, created = event_submit(event=purchase(participant, merchant, "r1"))
    with pytest.raises(ParticipantNotEffective):
        event_submit(event=purchase(participant, merchant, "r2"))

    assert created is False
    assert again == first
    assert not CustomerEvent.objects.filter(external_id="r2").exists()


def test_a_key_reused_for_another_schemes_participant_is_a_conflict(scheme, merchant, participant):
    event_submit(event=purchase(participant, merchant, "r1"))
    stranger = make_participant(SchemeFactory())

    with pytest.raises(IdempotencyConflict):
        event_submit(event=purchase(stranger, merchant, "r1"))
    with pytest.raises(Participant.DoesNotExist):
        event_submit(event=purchase(stranger, merchant, "r2"))
    other_merchant = merchant_in(SchemeFactory())
    with pytest.raises(Participant.DoesNotExist):
        event_submit(event=purchase(participant, other_merchant, "r3"))
