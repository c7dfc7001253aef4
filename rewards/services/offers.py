"""Offers: creation (from a template), the maker-checker activation, deactivation and the
total budget."""

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.audit import audit_record, model_snapshot
from rewards.models import Offer, OfferActivation, OfferCategory, OfferTemplate, OfferType, Scheme
from rewards.models.offers import validate_offer_rules
from rewards.services.errors import InvalidRequest, InvalidTransition, MakerCheckerViolation
from rewards.services.ledger import prepared_execute


def _messages(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(
            f"{field}: {message}"
            for field, messages in error.message_dict.items()
            for message in messages
        )
    return "; ".join(error.messages)


def offer_create(
    *,
    scheme: Scheme,
    code: str,
    name: str,
    actor: Any,
    classification: str | None = None,
    rules: Mapping[str, Any] | None = None,
    template: OfferTemplate | None = None,
    offer_type: OfferType | None = None,
    category: OfferCategory | None = None,
    budget_total_minor: int | None = None,
) -> Offer:
    """A draft offer; what is not given comes from ``template``. The rules are validated."""
    if template is not None:
        classification = classification or template.classification
        rules = rules if rules is not None else template.rules
        offer_type = offer_type or template.offer_type
        category = category or template.category
    if classification is None:
        raise InvalidRequest("An offer needs a classification (or a template).")
    offer = Offer(
        scheme=scheme,
        code=code,
        name=name,
        classification=classification,
        rules=dict(rules or {}),
        template=template,
        offer_type=offer_type,
        category=category,
        budget_total_minor=budget_total_minor,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    try:
        offer.full_clean()
    except ValidationError as error:
        raise InvalidRequest(_messages(error)) from error
    with transaction.atomic():
        offer.save(force_insert=True)
        audit_record(action="offer.create", actor=actor, target=offer, after=model_snapshot(offer))
    return offer


def offer_lock(*, offer_id: int) -> Offer:
    return Offer.objects.select_for_update().get(pk=offer_id)


def offer_activation_propose(*, offer: Offer, actor: Any) -> OfferActivation:
    """The maker's half: asks for a draft or not-effective offer to become effective."""
    with transaction.atomic():
        locked = offer_lock(offer_id=offer.pk)
        if locked.status == Offer.Status.EFFECTIVE:
            raise InvalidTransition("This offer is effective already.")
        try:
            validate_offer_rules(
                offer_id=locked.pk, classification=locked.classification, rules=locked.rules
            )
        except ValidationError as error:
            raise InvalidRequest(_messages(error)) from error
        if locked.activations.filter(decision=OfferActivation.Decision.PENDING).exists():
            raise InvalidTransition("An activation of this offer is waiting for a decision.")
        activation = OfferActivation.objects.create(
            offer=locked, proposed_by=actor, proposed_at=timezone.now()
        )
        audit_record(
            action="offer.activation_proposed",
            actor=actor,
            target=locked,
            after={"activation": activation.pk},
        )
    return activation


def offer_activation_decide(
    *, activation: OfferActivation, actor: Any, approve: bool
) -> OfferActivation:
    """The checker's half: approves (the offer becomes effective) or rejects. The checker
    must be another person than the maker (the database refuses it too)."""
    with transaction.atomic():
        offer = offer_lock(offer_id=activation.offer_id)
        locked = OfferActivation.objects.select_for_update().get(pk=activation.pk)
        if locked.decision != OfferActivation.Decision.PENDING:
            raise InvalidTransition("This activation has been decided already.")
        if locked.proposed_by_id == actor.pk:
            raise MakerCheckerViolation(
                "The person who proposed the activation cannot also approve or reject it."
            )
        if not actor.has_perm("rewards.approve_offer_activation"):
            raise MakerCheckerViolation(
                "Approving an offer's activation needs the checker's right."
            )
        now = timezone.now()
        locked.decision = (
            OfferActivation.Decision.APPROVED if approve else OfferActivation.Decision.REJECTED
        )
        locked.decided_by = actor
        locked.decided_at = now
        locked.save(update_fields=["decision", "decided_by", "decided_at"])
        before = {"status": offer.status}
        if approve:
            offer.status = Offer.Status.EFFECTIVE
            offer.latest_effective_at = now
            offer.save(update_fields=["status", "latest_effective_at"])
        audit_record(
            action="offer.activation_approved" if approve else "offer.activation_rejected",
            actor=actor,
            target=offer,
            before=before,
            after={"status": offer.status, "activation": locked.pk},
        )
    return locked


def offer_deactivate(*, offer: Offer, actor: Any) -> Offer:
    """Stops an effective offer (no second person needed to stop awarding)."""
    with transaction.atomic():
        locked = offer_lock(offer_id=offer.pk)
        if locked.status != Offer.Status.EFFECTIVE:
            raise InvalidTransition("Only an effective offer can be made not effective.")
        locked.status = Offer.Status.NOT_EFFECTIVE
        locked.save(update_fields=["status"])
        audit_record(
            action="offer.deactivated",
            actor=actor,
            target=locked,
            before={"status": Offer.Status.EFFECTIVE},
            after={"status": locked.status},
        )
    return locked


def offer_budgets_take(*, wanted: Mapping[int, int]) -> dict[int, int]:
    """Takes what the awards want from their offers' total budgets; returns what each got
    (less than wanted when the budget runs out, so the total is never exceeded).

    Locks the offers' rows in id order until the transaction ends: call inside the
    transaction that posts the awards, after locking the wallet.
    """
    if not wanted:
        return {}
    ids = sorted(wanted)
    # One statement: the locking CTE waits for a concurrent taker and then reads the row
    # as it committed (READ COMMITTED re-reads a row it had to wait for); the UPDATE
    # applies to that latest version too. NO KEY UPDATE, as the UPDATE itself takes:
    # it waits for other takers but not for the KEY SHARE locks that inserting lots
    # takes on their offers (the evaluation run holds those when it takes the budget).
    cursor = prepared_execute(
        """
        WITH locked AS (
            SELECT id, budget_total_minor - budget_used_minor AS left_minor
              FROM rewards_offer
             WHERE id = ANY(%(ids)s::bigint[]) AND budget_total_minor IS NOT NULL
             ORDER BY id FOR NO KEY UPDATE
        ), granted AS (
            SELECT l.id, GREATEST(0, LEAST(w.amount, l.left_minor)) AS amount
              FROM locked l
              JOIN unnest(%(ids)s::bigint[], %(amounts)s::bigint[]) AS w(id, amount)
                ON w.id = l.id
        ), taken AS (
            UPDATE rewards_offer o SET budget_used_minor = o.budget_used_minor + g.amount
              FROM granted g
             WHERE o.id = g.id AND g.amount > 0
        )
        SELECT id, amount FROM granted
        """,
        {"ids": ids, "amounts": [wanted[offer_id] for offer_id in ids]},
    )
    return {offer_id: int(amount) for offer_id, amount in cursor.fetchall()}


def offer_budget_release(*, offer_id: int, amount_minor: int) -> None:
    """Gives a reversed award back to its offer's budget (offers without one: nothing)."""
    Offer.objects.filter(pk=offer_id, budget_total_minor__isnull=False).update(
        budget_used_minor=F("budget_used_minor") - amount_minor
    )
