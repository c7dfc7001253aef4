"""Offers: rules validated through rewards.evaluation, templates, maker-checker activation."""

import pytest
from django.core.exceptions import ValidationError

from crm.models import AuditEvent
from crm.roles import Role
from rewards.models import Offer, OfferActivation, OfferTemplate
from rewards.services.errors import InvalidRequest, InvalidTransition, MakerCheckerViolation
from rewards.services.offers import (
    offer_activation_decide,
    offer_activation_propose,
    offer_create,
    offer_deactivate,
)
from tests.crm.factories import staff_user
from tests.rewards.factories import OfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def maker():
    return staff_user(Role.OPERATOR)


@pytest.fixture
def checker():
    return staff_user(Role.OPERATOR)


def test_offer_rules_are_validated_by_the_evaluation_parser(scheme):
    offer = OfferFactory.build(scheme=scheme, rules={"award": {"type": "fixed"}})

    with pytest.raises(ValidationError) as caught:
        offer.full_clean()

    assert "rules" in caught.value.message_dict
    assert any("amount_minor" in message for message in caught.value.message_dict["rules"])


def test_offer_from_a_template_takes_its_settings(scheme, maker):
    template = OfferTemplate.objects.create(
        name="Welcome",
        classification="sign_up",
        rules={"award": {"type": "fixed", "amount_minor": 50}},
    )

    offer = offer_create(
        scheme=scheme, code="welcome", name="Welcome", actor=maker, template=template
    )

    assert (offer.classification, offer.rules, offer.status) == (
        "sign_up",
        {"award": {"type": "fixed", "amount_minor": 50}},
        "draft",
    )
    assert offer.template == template
    with pytest.raises(InvalidRequest, match="rules"):
        offer_create(
            scheme=scheme, code="bad", name="Bad", actor=maker, classification="sign_up", rules={}
        )


def test_activation_needs_a_second_person(scheme, maker, checker):
    offer = OfferFactory(scheme=scheme, status="draft")
    activation = offer_activation_propose(offer=offer, actor=maker)

    with pytest.raises(MakerCheckerViolation):
        offer_activation_decide(activation=activation, actor=maker, approve=True)
    offer.refresh_from_db()
    assert offer.status == "draft"

    offer_activation_decide(activation=activation, actor=checker, approve=True)

    offer.refresh_from_db()
    activation.refresh_from_db()
    assert offer.status == "effective"
    assert offer.latest_effective_at is not None
    assert (activation.decision, activation.decided_by) == ("approved", checker)
    assert AuditEvent.objects.filter(action="offer.activation_approved").count() == 1


def test_the_checker_needs_the_approval_right(scheme, maker):
    offer = OfferFactory(scheme=scheme, status="draft")
    activation = offer_activation_propose(offer=offer, actor=maker)
    helpdesk = staff_user(Role.HELPDESK)

    with pytest.raises(MakerCheckerViolation):
        offer_activation_decide(activation=activation, actor=helpdesk, approve=True)

    assert Offer.objects.get(pk=offer.pk).status == "draft"


def test_one_pending_activation_at_a_time_and_rejection_keeps_the_draft(scheme, maker, checker):
    offer = OfferFactory(scheme=scheme, status="draft")
    activation = offer_activation_propose(offer=offer, actor=maker)

    with pytest.raises(InvalidTransition):
        offer_activation_propose(offer=offer, actor=maker)
    offer_activation_decide(activation=activation, actor=checker, approve=False)

    assert Offer.objects.get(pk=offer.pk).status == "draft"
    with pytest.raises(InvalidTransition):
        offer_activation_decide(activation=activation, actor=checker, approve=True)
    assert OfferActivation.objects.filter(offer=offer).count() == 1


def test_deactivation_stops_an_effective_offer(scheme, maker):
    offer = OfferFactory(scheme=scheme)

    offer_deactivate(offer=offer, actor=maker)

    assert Offer.objects.get(pk=offer.pk).status == "not_effective"
    with pytest.raises(InvalidTransition):
        offer_deactivate(offer=offer, actor=maker)
