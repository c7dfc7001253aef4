"""Factories for the helpdesk tests: a customer with everything the 360 page shows (claims
with timeline, documents and shipments; a wallet with transactions; messages; notes), and
staff users tied to a client or not."""

import itertools
import secrets
from datetime import timedelta
from typing import Any

import factory
from django.db import transaction
from django.utils import timezone

from claims.models import Claim, ClaimDocument, ClaimStatus, ClaimTransition, Shipment
from crm.models import Customer, HelpdeskNote, OutboundMessage, StaffProfile
from crm.roles import Role
from rewards.codes import ALPHABET, RANDOM_LENGTH, check_character
from rewards.models import Code, CodeBatch, Journal, Participant, Prize, Scheme
from rewards.services.ledger import NewLot, Posting, ledger_post, wallet_lock
from rewards.services.participants import participant_join
from tests.crm import factories as crm_factories
from tests.crm.factories import ClientFactory, staff_user

_numbers = itertools.count(1)


class CustomerFactory(crm_factories.CustomerFactory):
    first_name = "Greta"
    last_name = factory.Sequence(lambda n: f"Helpdesk{n}")
    phone = factory.Sequence(lambda n: f"+4673{n:07d}")
    email = factory.Sequence(lambda n: f"helpdesk-customer{n}@example.com")


class SchemeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scheme

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Summer scheme {n}")
    code = factory.Sequence(lambda n: f"helpdesk-scheme-{n}")
    kind = Scheme.Kind.LOYALTY
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))


def helpdesk_user(*, client=None, **fields: Any):
    """A helpdesk agent; tied to ``client`` when given (else agency staff)."""
    user = staff_user(Role.HELPDESK, **fields)
    if client is not None:
        StaffProfile.objects.filter(user=user).update(client=client)
    return user


def operator_user(**fields: Any):
    return staff_user(Role.OPERATOR, **fields)


def participant_for(customer: Customer, scheme: Scheme) -> Participant:
    return participant_join(scheme=scheme, customer=customer, actor="tests")


def award(participant: Participant, amount_minor: int, *, memo: str = "") -> Journal:
    """Posts a plain award journal into the participant's wallet."""
    with transaction.atomic():
        now = timezone.now()
        wallet = wallet_lock(participant_id=participant.pk)
        posting = Posting(
            scheme_id=wallet.scheme_id,
            kind=Journal.Kind.AWARD,
            idempotency_key=f"helpdesk-test-award:{participant.pk}:{next(_numbers)}",
            posted_at=now,
            participant_id=participant.pk,
            memo=memo,
        )
        posting.new_lots.append(
            NewLot(
                account_id=wallet.account_id,
                amount_minor=amount_minor,
                available_from=now,
                expires_at=None,
            )
        )
        posting.add_wallet_entry(wallet.account_id, amount_minor, ("new", 0))
        posting.add_entry(wallet.system_accounts["points_issued"], -amount_minor)
        ledger_post(posting=posting)
    return Journal.objects.filter(participant=participant).order_by("-pk").first()


def new_code_value() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + check_character(body)


def claim_for(
    customer: Customer,
    *,
    scheme: Scheme | None = None,
    status: str = ClaimStatus.DISPATCHED,
    prize_name: str = "Espresso machine",
) -> Claim:
    """A claim of a physical prize won by a code, with a timeline up to ``status``, an
    invoice, and a shipment under way when dispatched."""
    scheme = scheme or SchemeFactory(kind=Scheme.Kind.INSTANT_WIN)
    prize = Prize.objects.create(
        scheme=scheme, name=prize_name, kind=Prize.Kind.PHYSICAL, quantity_total=10
    )
    batch = CodeBatch.objects.create(scheme=scheme, size=1, status=CodeBatch.Status.READY)
    now = timezone.now()
    code = Code.objects.create(
        batch=batch,
        scheme=scheme,
        value=new_code_value(),
        prize=prize,
        status=Code.Status.ENTERED,
        entered_at=now,
        entered_by=customer,
    )
    claim = Claim.objects.create(
        number=f"C-{now.year}-{900000 + next(_numbers):06d}",
        customer=customer,
        code=code,
        scheme=scheme,
        prize=prize,
        status=status,
        proposed_outcome="approve" if status == ClaimStatus.PROPOSED else "",
        submitted_at=now - timedelta(days=3),
        full_name=str(customer),
    )
    path = [
        ClaimStatus.DRAFT,
        ClaimStatus.SUBMITTED,
        ClaimStatus.IN_REVIEW,
        ClaimStatus.PROPOSED,
        ClaimStatus.APPROVED,
        ClaimStatus.RELEASED,
        ClaimStatus.DISPATCHED,
    ]
    steps = path[: path.index(status) + 1] if status in path else [ClaimStatus.DRAFT, status]
    for index, (before, after) in enumerate(itertools.pairwise(steps)):
        ClaimTransition.objects.create(
            claim=claim,
            from_status=before,
            to_status=after,
            actor_label="tests",
            reason=f"step {index + 1}",
            occurred_at=now - timedelta(days=3) + timedelta(hours=index),
        )
    ClaimDocument.objects.create(
        claim=claim,
        kind=ClaimDocument.Kind.INVOICE,
        storage_name=f"claims/test/{claim.number}-invoice.pdf",
        download_name=f"invoice-{claim.number}.pdf",
        content_type="application/pdf",
        size_bytes=2048,
        sha256="0" * 64,
    )
    if status == ClaimStatus.DISPATCHED:
        Shipment.objects.create(claim=claim, carrier="PostNord", tracking_number=f"PN{claim.pk}")
    return claim


def message_for(
    customer: Customer,
    *,
    event: str = "claim.dispatched",
    status: str = OutboundMessage.Status.DELIVERED,
    channel: str = "sms",
    body: str = "Your prize is on its way.",
) -> OutboundMessage:
    recipient = customer.phone if channel == "sms" else customer.email
    return OutboundMessage.objects.create(
        customer=customer,
        event=event,
        channel=channel,
        purpose="transactional",
        language="en",
        recipient=recipient,
        subject="" if channel == "sms" else "Your prize",
        body=body,
        status=status,
        idempotency_key=f"{event}:helpdesk-test-{next(_numbers)}:customer-{customer.pk}:{channel}",
        sent_at=timezone.now(),
    )


def note_for(customer: Customer, author, *, text: str = "Called about the parcel.") -> HelpdeskNote:
    return HelpdeskNote.objects.create(
        customer=customer, author=author, category=HelpdeskNote.Category.QUERY, text=text
    )
