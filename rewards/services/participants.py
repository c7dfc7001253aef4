"""Joining a scheme and leaving it."""

import re
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from crm.audit import audit_record, model_snapshot
from crm.models import Customer
from rewards.models import (
    Account,
    Journal,
    Merchant,
    Participant,
    ParticipantIdentifier,
    Scheme,
)
from rewards.services.errors import (
    AlreadyParticipant,
    IdentifierTaken,
    InvalidRequest,
    InvalidTransition,
    ParticipantNotEffective,
)
from rewards.services.ledger import (
    NewLot,
    Posting,
    ledger_post,
    lots_open,
    scheme_accounts_ensure,
    wallets_lock,
)


def customer_find_or_create(
    *, phone: str = "", email: str = "", first_name: str = "", last_name: str = "", actor: Any
) -> Customer:
    """The customer with this phone or email, created if there is none.

    Refuses a phone and an email that belong to two different customers.
    """
    phone, email = phone.strip(), email.strip()
    if not phone and not email:
        raise InvalidRequest("A customer needs a phone number or an email address.")
    found = {
        customer.pk: customer
        for customer in Customer.objects.filter(_customer_match(phone=phone, email=email))
    }
    if len(found) > 1:
        raise InvalidRequest("The phone number and the email address belong to two customers.")
    if found:
        return next(iter(found.values()))
    customer = Customer(phone=phone, email=email, first_name=first_name, last_name=last_name)
    try:
        customer.full_clean(validate_unique=False)
    except ValidationError as error:
        raise InvalidRequest(_first_message(error)) from error
    try:
        with transaction.atomic():
            customer.save(force_insert=True)
            audit_record(
                action="customer.create",
                actor=actor,
                target=customer,
                after=model_snapshot(customer),
            )
    except IntegrityError:
        # Created by a concurrent sign-up between our look-up and insert: use that one.
        existing = Customer.objects.filter(_customer_match(phone=phone, email=email)).first()
        if existing is None:
            raise
        return existing
    return customer


def _customer_match(*, phone: str, email: str) -> Q:
    condition = Q(pk__in=[])
    if phone:
        condition |= Q(phone=phone)
    if email:
        condition |= Q(email__iexact=email)
    return condition


def _first_message(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        field, messages = next(iter(error.message_dict.items()))
        return f"{field}: {messages[0]}"
    return error.messages[0]


def participant_join(
    *,
    scheme: Scheme,
    customer: Customer,
    actor: Any,
    sign_up_merchant: Merchant | None = None,
    reference_code: str = "",
    referred_by: Participant | None = None,
    time_zone: str = "",
    birth_date: date | None = None,
    name_day: tuple[int, int] | None = None,
    segments: list[str] | None = None,
    signed_up_at: datetime | None = None,
    identifiers: list[tuple[str, str]] | None = None,
) -> Participant:
    """Makes ``customer`` a participant of ``scheme`` with an empty wallet and the given
    ``(kind, value)`` identifiers, then raises the sign-up event (which sign-up offers
    reward). Refuses a second participation and an identifier another participant holds."""
    if scheme.kind != Scheme.Kind.LOYALTY:
        raise InvalidRequest("Only loyalty schemes have participants.")
    reference_code = reference_code.strip()
    if scheme.requires_reference_code and not reference_code:
        raise InvalidRequest("This scheme requires a reference code.")
    if (
        reference_code
        and scheme.reference_code_pattern
        and not re.fullmatch(scheme.reference_code_pattern, reference_code)
    ):
        raise InvalidRequest("The reference code is not valid for this scheme.")
    if referred_by is not None and (
        referred_by.scheme_id != scheme.pk or not referred_by.is_effective
    ):
        raise InvalidRequest("The referring participant must be effective in the same scheme.")
    participant = Participant(
        scheme=scheme,
        customer=customer,
        signed_up_at=signed_up_at or timezone.now(),
        sign_up_merchant=sign_up_merchant,
        reference_code=reference_code,
        referred_by=referred_by,
        time_zone=time_zone,
        birth_date=birth_date,
        name_day_month=name_day[0] if name_day else None,
        name_day_day=name_day[1] if name_day else None,
        segments=sorted(set(segments or [])),
    )
    try:
        participant.full_clean(exclude=["scheme", "customer"], validate_unique=False)
    except ValidationError as error:
        raise InvalidRequest(_first_message(error)) from error
    from rewards.services.events import event_raise

    with transaction.atomic():
        scheme_accounts_ensure(scheme=scheme)
        try:
            with transaction.atomic():
                participant.save(force_insert=True)
        except IntegrityError as error:
            raise AlreadyParticipant("This customer already takes part in this scheme.") from error
        Account.objects.create(
            scheme=scheme, kind=Account.Kind.WALLET, participant=participant, balance_minor=0
        )
        for kind, value in identifiers or []:
            _identifier_insert(participant=participant, kind=kind, value=value)
        audit_record(
            action="participant.join",
            actor=actor,
            target=participant,
            after=model_snapshot(participant),
        )
        event_raise(
            participant=participant,
            type="sign_up",
            external_id=f"sign_up:{participant.pk}",
            occurred_at=participant.signed_up_at,
            merchant=sign_up_merchant,
        )
    return participant


def participant_identifier_add(
    *, participant: Participant, kind: str, value: str, actor: Any
) -> ParticipantIdentifier:
    """Gives an effective participant another identifier (a card, an app id, ...). Refuses
    one that any participant of the scheme already holds."""
    with transaction.atomic():
        current = participant_lock(participant_id=participant.pk)
        if not current.is_effective:
            raise ParticipantNotEffective("This participant is terminated.")
        identifier = _identifier_insert(participant=current, kind=kind, value=value)
        audit_record(
            action="participant.identifier_add",
            actor=actor,
            target=current,
            after={"kind": identifier.kind, "value": identifier.value},
        )
    return identifier


def _identifier_insert(*, participant: Participant, kind: str, value: str) -> ParticipantIdentifier:
    value = value.strip()
    if kind not in ParticipantIdentifier.Kind.values:
        raise InvalidRequest(f"Unknown identifier kind {kind!r}.")
    if not value or len(value) > 100:
        raise InvalidRequest("An identifier is 1 to 100 characters long.")
    try:
        with transaction.atomic():
            return ParticipantIdentifier.objects.create(
                scheme_id=participant.scheme_id, participant=participant, kind=kind, value=value
            )
    except IntegrityError as error:
        raise IdentifierTaken(
            f"The {kind} identifier {value!r} belongs to another participant of this scheme."
        ) from error


def participant_lock(*, participant_id: int) -> Participant:
    return Participant.objects.select_for_update().get(pk=participant_id)


def participant_terminate(
    *,
    participant: Participant,
    reason: str,
    actor: Any,
    replaced_by: Participant | None = None,
    transfer_balance: bool = False,
    transfer_identifiers: bool = False,
) -> Participant:
    """Terminates an effective participant with a reason from the fixed list.

    A duplicate names the surviving participant of the same scheme; with
    ``transfer_balance`` what is left of every lot moves to the survivor's wallet in one
    journal, keeping each lot's availability and expiry. A negative balance is not moved.
    With ``transfer_identifiers`` its cards and other identifiers now name the survivor.
    """
    if reason not in Participant.TerminationReason.values:
        raise InvalidRequest(f"Unknown termination reason {reason!r}.")
    is_duplicate = reason == Participant.TerminationReason.DUPLICATE
    if is_duplicate and replaced_by is None:
        raise InvalidRequest("A duplicate names the participant that replaces it.")
    if not is_duplicate and (replaced_by is not None or transfer_balance or transfer_identifiers):
        raise InvalidRequest("Only a duplicate is replaced by another participant.")
    with transaction.atomic():
        ids = [participant.pk] + ([replaced_by.pk] if replaced_by is not None else [])
        wallets = wallets_lock(participant_ids=ids)
        locked = {
            row.pk: row
            for row in Participant.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        }
        current = locked[participant.pk]
        if not current.is_effective:
            raise InvalidTransition("This participant is terminated already.")
        before = model_snapshot(current)
        survivor = locked.get(replaced_by.pk) if replaced_by is not None else None
        if survivor is not None:
            if survivor.pk == current.pk:
                raise InvalidRequest("A participant cannot replace itself.")
            if survivor.scheme_id != current.scheme_id:
                raise InvalidRequest("The surviving participant must be in the same scheme.")
            if not survivor.is_effective:
                raise ParticipantNotEffective("The surviving participant is terminated.")
        now = timezone.now()
        transferred = 0
        if survivor is not None and transfer_balance:
            source = wallets[current.pk]
            target = wallets[survivor.pk]
            posting = Posting(
                scheme_id=current.scheme_id,
                kind=Journal.Kind.TRANSFER,
                idempotency_key=f"transfer:{current.pk}",
                posted_at=now,
                participant_id=current.pk,
                actor_id=actor.pk if getattr(actor, "is_authenticated", False) else None,
                memo=f"Duplicate of participant {survivor.pk}",
            )
            # Should an allow-negative clawback have overdrawn the survivor's wallet, what
            # moves first pays back that debt (as a later award does): the new lots are
            # created partly consumed, soonest to expire first, so the survivor's open lots
            # stay equal to its balance above zero.
            debt = max(0, -target.balance_minor)
            for lot in lots_open(account_id=source.account_id):
                remaining = lot.remaining_minor
                recovered = min(debt, remaining)
                debt -= recovered
                posting.add_wallet_entry(source.account_id, -remaining, lot.pk)
                posting.change_lot(lot.pk, reversed_=remaining)
                posting.new_lots.append(
                    NewLot(
                        account_id=target.account_id,
                        amount_minor=remaining,
                        available_from=lot.available_from,
                        expires_at=lot.expires_at,
                        offer_id=lot.offer_id,
                        consumed_minor=recovered,
                        awarded_at=lot.awarded_at,
                    )
                )
                posting.add_wallet_entry(
                    target.account_id, remaining, ("new", len(posting.new_lots) - 1)
                )
                transferred += remaining
            if transferred:
                ledger_post(posting=posting)
        moved_identifiers: list[str] = []
        if survivor is not None and transfer_identifiers:
            identifiers = list(
                ParticipantIdentifier.objects.select_for_update()
                .filter(participant=current)
                .order_by("pk")
            )
            moved_identifiers = [f"{row.kind}:{row.value}" for row in identifiers]
            ParticipantIdentifier.objects.filter(pk__in=[row.pk for row in identifiers]).update(
                participant=survivor
            )
        current.status = Participant.Status.TERMINATED
        current.terminated_at = now
        current.termination_reason = reason
        current.replaced_by = survivor
        current.save(update_fields=["status", "terminated_at", "termination_reason", "replaced_by"])
        audit_record(
            action="participant.terminate",
            actor=actor,
            target=current,
            before=before,
            after={
                **model_snapshot(current),
                "transferred_minor": transferred,
                "transferred_identifiers": moved_identifiers,
            },
        )
    return current
