"""The verification team's pages: the review queue, a claim's review page, fulfilment, the
audit trail and the queue metrics. Views authenticate, validate, call one service or
selector and render; every rule lives in the services."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.csp import CSP
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_POST, require_safe

from claims.models import Claim, ClaimDocument, ClaimStatus
from claims.selectors import claim_document_get_for_staff, claim_shipments
from crm.audit import audit_chain_breaks, audit_record
from rewards.models import Prize
from verification import forms, selectors, services
from verification.errors import VerificationError
from verification.fraud import claim_signals
from verification.models import FulfilmentBatch, FulfilmentItem, InvoiceDetails, ReviewLock
from verification.services.review import checklist_for

View = Callable[..., HttpResponse]

# The review page frames PDFs from our own document view; the global policy allows that
# through default-src 'self', and this names it explicitly for the page alone.
REVIEW_PAGE_CSP = {**settings.SECURE_CSP, "frame-src": [CSP.SELF]}
# A document shown inline: nothing may load from it, only our own pages may frame it.
DOCUMENT_CSP = {
    "default-src": [CSP.NONE],
    "img-src": [CSP.SELF],
    "object-src": [CSP.SELF],
    "frame-ancestors": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.NONE],
}


def staff_gate(allowed: Callable[[Any], bool]) -> Callable[[View], View]:
    """Signed-in staff with a verified second factor (when STAFF_OTP_REQUIRED) for whom
    ``allowed(user)`` holds; anyone else signs in first or gets 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user: Any = request.user
            if not user.is_authenticated or (
                settings.STAFF_OTP_REQUIRED and not user.is_verified()
            ):
                return redirect_to_login(request.get_full_path())
            if not allowed(user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


reviewer_gate = staff_gate(selectors.may_review)
fulfilment_gate = staff_gate(selectors.may_fulfil)
audit_gate = staff_gate(selectors.may_search_audit)
metrics_gate = staff_gate(selectors.may_view_metrics)


def _claim_or_404(request: HttpRequest, claim_id: int) -> Claim:
    claim = selectors.claim_for_reviewer(user=request.user, claim_id=claim_id)
    if claim is None:
        raise Http404
    return claim


def _review_url(claim: Claim) -> str:
    return reverse("verification:claim", args=[claim.pk])


# -- the queue -----------------------------------------------------------------------------


@require_safe
@never_cache
@reviewer_gate
def queue(request: HttpRequest) -> HttpResponse:
    form = forms.QueueFilterForm(request.GET or None)
    filters = form.filters() if form.is_valid() else selectors.QueueFilters()
    rows = selectors.queue_for_user(user=request.user, filters=filters).select_related(
        "customer", "scheme", "prize"
    )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    now = timezone.now()
    for claim in page.object_list:
        claim.past_sla = claim.due_at < now
        claim.lock_live = bool(claim.lock_holder) and claim.lock_expires_at > now
    return render(
        request,
        "verification/queue.html",
        {
            "form": form,
            "page": page,
            "may_check": request.user.has_perm("claims.check_claim"),
            "may_fulfil": selectors.may_fulfil(request.user),
            "may_search_audit": selectors.may_search_audit(request.user),
            "may_view_metrics": selectors.may_view_metrics(request.user),
            "query": request.GET.urlencode(),
        },
    )


@require_POST
@reviewer_gate
def bulk_decide(request: HttpRequest) -> HttpResponse:
    """A checker confirms several proposals at once, each through proposal_decide."""
    ids = [int(value) for value in request.POST.getlist("claims") if value.isdigit()]
    claims = list(selectors.queue_for_user(user=request.user).filter(pk__in=ids))
    if not claims:
        messages.error(request, _("Choose the proposals to confirm."))
        return redirect("verification:queue")
    outcomes = services.proposals_decide_bulk(
        claims=claims,
        actor=request.user,
        acknowledge_signals=request.POST.get("acknowledge_signals") == "on",
    )
    for outcome in outcomes:
        if outcome.error:
            messages.error(request, f"{outcome.claim.number}: {outcome.error}")
        else:
            messages.success(request, _("%(number)s confirmed.") % {"number": outcome.claim.number})
    return redirect("verification:queue")


# -- one claim -----------------------------------------------------------------------------


@require_safe
@never_cache
@csp_override(REVIEW_PAGE_CSP)
@reviewer_gate
def claim_review(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim = _claim_or_404(request, claim_id)
    user: Any = request.user
    lock = ReviewLock.objects.select_related("holder").filter(claim_id=claim.pk).first()
    holds_lock = lock is not None and lock.is_live() and lock.holder_id == user.pk
    checklist = checklist_for(claim)
    proposals = list(selectors.claim_proposals(claim))
    pending = next((p for p in proposals if p.status == p.Status.PENDING), None)
    documents = list(
        ClaimDocument.objects.filter(claim=claim).order_by("superseded_at", "kind", "-uploaded_at")
    )
    invoice = InvoiceDetails.objects.filter(claim_id=claim.pk).first()
    return render(
        request,
        "verification/claim.html",
        {
            "claim": claim,
            "lock": lock if lock is not None and lock.is_live() else None,
            "holds_lock": holds_lock,
            "documents": documents,
            "signals": claim_signals(claim),
            "proposals": proposals,
            "pending": pending,
            "invoice": invoice,
            "invoice_form": forms.InvoiceDetailsForm(
                initial={
                    "invoice_number": invoice.invoice_number,
                    "merchant_name": invoice.merchant_name,
                }
                if invoice
                else None
            ),
            "proposal_form": forms.ProposalForm(checklist=checklist),
            "decision_form": forms.DecisionForm(),
            "may_review": user.has_perm("claims.review_claim"),
            "may_check": user.has_perm("claims.check_claim"),
            "may_take": claim.status in services.review.QUEUE_STATUSES,
            "shipments": claim_shipments(claim),
            "history": selectors.claim_audit_history(claim),
            "timeline": claim.transitions.order_by("occurred_at", "pk"),
        },
    )


@require_POST
@reviewer_gate
def claim_take(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim = _claim_or_404(request, claim_id)
    try:
        services.review_lock_take(claim=claim, actor=request.user)
    except VerificationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("You are reviewing %(number)s.") % {"number": claim.number})
    return redirect(_review_url(claim))


@require_POST
@reviewer_gate
def claim_give_back(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim = _claim_or_404(request, claim_id)
    try:
        services.review_lock_release(claim=claim, actor=request.user)
    except VerificationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("%(number)s is back in the queue.") % {"number": claim.number})
    return redirect("verification:queue")


@require_safe
@never_cache
@xframe_options_sameorigin
@csp_override(DOCUMENT_CSP)
@reviewer_gate
def claim_document(request: HttpRequest, claim_id: int, document_id: int) -> HttpResponse:
    """One document, inline, for the review page (an <img> or a framed PDF). Every view is
    an audit event, an identity document under its own action."""
    claim = _claim_or_404(request, claim_id)
    document = claim_document_get_for_staff(user=request.user, document_id=document_id)
    if document is None or document.claim_id != claim.pk:
        raise Http404
    with transaction.atomic():
        audit_record(
            action="claim.identity_document_viewed"
            if document.is_identity_document
            else "claim.document_viewed",
            actor=request.user,
            target=claim,
            after={"document_id": document.pk, "kind": document.kind, "via": "verification"},
        )
    response = FileResponse(
        default_storage.open(document.storage_name, "rb"),
        as_attachment=False,
        filename=document.download_name,
        content_type=document.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@reviewer_gate
def claim_invoice(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim = _claim_or_404(request, claim_id)
    form = forms.InvoiceDetailsForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the invoice number and the merchant."))
        return redirect(_review_url(claim))
    try:
        services.invoice_details_record(claim=claim, actor=request.user, **form.cleaned_data)
    except VerificationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Invoice details saved."))
    return redirect(_review_url(claim))


@require_POST
@reviewer_gate
def claim_propose(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim = _claim_or_404(request, claim_id)
    form = forms.ProposalForm(request.POST, checklist=checklist_for(claim))
    if not form.is_valid():
        messages.error(request, _("Choose what you propose."))
        return redirect(_review_url(claim))
    data = form.cleaned_data
    try:
        services.proposal_make(
            claim=claim,
            actor=request.user,
            outcome=data["outcome"],
            rejection_reason=data.get("rejection_reason"),
            reason=data.get("reason") or "",
            note=data.get("note") or "",
            requested_document_kinds=data.get("requested_document_kinds") or [],
            checklist=form.checklist_answers(),
        )
    except VerificationError as error:
        messages.error(request, str(error))
        return redirect(_review_url(claim))
    messages.success(
        request, _("Proposal for %(number)s sent to a checker.") % {"number": claim.number}
    )
    return redirect("verification:queue")


@require_POST
@reviewer_gate
def claim_decide(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim = _claim_or_404(request, claim_id)
    form = forms.DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose confirm or send back."))
        return redirect(_review_url(claim))
    try:
        row = services.proposal_decide(
            claim=claim,
            actor=request.user,
            decision=form.cleaned_data["decision"],
            note=form.cleaned_data.get("note") or "",
            acknowledge_signals=form.cleaned_data.get("acknowledge_signals") or False,
        )
    except VerificationError as error:
        messages.error(request, str(error))
        return redirect(_review_url(claim))
    messages.success(
        request,
        _("%(number)s: %(result)s.") % {"number": claim.number, "result": row.get_result_display()},
    )
    return redirect(_review_url(claim))


# -- fulfilment ----------------------------------------------------------------------------


@require_safe
@never_cache
@fulfilment_gate
def fulfilment(request: HttpRequest) -> HttpResponse:
    approved = list(selectors.approved_awaiting_release(user=request.user))
    groups: dict[str, list[Claim]] = {}
    for claim in approved:
        groups.setdefault(claim.prize.kind, []).append(claim)
    return render(
        request,
        "verification/fulfilment.html",
        {
            "groups": [
                (kind, Prize.Kind(kind).label, claims) for kind, claims in sorted(groups.items())
            ],
            "batches": selectors.batches_for_user(user=request.user)[:50],
        },
    )


@require_POST
@fulfilment_gate
def fulfilment_release(request: HttpRequest) -> HttpResponse:
    ids = [int(value) for value in request.POST.getlist("claims") if value.isdigit()]
    try:
        batch = services.fulfilment_release(claim_ids=ids, actor=request.user)
    except VerificationError as error:
        messages.error(request, str(error))
        return redirect("verification:fulfilment")
    messages.success(request, _("Released as batch %(batch)s.") % {"batch": batch.pk})
    return redirect("verification:batch", batch_id=batch.pk)


def _batch_or_404(request: HttpRequest, batch_id: int) -> FulfilmentBatch:
    return get_object_or_404(selectors.batches_for_user(user=request.user), pk=batch_id)


@require_safe
@never_cache
@fulfilment_gate
def batch(request: HttpRequest, batch_id: int) -> HttpResponse:
    the_batch = _batch_or_404(request, batch_id)
    items = list(
        FulfilmentItem.objects.filter(batch=the_batch)
        .select_related("claim__prize", "claim__customer")
        .prefetch_related("claim__shipments")
        .order_by("pk")
    )
    return render(
        request,
        "verification/batch.html",
        {
            "batch": the_batch,
            "items": items,
            "is_physical": the_batch.prize_kind == Prize.Kind.PHYSICAL,
            "dispatch_form": forms.DispatchForm(),
            "import_form": forms.TrackingImportForm(),
            "statuses": ClaimStatus,
        },
    )


@require_POST
@fulfilment_gate
def batch_export(request: HttpRequest, batch_id: int) -> HttpResponse:
    the_batch = _batch_or_404(request, batch_id)
    try:
        text = services.courier_csv(batch=the_batch, actor=request.user)
    except VerificationError as error:
        messages.error(request, str(error))
        return redirect("verification:batch", batch_id=the_batch.pk)
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="courier-batch-{the_batch.pk}.csv"'
    return response


@require_POST
@fulfilment_gate
def batch_import(request: HttpRequest, batch_id: int) -> HttpResponse:
    the_batch = _batch_or_404(request, batch_id)
    form = forms.TrackingImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose the courier's CSV file."))
        return redirect("verification:batch", batch_id=the_batch.pk)
    upload = form.cleaned_data["file"]
    if upload.size > 5 * 1024 * 1024:
        messages.error(request, _("The file is too large."))
        return redirect("verification:batch", batch_id=the_batch.pk)
    try:
        text = upload.read().decode("utf-8-sig")
        result = services.tracking_import(batch=the_batch, actor=request.user, text=text)
    except (UnicodeDecodeError, VerificationError) as error:
        messages.error(request, str(error))
        return redirect("verification:batch", batch_id=the_batch.pk)
    messages.success(
        request, _("%(count)s parcels dispatched.") % {"count": len(result.dispatched)}
    )
    for line_error in result.errors:
        messages.error(request, line_error)
    return redirect("verification:batch", batch_id=the_batch.pk)


def _item_or_404(request: HttpRequest, batch_id: int, claim_id: int) -> FulfilmentItem:
    the_batch = _batch_or_404(request, batch_id)
    return get_object_or_404(
        FulfilmentItem.objects.select_related("claim"), batch=the_batch, claim_id=claim_id
    )


@require_POST
@fulfilment_gate
def item_dispatch(request: HttpRequest, batch_id: int, claim_id: int) -> HttpResponse:
    item = _item_or_404(request, batch_id, claim_id)
    form = forms.DispatchForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the carrier and the tracking number."))
    else:
        try:
            services.parcel_dispatch(claim=item.claim, actor=request.user, **form.cleaned_data)
        except VerificationError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("%(number)s dispatched.") % {"number": item.claim.number})
    return redirect("verification:batch", batch_id=batch_id)


@require_POST
@fulfilment_gate
def item_deliver(request: HttpRequest, batch_id: int, claim_id: int) -> HttpResponse:
    item = _item_or_404(request, batch_id, claim_id)
    try:
        if item.claim.prize.kind == Prize.Kind.PHYSICAL:
            services.parcel_deliver(claim=item.claim, actor=request.user)
        else:
            services.fulfilment_item_complete(item=item, actor=request.user)
    except VerificationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("%(number)s delivered.") % {"number": item.claim.number})
    return redirect("verification:batch", batch_id=batch_id)


# -- the audit trail and metrics -----------------------------------------------------------


@require_safe
@never_cache
@audit_gate
def audit_trail(request: HttpRequest) -> HttpResponse:
    form = forms.AuditSearchForm(request.GET or None)
    query = (
        selectors.AuditQuery(**{key: value for key, value in form.cleaned_data.items() if value})
        if form.is_valid()
        else selectors.AuditQuery()
    )
    rows = selectors.audit_events_search(user=request.user, query=query)
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "verification/audit.html",
        {"form": form, "page": page, "query": request.GET.urlencode()},
    )


@require_POST
@audit_gate
def audit_chain_check(request: HttpRequest) -> HttpResponse:
    breaks = list(audit_chain_breaks())
    with transaction.atomic():
        audit_record(
            action="audit.chain_check",
            actor=request.user,
            after={"breaks": len(breaks), "first": [b.event_id for b in breaks[:20]]},
        )
    if breaks:
        messages.error(
            request,
            _("The chain is broken at %(count)s places: %(rows)s.")
            % {
                "count": len(breaks),
                "rows": "; ".join(f"#{b.event_id} {b.reason}" for b in breaks[:20]),
            },
        )
    else:
        messages.success(request, _("The audit chain is intact: every row matches its hash."))
    return redirect("verification:audit")


@require_safe
@never_cache
@metrics_gate
def metrics(request: HttpRequest) -> HttpResponse:
    return render(request, "verification/metrics.html", {"metrics": selectors.queue_metrics()})
