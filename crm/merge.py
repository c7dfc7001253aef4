"""Merging a duplicate customer into the one that stays, keeping the history.

Maker-checker: an operator proposes ``merged`` -> ``survivor`` (``customer_merge_propose``),
another operator approves (``customer_merge_approve``), which merges in one transaction:

- crm's own rows move to the survivor: outbound messages, helpdesk notes, and duplicates
  merged earlier into the duplicate;
- the survivor keeps its own values and takes the duplicate's where it has none (names,
  phone, email, member number); the duplicate gives up its phone, email and member number
  (they are unique, and sign-in by phone must find the survivor), keeps its names, and
  points to the survivor (``merged_into``, ``merged_at``): an inactive record of what was;
- the domain event ``customer.merged`` (crm.events) tells the higher apps after commit:
  claims moves claims and the portal account, rewards moves participants (a participation
  in a scheme the survivor is in already is terminated as a duplicate with its balance
  transferred) and entered codes. Their subscribers are idempotent, so the event can be
  published again (``customer_merge_redeliver``) if one failed.

Audit: the proposal, the approval (with both customers before and after) and each higher
app's moves are audit events; the duplicate as it was is kept on the CustomerMerge row.
"""

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from crm.audit import audit_record, model_snapshot
from crm.events import publish
from crm.models import Customer, CustomerMerge, HelpdeskNote, OutboundMessage

MERGED_EVENT = "customer.merged"
_FILLED_FIELDS = ("first_name", "last_name", "phone", "email", "member_number")
_RELEASED_FIELDS = ("phone", "email", "member_number")


class MergeError(Exception):
    """A merge that is not allowed; the message says why, for a person."""


def _check_pair(survivor: Customer, merged: Customer) -> None:
    if survivor.pk == merged.pk:
        raise MergeError("A customer cannot be merged into itself.")
    if merged.is_merged:
        raise MergeError(f"{merged} was merged already.")
    if survivor.is_merged:
        raise MergeError(f"{survivor} was merged into another customer: keep that one instead.")


def customer_merge_propose(
    *, survivor: Customer, merged: Customer, reason: str, actor: Any
) -> CustomerMerge:
    """Proposes merging ``merged`` into ``survivor``; another operator must approve."""
    reason = reason.strip()
    if not reason:
        raise MergeError("Say why these are the same person.")
    _check_pair(survivor, merged)
    with transaction.atomic():
        if CustomerMerge.objects.filter(
            merged=merged, status=CustomerMerge.Status.PROPOSED
        ).exists():
            raise MergeError(f"A merge of {merged} is proposed already.")
        merge = CustomerMerge.objects.create(
            survivor=survivor, merged=merged, reason=reason, proposed_by=actor
        )
        audit_record(
            action="customer_merge.propose",
            actor=actor,
            target=merge,
            after={"survivor": survivor.pk, "merged": merged.pk, "reason": reason},
        )
    return merge


def customer_merge_cancel(*, merge: CustomerMerge, actor: Any) -> CustomerMerge:
    with transaction.atomic():
        locked = CustomerMerge.objects.select_for_update().get(pk=merge.pk)
        if locked.status != CustomerMerge.Status.PROPOSED:
            raise MergeError(f"This merge is {locked.get_status_display().lower()} already.")
        locked.status = CustomerMerge.Status.CANCELLED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(
            action="customer_merge.cancel",
            actor=actor,
            target=locked,
            before={"status": CustomerMerge.Status.PROPOSED},
            after={"status": locked.status},
        )
    return locked


def customer_merge_approve(*, merge: CustomerMerge, actor: Any) -> CustomerMerge:
    """Approves a proposed merge and merges (see the module docstring).

    Refuses the proposer (four eyes; a database constraint backs this), a merge no longer
    proposed, and customers merged meanwhile. Locks the merge, then both customers in id
    order.
    """
    with transaction.atomic():
        locked = CustomerMerge.objects.select_for_update().get(pk=merge.pk)
        if locked.status != CustomerMerge.Status.PROPOSED:
            raise MergeError(f"This merge is {locked.get_status_display().lower()} already.")
        if locked.proposed_by_id == getattr(actor, "pk", None):
            raise MergeError("Another operator must approve a merge you proposed.")
        customers = {
            customer.pk: customer
            for customer in Customer.objects.select_for_update()
            .filter(pk__in=[locked.survivor_id, locked.merged_id])
            .order_by("pk")
        }
        survivor, merged = customers[locked.survivor_id], customers[locked.merged_id]
        _check_pair(survivor, merged)
        survivor_before, merged_before = model_snapshot(survivor), model_snapshot(merged)
        now = timezone.now()

        moved = {
            "messages": OutboundMessage.objects.filter(customer=merged).update(customer=survivor),
            "notes": HelpdeskNote.objects.filter(customer=merged).update(customer=survivor),
            "earlier_duplicates": Customer.objects.filter(merged_into=merged).update(
                merged_into=survivor
            ),
        }
        taken = {name: getattr(merged, name) for name in _FILLED_FIELDS}
        for name in _RELEASED_FIELDS:
            setattr(merged, name, "")
        merged.merged_into = survivor
        merged.merged_at = now
        # The duplicate lets go of its unique values before the survivor takes them.
        merged.save(update_fields=[*_RELEASED_FIELDS, "merged_into", "merged_at"])
        filled = [name for name, value in taken.items() if value and not getattr(survivor, name)]
        for name in filled:
            setattr(survivor, name, taken[name])
        if filled:
            survivor.save(update_fields=filled)

        locked.status = CustomerMerge.Status.COMPLETED
        locked.decided_by = actor
        locked.decided_at = now
        locked.merged_snapshot = json.loads(json.dumps(merged_before, cls=DjangoJSONEncoder))
        locked.save(update_fields=["status", "decided_by", "decided_at", "merged_snapshot"])
        audit_record(
            action="customer_merge.approve",
            actor=actor,
            target=locked,
            before={"survivor": survivor_before, "merged": merged_before},
            after={
                "survivor": model_snapshot(survivor),
                "merged": model_snapshot(merged),
                "moved": moved,
                "filled": filled,
            },
        )
        audit_record(
            action="customer.merged_into",
            actor=actor,
            target=merged,
            before=merged_before,
            after={**model_snapshot(merged), "merge": locked.pk},
        )
        audit_record(
            action="customer.merge_absorbed",
            actor=actor,
            target=survivor,
            before=survivor_before,
            after={**model_snapshot(survivor), "merge": locked.pk, "merged": merged.pk},
        )
        _publish_merged(locked)
    return locked


def customer_merge_redeliver(*, merge: CustomerMerge, actor: Any) -> None:
    """Publishes ``customer.merged`` again for a completed merge, so a higher app whose
    subscriber failed moves what it still holds (subscribers are idempotent)."""
    if merge.status != CustomerMerge.Status.COMPLETED:
        raise MergeError("Only a completed merge can be delivered again.")
    with transaction.atomic():
        audit_record(action="customer_merge.redeliver", actor=actor, target=merge)
        _publish_merged(merge)


def _publish_merged(merge: CustomerMerge) -> None:
    publish(
        MERGED_EVENT,
        customer_id=merge.survivor_id,
        merged_customer_id=merge.merged_id,
        merge_id=merge.pk,
        actor_id=merge.decided_by_id,
        event_id=f"customer-merge-{merge.pk}",
    )


def merge_actor(actor_id: int | None) -> Any:
    """The user who approved a merge, for a subscriber's own audit events."""
    from django.contrib.auth import get_user_model

    if actor_id is None:
        return "customer merge"
    return get_user_model().objects.filter(pk=actor_id).first() or "customer merge"
