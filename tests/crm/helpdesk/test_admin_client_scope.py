"""Staff tied to a client see only that client's rows in every admin list and object page
(crm.admin_site.ClientScopedAdminMixin); agency staff see every client's."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.admin_site import ClientScopedAdminMixin, admin_site, client_scope_filter
from crm.audit import audit_record
from crm.models import AuditEvent, OutboundMessage
from rewards.models import (
    Account,
    AwardLot,
    Code,
    CodeBatch,
    CustomerEvent,
    DrawEntry,
    DrawResult,
    Scheme,
)
from tests.crm.factories import ClientFactory
from tests.crm.helpdesk.factories import (
    CustomerFactory,
    SchemeFactory,
    award,
    claim_for,
    helpdesk_user,
    message_for,
    new_code_value,
    participant_for,
)
from tests.rewards.factories import make_draw

pytestmark = pytest.mark.django_db

# (admin URL name prefix, key of the row in a client's world)
SCOPED_LISTS = [
    ("crm_outboundmessage", "message"),
    ("crm_auditevent", "audit"),
    ("claims_claim", "claim"),
    ("rewards_participant", "participant"),
    ("rewards_account", "account"),
    ("rewards_journal", "journal"),
    ("rewards_awardlot", "lot"),
    ("rewards_customerevent", "event"),
    ("rewards_codebatch", "batch"),
    ("rewards_code", "code"),
    ("rewards_draw", "draw"),
    ("rewards_drawentry", "entry"),
    ("rewards_drawresult", "result"),
]


def _world(client) -> dict:
    """One client's customer with a wallet, a claim, codes, a draw, a message, an audit event."""
    customer = CustomerFactory()
    participant = participant_for(customer, SchemeFactory(client=client))
    journal = award(participant, 500)
    now = timezone.now()
    event = CustomerEvent.objects.create(
        scheme=participant.scheme,
        participant=participant,
        source="tests",
        external_id=f"scope-{participant.pk}",
        type=CustomerEvent.Type.PURCHASE,
        occurred_at=now,
        received_at=now,
        payload={},
        payload_hash="0" * 64,
        status=CustomerEvent.Status.QUEUED,
    )
    claim = claim_for(customer, scheme=SchemeFactory(client=client, kind=Scheme.Kind.INSTANT_WIN))
    lucky = SchemeFactory(client=client, kind=Scheme.Kind.LUCKY_DRAW)
    draw = make_draw(lucky, closes_in=timedelta(days=2))
    batch = CodeBatch.objects.create(scheme=lucky, size=1, status=CodeBatch.Status.READY)
    code = Code.objects.create(
        batch=batch,
        scheme=lucky,
        value=new_code_value(),
        status=Code.Status.ENTERED,
        entered_at=now,
        entered_by=customer,
    )
    entry = DrawEntry.objects.create(
        draw=draw, customer=customer, kind=DrawEntry.Kind.CODE, code=code
    )
    result = DrawResult.objects.create(
        draw=draw,
        entry=entry,
        customer=customer,
        position=1,
        is_reserve=False,
        status=DrawResult.Status.PENDING_CLAIM,
    )
    return {
        "customer": customer,
        "participant": participant,
        "account": Account.objects.get(participant=participant),
        "journal": journal,
        "lot": AwardLot.objects.get(journal=journal),
        "event": event,
        "claim": claim,
        "batch": batch,
        "code": code,
        "draw": draw,
        "entry": entry,
        "result": result,
        "message": message_for(customer),
        "audit": audit_record(action="tests.customer_touched", actor="tests", target=customer),
    }


@pytest.fixture
def worlds():
    ours, theirs = ClientFactory(), ClientFactory()
    return ours, _world(ours), _world(theirs)


def _listed(client, url_name: str) -> set[int]:
    response = client.get(reverse(f"admin:{url_name}_changelist"))
    assert response.status_code == 200, url_name
    return {row.pk for row in response.context["cl"].result_list}


@pytest.mark.parametrize(("url_name", "key"), SCOPED_LISTS)
def test_client_staff_list_only_their_clients_rows(client, sign_in_verified, worlds, url_name, key):
    ours, our_world, their_world = worlds
    sign_in_verified(helpdesk_user(client=ours))

    listed = _listed(client, url_name)

    assert our_world[key].pk in listed
    assert their_world[key].pk not in listed


@pytest.mark.parametrize(("url_name", "key"), SCOPED_LISTS)
def test_client_staff_get_404_on_another_clients_object(
    client, sign_in_verified, worlds, url_name, key
):
    ours, our_world, their_world = worlds
    sign_in_verified(helpdesk_user(client=ours))

    def page(row):
        return client.get(reverse(f"admin:{url_name}_change", args=[row.pk]))

    assert page(our_world[key]).status_code == 200
    assert page(their_world[key]).status_code == 404
    assert (
        client.get(reverse(f"admin:{url_name}_history", args=[their_world[key].pk])).status_code
        == 404
    )


@pytest.mark.parametrize(("url_name", "key"), SCOPED_LISTS)
def test_agency_staff_see_every_clients_rows(client, sign_in_verified, worlds, url_name, key):
    _ours, our_world, their_world = worlds
    sign_in_verified(helpdesk_user())

    listed = _listed(client, url_name)

    assert {our_world[key].pk, their_world[key].pk} <= listed


def test_a_message_to_an_address_is_for_agency_staff_only(client, sign_in_verified, worlds):
    # A sign-in code goes to what a visitor typed: it belongs to no customer, so no client
    ours, our_world, _their_world = worlds
    sign_in_code = message_for(our_world["customer"], event="otp.code")
    OutboundMessage.objects.filter(pk=sign_in_code.pk).update(customer=None)
    sign_in_verified(helpdesk_user(client=ours))

    assert sign_in_code.pk not in _listed(client, "crm_outboundmessage")

    client.logout()
    sign_in_verified(helpdesk_user())
    assert sign_in_code.pk in _listed(client, "crm_outboundmessage")


def test_client_staff_see_their_own_audited_actions(client, sign_in_verified, worlds):
    ours, _our_world, _their_world = worlds
    user = helpdesk_user(client=ours)
    own = audit_record(action="tests.own_action", actor=user, object_type="rewards.scheme")
    other = audit_record(action="tests.someone_else", actor="tests", object_type="rewards.scheme")
    sign_in_verified(user)

    listed = _listed(client, "crm_auditevent")

    assert own.pk in listed
    assert other.pk not in listed
    assert AuditEvent.objects.filter(pk=other.pk).exists()


def test_client_staff_cannot_download_another_clients_claim_document(
    client, sign_in_verified, worlds
):
    ours, _our_world, their_world = worlds
    sign_in_verified(helpdesk_user(client=ours))
    their_claim = their_world["claim"]
    document = their_claim.documents.first()

    response = client.get(
        reverse("admin:claims_claim_document", args=[their_claim.pk, document.pk])
    )

    assert response.status_code == 404


def test_every_scoped_admin_names_a_path_to_a_client_or_customer():
    client = ClientFactory()
    for model, model_admin in admin_site._registry.items():
        if isinstance(model_admin, ClientScopedAdminMixin):
            if type(model_admin).client_scope is not ClientScopedAdminMixin.client_scope:
                continue  # scoped its own way (audit events)
            assert model_admin.client_scope_path, model
            # Raises ImproperlyConfigured for a path leading elsewhere; runs the query.
            list(
                client_scope_filter(
                    model._default_manager.all(), model_admin.client_scope_path, client.pk
                )
            )
