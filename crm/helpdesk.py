"""The helpdesk's writes and reads in crm: notes, "resend the last message", the customer
search, and crm's own panels on the customer page (messages, notes, audit trail).

Access: every function taking a customer expects one already fetched through
``crm.customer360.customers_visible_to(user)``; the admin views do that first.
"""

from typing import Any

from django import forms
from django.db import transaction
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from crm.audit import audit_record, model_snapshot
from crm.customer360 import PanelView, customer_ids_from_search_hooks, register_panel
from crm.models import AuditEvent, Customer, CustomerMerge, HelpdeskNote, OutboundMessage
from crm.notifications.catalog import event_spec
from crm.notifications.services import MessageActionError, message_resend
from crm.phones import phone_search_candidates

RECENT_MESSAGES = 50
RECENT_AUDIT_EVENTS = 100
# Fewer digits than this could be part of any number: not searched as a phone fragment.
MIN_PHONE_DIGITS = 5


class NoteForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"), choices=HelpdeskNote.Category.choices)
    text = forms.CharField(
        label=_("Note"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
    )


def helpdesk_note_add(*, customer: Customer, author: Any, category: str, text: str) -> HelpdeskNote:
    """Appends a note to ``customer`` (audited). Notes are never edited or deleted."""
    text = text.strip()
    if not text:
        raise ValueError("A note needs some text.")
    if category not in HelpdeskNote.Category.values:
        raise ValueError(f"Unknown note category {category!r}.")
    with transaction.atomic():
        note = HelpdeskNote.objects.create(
            customer=customer, author=author, category=category, text=text
        )
        audit_record(
            action="helpdesk_note.add",
            actor=author,
            target=note,
            after={**model_snapshot(note), "customer_label": str(customer)},
        )
    return note


def last_resendable_message(*, customer: Customer) -> OutboundMessage | None:
    """The newest message to ``customer`` that is not a sign-in code (never resent)."""
    for message in OutboundMessage.objects.filter(customer=customer).order_by("-created_at", "-id"):
        if not event_spec(message.event).is_secret:
            return message
    return None


def customer_resend_last_message(*, customer: Customer, actor: Any) -> OutboundMessage:
    """Resends the customer's last message to their current address (audited by the
    notification engine). Raises MessageActionError when there is nothing to resend."""
    message = last_resendable_message(customer=customer)
    if message is None:
        raise MessageActionError("This customer has no message that can be resent.")
    return message_resend(message=message, actor=actor)


# --- search ------------------------------------------------------------------------------


def customer_search_condition(term: str) -> Q:
    """What the helpdesk's search box matches: phone in any typed form, email, name, member
    number, and whatever the registered search hooks recognise (claim numbers,
    codes, participant ids)."""
    term = " ".join(term.split())
    if not term:
        return Q()
    condition = Q(email__iexact=term) | Q(member_number__iexact=term)
    if "@" in term:
        condition |= Q(email__icontains=term)
    exact_phone, digits = phone_search_candidates(term)
    if exact_phone:
        condition |= Q(phone=exact_phone)
    if len(digits) >= MIN_PHONE_DIGITS and not any(ch.isalpha() for ch in term):
        condition |= Q(phone__contains=digits)
    words = [word for word in term.split() if not any(ch.isdigit() for ch in word)]
    if words:
        name_condition = Q()
        for word in words:
            name_condition &= (
                Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | Q(email__icontains=word)
            )
        condition |= name_condition
    return condition | customer_ids_from_search_hooks(term)


# --- crm's own panels --------------------------------------------------------------------


def _messages_context(view: PanelView) -> dict[str, Any]:
    messages = list(
        OutboundMessage.objects.filter(customer_id__in=view.customer_ids).order_by(
            "-created_at", "-id"
        )[:RECENT_MESSAGES]
    )
    last = last_resendable_message(customer=view.customer)
    can_resend = view.user.has_perm("crm.retry_outboundmessage") and not view.customer.is_merged
    return {
        "outbound_messages": messages,
        "last_message": last,
        "can_resend": can_resend and last is not None,
        "total": OutboundMessage.objects.filter(customer_id__in=view.customer_ids).count(),
    }


def _notes_context(view: PanelView) -> dict[str, Any]:
    return {
        "notes": HelpdeskNote.objects.filter(customer_id__in=view.customer_ids).select_related(
            "author"
        ),
        "note_form": NoteForm(),
        "can_add_note": view.user.has_perm("crm.add_helpdesknote") and not view.customer.is_merged,
    }


def _ids_as_text(queryset: QuerySet[Any]) -> QuerySet[Any]:
    return queryset.annotate(id_text=Cast("pk", CharField())).values("id_text")


def audit_events_for_customer(*, customer_ids: tuple[int, ...]) -> QuerySet[AuditEvent]:
    """Audit events about the customers, their notes, messages and merges, newest first."""
    return AuditEvent.objects.filter(customer_audit_condition(customer_ids)).order_by("-id")


def customer_audit_condition(customer_ids: tuple[int, ...] | QuerySet[Customer]) -> Q:
    """A condition on AuditEvent: about the customers (ids, or a queryset of customers used
    as a subquery), their notes, messages and merges."""
    if isinstance(customer_ids, QuerySet):
        ids: Any = _ids_as_text(customer_ids)
    else:
        ids = [str(customer_id) for customer_id in customer_ids]
    return (
        Q(object_type="crm.customer", object_id__in=ids)
        | Q(
            object_type="crm.helpdesknote",
            object_id__in=_ids_as_text(HelpdeskNote.objects.filter(customer_id__in=customer_ids)),
        )
        | Q(
            object_type="crm.outboundmessage",
            object_id__in=_ids_as_text(
                OutboundMessage.objects.filter(customer_id__in=customer_ids)
            ),
        )
        | Q(
            object_type="crm.customermerge",
            object_id__in=_ids_as_text(
                CustomerMerge.objects.filter(
                    Q(survivor_id__in=customer_ids) | Q(merged_id__in=customer_ids)
                )
            ),
        )
    )


def _audit_context(view: PanelView) -> dict[str, Any]:
    return {
        "events": audit_events_for_customer(customer_ids=view.customer_ids)[:RECENT_AUDIT_EVENTS]
    }


def _merges_context(view: PanelView) -> dict[str, Any]:
    merges = CustomerMerge.objects.filter(
        Q(survivor_id__in=view.customer_ids) | Q(merged_id__in=view.customer_ids)
    ).select_related("survivor", "merged", "proposed_by", "decided_by")
    return {
        "merges": merges,
        "can_propose": view.user.has_perm("crm.add_customermerge") and not view.customer.is_merged,
        "can_approve": view.user.has_perm("crm.approve_customermerge"),
    }


def register_crm_panels() -> None:
    register_panel(
        "messages",
        _("Messages sent"),
        "crm/panels/messages.html",
        _messages_context,
        "crm.view_outboundmessage",
        order=30,
    )
    register_panel(
        "notes",
        _("Helpdesk notes"),
        "crm/panels/notes.html",
        _notes_context,
        "crm.view_helpdesknote",
        order=40,
    )
    register_panel(
        "audit",
        _("Audit trail"),
        "crm/panels/audit.html",
        _audit_context,
        "crm.view_auditevent",
        order=90,
    )
    register_panel(
        "merges",
        _("Duplicate merges"),
        "crm/panels/merges.html",
        _merges_context,
        "crm.view_customermerge",
        order=80,
    )
