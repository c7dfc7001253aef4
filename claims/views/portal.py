"""The customer portal's claim pages: "My claims", entering a code, the claim form, documents,
review and submit, the status page with its timeline, and sending documents again.

Every page takes the claim through ``claim_get_for_customer``: another customer's claim
number is answered exactly like a number that does not exist (404). Every write goes
through one service; a refused move (ClaimTransitionError) becomes a plain message.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from claims.decorators import customer_required
from claims.documents import DocumentRefusedError, document_response
from claims.forms import ClaimDetailsForm, DocumentUploadForm, EnterCodeForm
from claims.models import Claim, ClaimDocument, ClaimStatus, requirements_for_scheme
from claims.ratelimits import CODE_ENTRY, DOCUMENT_UPLOAD
from claims.selectors import (
    claim_current_documents,
    claim_customer_timeline,
    claim_document_get_for_customer,
    claim_get_for_customer,
    claim_voucher_code,
    claims_for_customer,
    draw_wins_to_claim,
)
from claims.services import (
    ClaimTransitionError,
    CodeOutcome,
    claim_details_update,
    claim_document_add,
    claim_document_kinds_open,
    claim_documents_still_requested,
    claim_missing_items,
    claim_resubmit,
    claim_start_from_code,
    claim_start_from_draw_result,
    claim_submit,
)
from claims.services.claiming import DETAIL_FIELDS
from claims.wording import code_refusal_message


def _customer_claim(request: HttpRequest, number: str) -> Claim:
    claim = claim_get_for_customer(customer=request.customer, number=number)  # type: ignore[attr-defined]
    if claim is None:
        raise Http404
    return claim


# -- My claims ---------------------------------------------------------------------------


@never_cache
@require_GET
@customer_required
def home(request: HttpRequest) -> HttpResponse:
    customer = request.customer  # type: ignore[attr-defined]
    context = {
        "customer": customer,
        "claims": list(claims_for_customer(customer=customer)),
        "draw_wins": draw_wins_to_claim(customer=customer),
    }
    return render(request, "claims/home.html", context)


@require_POST
@customer_required
def claim_draw_win(request: HttpRequest, result_id: int) -> HttpResponse:
    """Opens (or resumes) the claim for one of the customer's draw wins."""
    try:
        claim = claim_start_from_draw_result(
            customer=request.customer,  # type: ignore[attr-defined]
            actor=request.user,
            result_id=result_id,
        )
    except ClaimTransitionError as refusal:
        if refusal.code == "unknown":
            raise Http404 from refusal
        messages.error(request, refusal.message)
        return redirect("portal:home")
    if claim.status == ClaimStatus.DRAFT and not claim.is_past_deadline:
        return redirect("portal:claim-details", number=claim.number)
    return redirect(claim)


# -- entering a code -------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
@customer_required
def enter_code(request: HttpRequest) -> HttpResponse:
    customer = request.customer  # type: ignore[attr-defined]
    form = EnterCodeForm(request.POST or None)
    context: dict[str, Any] = {"form": form}
    if request.method != "POST" or not form.is_valid():
        return render(request, "claims/enter_code.html", context)
    if CODE_ENTRY.is_over(request, customer=customer):
        context["error"] = _("Too many codes have been entered. Wait an hour and try again.")
        return render(request, "claims/enter_code.html", context, status=429)
    entry = claim_start_from_code(
        customer=customer, actor=request.user, text=form.cleaned_data["code"]
    )
    if entry.outcome == CodeOutcome.CLAIM_STARTED and entry.claim is not None:
        return redirect("portal:claim-details", number=entry.claim.number)
    if entry.outcome == CodeOutcome.CLAIM_RESUMED and entry.claim is not None:
        messages.info(request, _("You have already entered this code. Here is your claim."))
        return redirect(entry.claim)
    context["error"] = code_refusal_message(entry.outcome)
    context["outcome"] = str(entry.outcome)
    return render(request, "claims/enter_code.html", context)


# -- the claim form, documents and submit (a draft) ------------------------------------------


def _draft_or_redirect(request: HttpRequest, claim: Claim) -> HttpResponse | None:
    """None if the draft can still be worked on; else where the customer should go."""
    if claim.status != ClaimStatus.DRAFT:
        return redirect(claim)
    if claim.is_past_deadline:
        messages.error(request, _("The deadline for this claim has passed."))
        return redirect(claim)
    return None


def _steps(claim: Claim, current: str) -> list[dict[str, Any]]:
    names = [
        ("details", _("Your details")),
        ("documents", _("Documents")),
        ("review", _("Check and send")),
    ]
    if not requirements_for_scheme(claim.scheme_id).required_document_kinds:
        names = [name for name in names if name[0] != "documents"]
    return [
        {"key": key, "label": label, "number": index, "is_current": key == current}
        for index, (key, label) in enumerate(names, start=1)
    ]


def _draft_context(claim: Claim, step: str, **extra: Any) -> dict[str, Any]:
    return {
        "claim": claim,
        "requirements": requirements_for_scheme(claim.scheme_id),
        "steps": _steps(claim, step),
        **extra,
    }


@never_cache
@require_http_methods(["GET", "POST"])
@customer_required
def claim_details(request: HttpRequest, number: str) -> HttpResponse:
    claim = _customer_claim(request, number)
    elsewhere = _draft_or_redirect(request, claim)
    if elsewhere is not None:
        return elsewhere
    requirements = requirements_for_scheme(claim.scheme_id)
    customer = claim.customer
    initial = {name: getattr(claim, name) for name in DETAIL_FIELDS}
    if not initial["full_name"]:
        initial["full_name"] = f"{customer.first_name} {customer.last_name}".strip()
    form = ClaimDetailsForm(request.POST or None, initial=initial, requirements=requirements)
    if request.method == "POST" and form.is_valid():
        try:
            claim_details_update(
                claim=claim,
                actor=request.user,
                details={name: form.cleaned_data[name] for name in form.fields},
            )
        except ClaimTransitionError as error:
            messages.error(request, error.message)
            return redirect(claim)
        if requirements.required_document_kinds:
            return redirect("portal:claim-documents", number=claim.number)
        return redirect("portal:claim-review", number=claim.number)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "claims/claim_details.html",
        _draft_context(claim, "details", form=form),
        status=status,
    )


@dataclass
class DocumentSlot:
    """One kind of document on the upload page: what is there now, and its form."""

    kind: str
    label: str
    document: ClaimDocument | None
    form: DocumentUploadForm
    error: str = ""
    is_requested_again: bool = False


def _document_slots(
    claim: Claim, *, failed_kind: str = "", failed_form: DocumentUploadForm | None = None
) -> list[DocumentSlot]:
    current = claim_current_documents(claim)
    still_requested = set(claim_documents_still_requested(claim))
    slots = []
    for kind in claim_document_kinds_open(claim):
        form = failed_form if kind == failed_kind and failed_form is not None else None
        slots.append(
            DocumentSlot(
                kind=kind,
                label=str(ClaimDocument.Kind(kind).label),
                document=current.get(kind),
                form=form or DocumentUploadForm(auto_id=f"id_{kind}_%s"),
                is_requested_again=kind in still_requested,
            )
        )
    return slots


@never_cache
@require_http_methods(["GET", "POST"])
@customer_required
def claim_documents(request: HttpRequest, number: str) -> HttpResponse:
    claim = _customer_claim(request, number)
    if claim.status not in (ClaimStatus.DRAFT, ClaimStatus.RESUBMISSION_REQUESTED):
        return redirect(claim)
    if claim.is_past_deadline:
        messages.error(request, _("The deadline for this claim has passed."))
        return redirect(claim)
    failed_kind = ""
    failed_form = None
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        form = DocumentUploadForm(request.POST, request.FILES, auto_id=f"id_{kind}_%s")
        if DOCUMENT_UPLOAD.is_over(request, customer=request.customer):  # type: ignore[attr-defined]
            form.add_error(None, _("Too many uploads. Wait an hour and try again."))
            return _documents_page(request, claim, kind, form, status=429)
        if form.is_valid():
            try:
                document = claim_document_add(
                    claim=claim, actor=request.user, kind=kind, upload=form.cleaned_data["file"]
                )
            except DocumentRefusedError as error:
                form.add_error("file", error.messages[0])
            except ClaimTransitionError as error:
                form.add_error(None, error.message)
            else:
                messages.success(
                    request,
                    _("%(document)s uploaded: %(name)s")
                    % {"document": document.get_kind_display(), "name": document.download_name},
                )
                return redirect("portal:claim-documents", number=claim.number)
        failed_kind, failed_form = kind, form
        return _documents_page(request, claim, failed_kind, failed_form, status=400)
    return _documents_page(request, claim, failed_kind, failed_form)


def _documents_page(
    request: HttpRequest,
    claim: Claim,
    failed_kind: str,
    failed_form: DocumentUploadForm | None,
    *,
    status: int = 200,
) -> HttpResponse:
    slots = _document_slots(claim, failed_kind=failed_kind, failed_form=failed_form)
    page_error = ""
    if failed_form is not None and failed_kind not in {slot.kind for slot in slots}:
        # An upload for a kind this claim does not take has no form of its own to show on.
        errors = [*failed_form.non_field_errors(), *failed_form.errors.get("file", [])]
        page_error = str(errors[0]) if errors else ""
    context = _draft_context(
        claim,
        "documents",
        slots=slots,
        max_bytes=requirements_for_scheme(claim.scheme_id).max_upload_bytes
        or settings.CLAIM_UPLOAD_MAX_BYTES,
        all_uploaded=all(slot.document is not None for slot in slots),
        still_requested=claim_documents_still_requested(claim),
        is_resubmission=claim.status == ClaimStatus.RESUBMISSION_REQUESTED,
        page_error=page_error,
    )
    return render(request, "claims/claim_documents.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@customer_required
def claim_review(request: HttpRequest, number: str) -> HttpResponse:
    claim = _customer_claim(request, number)
    elsewhere = _draft_or_redirect(request, claim)
    if elsewhere is not None:
        return elsewhere
    error = ""
    if request.method == "POST":
        try:
            claim_submit(claim=claim, actor=request.user)
        except ClaimTransitionError as refusal:
            error = refusal.message
        else:
            messages.success(
                request,
                _("Thank you! Your claim is sent. We will tell you when we have checked it."),
            )
            return redirect(claim)
    context = _draft_context(
        claim,
        "review",
        documents=list(claim_current_documents(claim).values()),
        missing=claim_missing_items(claim),
        error=error,
    )
    return render(request, "claims/claim_review.html", context, status=400 if error else 200)


@require_POST
@customer_required
def claim_resubmit_view(request: HttpRequest, number: str) -> HttpResponse:
    claim = _customer_claim(request, number)
    try:
        claim_resubmit(claim=claim, actor=request.user)
    except ClaimTransitionError as refusal:
        messages.error(request, refusal.message)
        if claim.status == ClaimStatus.RESUBMISSION_REQUESTED and not claim.is_past_deadline:
            return redirect("portal:claim-documents", number=claim.number)
        return redirect(claim)
    messages.success(request, _("Thank you! We have your new documents and will check them."))
    return redirect(claim)


# -- the status page -----------------------------------------------------------------------


@never_cache
@require_GET
@customer_required
def claim_status(request: HttpRequest, number: str) -> HttpResponse:
    claim = _customer_claim(request, number)
    requested = [
        str(ClaimDocument.Kind(kind).label)
        for kind in claim.requested_document_kinds
        if kind in ClaimDocument.Kind.values
    ]
    last_request = None
    if claim.status == ClaimStatus.RESUBMISSION_REQUESTED:
        last_request = (
            claim.transitions.filter(to_status=ClaimStatus.RESUBMISSION_REQUESTED)
            .order_by("-occurred_at", "-pk")
            .first()
        )
    context = {
        "claim": claim,
        "timeline": list(reversed(claim_customer_timeline(claim))),
        "documents": list(claim_current_documents(claim).values()),
        "missing": claim_missing_items(claim) if claim.status == ClaimStatus.DRAFT else [],
        "requested": requested,
        "last_request": last_request,
        "is_open_draft": claim.status == ClaimStatus.DRAFT and not claim.is_past_deadline,
        "is_waiting_for_documents": claim.status == ClaimStatus.RESUBMISSION_REQUESTED
        and not claim.is_past_deadline,
        # Only here, behind _customer_claim: the code is shown to the claim's owner alone.
        "voucher_code": claim_voucher_code(claim),
    }
    return render(request, "claims/claim_status.html", context)


@never_cache
@require_GET
@customer_required
def claim_document(request: HttpRequest, number: str, document_id: int) -> HttpResponse:
    document = claim_document_get_for_customer(
        customer=request.customer,  # type: ignore[attr-defined]
        number=number,
        document_id=document_id,
    )
    if document is None:
        raise Http404
    # A FileResponse streams; the decorators around this view only need its headers.
    return document_response(  # type: ignore[return-value]
        storage_name=document.storage_name,
        content_type=document.content_type,
        download_name=document.download_name,
    )
