"""Staff tied to a client see only that client's customers."""

import pytest
from django.urls import reverse

from crm.models import HelpdeskNote
from rewards.models import Scheme
from tests.crm.factories import ClientFactory
from tests.crm.helpdesk.factories import (
    CustomerFactory,
    SchemeFactory,
    claim_for,
    helpdesk_user,
    participant_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_clients():
    ours, theirs = ClientFactory(), ClientFactory()
    our_customer = CustomerFactory(last_name="Ours")
    their_customer = CustomerFactory(last_name="Theirs")
    participant_for(our_customer, SchemeFactory(client=ours))
    claim_for(their_customer, scheme=SchemeFactory(client=theirs, kind=Scheme.Kind.INSTANT_WIN))
    return ours, theirs, our_customer, their_customer


def test_client_staff_cannot_open_another_clients_customer(client, sign_in_verified, two_clients):
    ours, _theirs, our_customer, their_customer = two_clients
    sign_in_verified(helpdesk_user(client=ours))

    assert (
        client.get(reverse("admin:crm_customer_change", args=[our_customer.pk])).status_code == 200
    )
    assert (
        client.get(reverse("admin:crm_customer_change", args=[their_customer.pk])).status_code
        == 404
    )
    assert (
        client.get(reverse("admin:crm_customer_history", args=[their_customer.pk])).status_code
        == 404
    )
    response = client.post(
        reverse("admin:crm_customer_add_note", args=[their_customer.pk]),
        {"category": "query", "text": "peek"},
    )
    assert response.status_code == 404
    assert not HelpdeskNote.objects.exists()


def test_client_staff_list_and_search_show_only_their_clients_customers(
    client, sign_in_verified, two_clients
):
    ours, _theirs, our_customer, their_customer = two_clients
    sign_in_verified(helpdesk_user(client=ours))

    listed = client.get(reverse("admin:crm_customer_changelist")).context["cl"].result_list
    searched = (
        client.get(reverse("admin:crm_customer_changelist"), {"q": their_customer.phone})
        .context["cl"]
        .result_list
    )

    assert [customer.pk for customer in listed] == [our_customer.pk]
    assert list(searched) == []


def test_a_customer_linked_by_a_claim_is_visible_to_that_clients_staff(
    client, sign_in_verified, two_clients
):
    _ours, theirs, _our_customer, their_customer = two_clients
    sign_in_verified(helpdesk_user(client=theirs))

    response = client.get(reverse("admin:crm_customer_change", args=[their_customer.pk]))

    assert response.status_code == 200


def test_the_panels_show_only_the_staff_clients_rows(client, sign_in_verified):
    ours, theirs = ClientFactory(), ClientFactory()
    customer = CustomerFactory()
    participant_for(customer, SchemeFactory(client=ours, name="Our scheme"))
    other_claim = claim_for(
        customer, scheme=SchemeFactory(client=theirs, kind=Scheme.Kind.INSTANT_WIN)
    )
    sign_in_verified(helpdesk_user(client=ours))

    page = client.get(reverse("admin:crm_customer_change", args=[customer.pk])).content.decode()

    assert "Our scheme" in page
    assert other_claim.number not in page


def test_agency_staff_see_every_client(client, sign_in_verified, two_clients):
    _ours, _theirs, our_customer, their_customer = two_clients
    sign_in_verified(helpdesk_user())

    for customer in (our_customer, their_customer):
        assert (
            client.get(reverse("admin:crm_customer_change", args=[customer.pk])).status_code == 200
        )
