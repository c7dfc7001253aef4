"""The claims part of the helpdesk's customer 360 (crm.customer360), registered from
ClaimsConfig.ready() by ``register()``:

- the **Claims** panel: every claim of the customer (and of duplicates merged into them)
  with its full staff timeline, documents and shipments; staff tied to a client see only
  that client's claims;
- two **panel actions** for fulfilment stages, through the claim services (which check the
  move and the permission ``claims.fulfil_claim`` again): mark a parcel returned, and
  dispatch again. Nothing here approves or rejects a claim;
- a **search hook** (claim number, or the code that won the claim) and a **scope hook**
  (customers with a claim in one of the client's schemes);
- the **customer.merged** subscriber: the duplicate's claims and portal account move to the
  customer that stays.
"""

import logging
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from claims.models import (
    Claim,
    ClaimDocument,
    ClaimStatus,
    ClaimTransition,
    CustomerAccount,
    Shipment,
)
from claims.services.transitions import ClaimTransitionError, claim_dispatch, claim_mark_returned
from crm.audit import audit_record
from crm.customer360 import (
    PanelActionError,
    PanelView,
    register_panel,
    register_panel_action,
    register_scope_hook,
    register_search_hook,
)
from crm.events import subscribe
from crm.merge import MERGED_EVENT, merge_actor

logger = logging.getLogger(__name__)

PANEL_KEY = "claims"
FULFIL_PERMISSION = "claims.fulfil_claim"
RECENT_CLAIMS = 50


def _claims_in_view(view: PanelView) -> QuerySet[Claim]:
    claims = Claim.objects.filter(customer_id__in=view.customer_ids)
    if view.client_id is not None:
        claims = claims.filter(scheme__client_id=view.client_id)
    return claims


def claims_panel_context(view: PanelView) -> dict[str, Any]:
    claims = (
        _claims_in_view(view)
        .select_related("scheme", "prize", "code")
        .prefetch_related(
            Prefetch("transitions", ClaimTransition.objects.order_by("occurred_at", "pk")),
            Prefetch("documents", ClaimDocument.objects.order_by("kind", "uploaded_at", "pk")),
            Prefetch("shipments", Shipment.objects.order_by("dispatched_at", "pk")),
        )
        .order_by("-created_at", "-pk")[:RECENT_CLAIMS]
    )
    can_fulfil = view.user.has_perm(FULFIL_PERMISSION) and not view.customer.is_merged
    return {
        "claims": claims,
        "can_fulfil": can_fulfil,
        "dispatched": ClaimStatus.DISPATCHED,
        "returned": ClaimStatus.RETURNED,
        "mark_returned_url": view.action_url(PANEL_KEY, "mark-returned"),
        "dispatch_url": view.action_url(PANEL_KEY, "dispatch"),
    }


def _claim_from_post(view: PanelView, data: QueryDict) -> Claim:
    claim = _claims_in_view(view).filter(number=data.get("claim", "").strip()).first()
    if claim is None:
        raise PanelActionError(_("That claim is not one of this customer's."))
    return claim


def mark_returned_action(view: PanelView, data: QueryDict) -> str:
    claim = _claim_from_post(view, data)
    try:
        claim_mark_returned(claim=claim, actor=view.user, note=data.get("note", "").strip())
    except ClaimTransitionError as error:
        raise PanelActionError(error.message) from error
    return _("Claim %(number)s: parcel marked returned.") % {"number": claim.number}


def dispatch_action(view: PanelView, data: QueryDict) -> str:
    claim = _claim_from_post(view, data)
    try:
        claim_dispatch(
            claim=claim,
            actor=view.user,
            carrier=data.get("carrier", ""),
            tracking_number=data.get("tracking_number", ""),
            tracking_url=data.get("tracking_url", "").strip(),
            note=data.get("note", "").strip(),
        )
    except ClaimTransitionError as error:
        raise PanelActionError(error.message) from error
    return _("Claim %(number)s: dispatched.") % {"number": claim.number}


def customers_by_claim(term: str) -> QuerySet[Any]:
    condition = Claim.objects.filter(number__iexact=term.strip())
    compact = "".join(term.split()).replace("-", "").upper()
    if compact:
        condition = condition | Claim.objects.filter(code__value=compact)
    return condition.values("customer_id")


def customers_of_client(client_id: int) -> QuerySet[Any]:
    return Claim.objects.filter(scheme__client_id=client_id).values("customer_id")


def on_customer_merged(
    *,
    event_name: str,
    customer_id: int,
    merged_customer_id: int,
    actor_id: int | None = None,
    **payload: Any,
) -> None:
    """Moves the duplicate's claims (and its portal account, when the survivor has none)
    to the survivor. Idempotent: a second delivery finds nothing left to move."""
    actor = merge_actor(actor_id)
    with transaction.atomic():
        claim_ids = list(
            Claim.objects.select_for_update()
            .filter(customer_id=merged_customer_id)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if claim_ids:
            Claim.objects.filter(pk__in=claim_ids).update(customer_id=customer_id)
        account = (
            CustomerAccount.objects.select_for_update()
            .filter(customer_id=merged_customer_id)
            .first()
        )
        account_moved = False
        if account is not None:
            if not CustomerAccount.objects.filter(customer_id=customer_id).exists():
                account.customer_id = customer_id
                account.save(update_fields=["customer"])
                account_moved = True
            elif account.user.is_active:
                # The survivor signs in with its own account; the duplicate's goes quiet.
                account.user.is_active = False
                account.user.save(update_fields=["is_active"])
        if claim_ids or account_moved:
            audit_record(
                action="claims.customer_merged",
                actor=actor,
                object_type="crm.customer",
                object_id=customer_id,
                after={
                    "merged_customer": merged_customer_id,
                    "claims": claim_ids,
                    "portal_account_moved": account_moved,
                },
            )


def register() -> None:
    register_panel(
        PANEL_KEY,
        gettext_lazy("Claims"),
        "admin/claims/customer_panel.html",
        claims_panel_context,
        "claims.view_claim",
        order=10,
    )
    register_panel_action(
        PANEL_KEY, "mark-returned", mark_returned_action, permission=FULFIL_PERMISSION
    )
    register_panel_action(PANEL_KEY, "dispatch", dispatch_action, permission=FULFIL_PERMISSION)
    register_search_hook(PANEL_KEY, customers_by_claim)
    register_scope_hook(PANEL_KEY, customers_of_client)
    subscribe(MERGED_EVENT, on_customer_merged)
