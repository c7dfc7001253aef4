"""The back office for rewards: who sees and changes what, termination, maker-checker."""

import pytest
from django.urls import reverse

from crm.roles import Role
from rewards.models import Offer, OfferActivation, Participant
from tests.crm.factories import staff_user
from tests.rewards.conftest import award, balance_of
from tests.rewards.factories import OfferFactory, make_participant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_admin(settings):
    settings.STAFF_OTP_REQUIRED = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def test_helpdesk_sees_a_participants_wallet_but_cannot_change_money(client, participant):
    award(participant, 100)
    client.force_login(staff_user(Role.HELPDESK))

    page = client.get(reverse("admin:rewards_participant_change", args=[participant.pk]))
    journals = client.get(reverse("admin:rewards_journal_changelist"), {"q": participant.pk})

    assert page.status_code == 200
    assert b"100 balance" in page.content
    assert journals.status_code == 200
    assert (
        client.get(
            reverse("admin:rewards_participant_terminate", args=[participant.pk])
        ).status_code
        == 403
    )
    assert client.get(reverse("admin:rewards_offer_add")).status_code == 403


def test_operator_terminates_a_duplicate_with_transfer(client, scheme, participant):
    survivor = make_participant(scheme)
    award(participant, 40)
    client.force_login(staff_user(Role.OPERATOR))

    response = client.post(
        reverse("admin:rewards_participant_terminate", args=[participant.pk]),
        {"reason": "duplicate", "replaced_by": survivor.pk, "transfer_balance": "on"},
    )

    assert response.status_code == 302
    assert Participant.objects.get(pk=participant.pk).status == "terminated"
    assert (balance_of(participant), balance_of(survivor)) == (0, 40)


def test_offer_activation_in_admin_respects_maker_checker(client, scheme):
    offer = OfferFactory(scheme=scheme, status="draft")
    maker = staff_user(Role.OPERATOR)
    client.force_login(maker)
    client.post(
        reverse("admin:rewards_offer_changelist"),
        {"action": "propose_activation", "_selected_action": [offer.pk]},
    )
    activation = OfferActivation.objects.get(offer=offer)

    client.post(
        reverse("admin:rewards_offeractivation_changelist"),
        {"action": "approve", "_selected_action": [activation.pk]},
    )
    assert Offer.objects.get(pk=offer.pk).status == "draft"

    client.force_login(staff_user(Role.OPERATOR))
    client.post(
        reverse("admin:rewards_offeractivation_changelist"),
        {"action": "approve", "_selected_action": [activation.pk]},
    )
    assert Offer.objects.get(pk=offer.pk).status == "effective"


def test_ledger_lists_render_for_the_operator(client, scheme, merchant, participant):
    award(participant, 100)
    client.force_login(staff_user(Role.OPERATOR))

    for name in [
        "rewards_journal",
        "rewards_awardlot",
        "rewards_account",
        "rewards_customerevent",
        "rewards_participant",
        "rewards_offer",
        "rewards_merchant",
    ]:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    assert client.get(reverse("admin:rewards_journal_add")).status_code == 403
