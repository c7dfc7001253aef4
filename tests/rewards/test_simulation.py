"""Offer simulation: a draft offer dry-run over the last N days of real events reports what it
would have awarded, and posts nothing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from rewards.models import Account, AwardLot, CustomerEvent, Entry, Journal, Offer
from rewards.services.errors import InvalidRequest
from rewards.services.simulation import offer_simulate
from tests.rewards.conftest import purchase
from tests.rewards.factories import OfferFactory, SchemeFactory, make_participant, merchant_in

DRAFT_RULES = {
    "conditions": {"min_spend_minor": 1000},
    "award": {"type": "fixed", "amount_minor": 500},
    "participant_cap": {"period": "lifetime", "amount_minor": 1000},
}


def ledger_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(sum(balance_minor), 0) FROM rewards_account")
        balances = cursor.fetchone()[0]
    return {
        "journals": Journal.objects.count(),
        "entries": Entry.objects.count(),
        "lots": AwardLot.objects.count(),
        "accounts": Account.objects.count(),
        "events": CustomerEvent.objects.count(),
        "balances": balances,
        "budget_used": sum(Offer.objects.values_list("budget_used_minor", flat=True)),
    }


@pytest.fixture
def history(db):
    """Seven purchases in the last week (one 40 days ago), already rewarded by a live 10%
    offer, and a draft offer: 500 per purchase of at least 1000, at most 1000 per
    participant, budget 2000."""
    scheme = SchemeFactory(time_zone="UTC")
    OfferFactory(scheme=scheme)  # the live offer: real awards exist
    shop = merchant_in(scheme)
    first, second, third = (make_participant(scheme) for _ in range(3))
    now = timezone.now()
    purchase(first, shop, 2000, occurred_at=now - timedelta(days=40))  # outside the window
    for days_ago, person, total in [
        (6, first, 2000),
        (5, first, 2000),
        (5, second, 500),  # below the minimum spend
        (4, second, 1500),
        (3, third, 3000),  # spends the last of the budget
        (2, first, 2000),  # the participant cap is reached
        (1, third, 3000),  # the budget is spent
    ]:
        purchase(person, shop, total, occurred_at=now - timedelta(days=days_ago))
    draft = OfferFactory(
        scheme=scheme,
        status=Offer.Status.DRAFT,
        rules=DRAFT_RULES,
        budget_total_minor=2000,
        code="draft-500",
    )
    return draft, (first, second, third), now


def test_a_draft_offer_is_simulated_over_real_events_without_posting(history):
    draft, (first, second, third), now = history
    before = ledger_counts()

    report = offer_simulate(offer=draft, days=30, now=now)

    assert ledger_counts() == before
    assert report.events_considered == 7
    assert (report.awards, report.total_minor, report.participants_awarded) == (4, 2000, 3)
    assert [
        (row.participant_id, row.awards, row.total_minor) for row in report.top_participants
    ] == [
        (first.pk, 2, 1000),
        (second.pk, 1, 500),
        (third.pk, 1, 500),
    ]
    assert report.refusals == {
        "below_min_spend": 1,
        "participant_cap_reached": 1,
        "budget_exhausted": 1,
    }
    assert (report.budget_used_minor, report.budget_used_percent) == (2000, 100)
    assert report.budget_exhausted_at == now - timedelta(days=3)
    draft.refresh_from_db()
    assert (draft.status, draft.budget_used_minor) == ("draft", 0)


def test_the_window_decides_which_events_count(history):
    draft, (first, _second, _third), now = history

    report = offer_simulate(offer=draft, days=2, now=now - timedelta(minutes=1))

    assert report.events_considered == 2  # 2 days ago (just inside) and yesterday
    assert report.awards == 2
    assert report.top_participants[0].participant_id == first.pk


def test_the_database_stays_writable_after_a_simulation(history):
    draft, (first, *_others), now = history
    offer_simulate(offer=draft, days=30, now=now)

    response = purchase(first, merchant_in(draft.scheme), 1000)

    assert response["awards"][0]["amount_minor"] == 100


def test_a_best_only_draft_competes_with_what_live_best_only_offers_gave(db):
    scheme = SchemeFactory(time_zone="UTC")
    OfferFactory(
        scheme=scheme,
        rules={"award": {"type": "fixed", "amount_minor": 300}, "apply_only_if_best": True},
    )
    shop = merchant_in(scheme)
    buyer = make_participant(scheme)
    purchase(buyer, shop, 1000)
    purchase(buyer, shop, 1000)
    stronger = OfferFactory(
        scheme=scheme,
        status="draft",
        rules={"award": {"type": "fixed", "amount_minor": 500}, "apply_only_if_best": True},
    )
    weaker = OfferFactory(
        scheme=scheme,
        status="draft",
        rules={"award": {"type": "fixed", "amount_minor": 200}, "apply_only_if_best": True},
    )

    strong = offer_simulate(offer=stronger, days=1)
    weak = offer_simulate(offer=weaker, days=1)

    assert (strong.awards, strong.total_minor, strong.displaced_awards) == (2, 1000, 2)
    assert (weak.awards, weak.refusals) == (0, {"not_best_offer": 2})


def test_bad_days_and_broken_rules_are_refused(history):
    draft, _people, _now = history
    with pytest.raises(InvalidRequest, match="days must be between 1 and 366"):
        offer_simulate(offer=draft, days=0)
    draft.rules = {"award": {"type": "bogus"}}
    with pytest.raises(InvalidRequest, match=r"award\.type"):
        offer_simulate(offer=draft, days=30)


def test_the_offer_page_links_to_its_simulation(client, settings, history):
    from tests.crm.factories import UserFactory

    draft, (first, *_others), _now = history
    settings.STAFF_OTP_REQUIRED = False
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = reverse("admin:rewards_offer_simulate", args=[draft.pk])
    before = ledger_counts()

    change = client.get(reverse("admin:rewards_offer_change", args=[draft.pk]))
    form = client.get(url)
    result = client.get(url, {"days": 30})

    assert url.encode() in change.content
    assert form.status_code == 200
    assert b'id="simulation-awards">4<' in result.content
    assert b'id="simulation-total">2000<' in result.content
    assert f"#{first.pk}".encode() in result.content
    assert ledger_counts() == before
