"""The rewards part of the helpdesk's customer 360 (crm.customer360), registered from
RewardsConfig.ready() by ``register()``:

- the **Wallets** panel: each participation of the customer (and of duplicates merged into
  them) with its wallet balance, what is pending and available, and recent transactions;
  read-only, there is no way to change a balance from here. Staff tied to a client see only
  that client's schemes;
- a **search hook** (participant id, or a code the customer entered) and a **scope hook**
  (participants in, and codes of, the client's schemes);
- the **customer.merged** subscriber: the duplicate's participations move to the customer
  that stays; where both take part in one scheme, the duplicate's participant is terminated
  as a duplicate with its balance transferred (rewards.services.participants), so the ledger
  keeps every entry. Entered codes move too.
"""

import logging
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy

from crm.audit import audit_record
from crm.customer360 import PanelView, register_panel, register_scope_hook, register_search_hook
from crm.events import subscribe
from crm.merge import MERGED_EVENT, merge_actor
from rewards.codes import CodeFormatError, normalise
from rewards.models import Code, Participant
from rewards.selectors import wallet_summary, wallet_transactions
from rewards.services.participants import participant_terminate

logger = logging.getLogger(__name__)

PANEL_KEY = "wallets"
RECENT_TRANSACTIONS = 10


def wallets_panel_context(view: PanelView) -> dict[str, Any]:
    participants = Participant.objects.filter(customer_id__in=view.customer_ids).select_related(
        "scheme", "wallet", "replaced_by"
    )
    codes = Code.objects.filter(entered_by_id__in=view.customer_ids).select_related(
        "scheme", "prize"
    )
    if view.client_id is not None:
        participants = participants.filter(scheme__client_id=view.client_id)
        codes = codes.filter(scheme__client_id=view.client_id)
    wallets = []
    for participant in participants.order_by("-signed_up_at", "-pk"):
        has_wallet = hasattr(participant, "wallet")
        wallets.append(
            {
                "participant": participant,
                "summary": wallet_summary(participant=participant) if has_wallet else None,
                "transactions": list(
                    wallet_transactions(participant=participant)[:RECENT_TRANSACTIONS]
                )
                if has_wallet
                else [],
            }
        )
    return {"wallets": wallets, "codes": codes.order_by("-entered_at")[:50]}


def customers_by_participant_or_code(term: str) -> QuerySet[Any]:
    term = term.strip()
    if term.isdigit():
        return Participant.objects.filter(pk=int(term)).values("customer_id")
    try:
        value = normalise(term)
    except CodeFormatError:
        return Participant.objects.none().values("customer_id")
    return Code.objects.filter(value=value, entered_by__isnull=False).values("entered_by_id")


def customers_of_client(client_id: int) -> QuerySet[Any]:
    return (
        Participant.objects.filter(scheme__client_id=client_id)
        .values("customer_id")
        .union(
            Code.objects.filter(scheme__client_id=client_id, entered_by__isnull=False).values(
                "entered_by_id"
            )
        )
    )


def on_customer_merged(
    *,
    event_name: str,
    customer_id: int,
    merged_customer_id: int,
    actor_id: int | None = None,
    **payload: Any,
) -> None:
    """Idempotent: moved participations and codes are not found on the duplicate again, and
    a participant terminated as a duplicate is left where it is."""
    actor = merge_actor(actor_id)
    moved, terminated = [], []
    with transaction.atomic():
        survivors = {
            participant.scheme_id: participant
            for participant in Participant.objects.filter(customer_id=customer_id)
        }
        duplicates = (
            Participant.objects.select_for_update()
            .filter(customer_id=merged_customer_id)
            .order_by("pk")
        )
        for participant in duplicates:
            survivor = survivors.get(participant.scheme_id)
            if survivor is None:
                participant.customer_id = customer_id
                participant.save(update_fields=["customer"])
                moved.append(participant.pk)
            elif participant.is_effective and survivor.is_effective:
                participant_terminate(
                    participant=participant,
                    reason=Participant.TerminationReason.DUPLICATE,
                    actor=actor,
                    replaced_by=survivor,
                    transfer_balance=True,
                )
                terminated.append(participant.pk)
        codes = list(
            Code.objects.filter(entered_by_id=merged_customer_id).values_list("pk", flat=True)
        )
        if codes:
            Code.objects.filter(pk__in=codes).update(entered_by_id=customer_id)
        if moved or terminated or codes:
            audit_record(
                action="rewards.customer_merged",
                actor=actor,
                object_type="crm.customer",
                object_id=customer_id,
                after={
                    "merged_customer": merged_customer_id,
                    "participants_moved": moved,
                    "participants_terminated_as_duplicates": terminated,
                    "codes": codes,
                },
            )


def register() -> None:
    register_panel(
        PANEL_KEY,
        gettext_lazy("Wallets"),
        "admin/rewards/customer_panel.html",
        wallets_panel_context,
        "rewards.view_participant",
        order=20,
    )
    register_search_hook(PANEL_KEY, customers_by_participant_or_code)
    register_scope_hook(PANEL_KEY, customers_of_client)
    subscribe(MERGED_EVENT, on_customer_merged)
