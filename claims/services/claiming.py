"""Starting a claim and filling it in: entering a winning code (or claiming a draw win), the
claim form, and the documents. The status moves themselves are in claims.services.transitions.
"""

import enum
import logging
from dataclasses import dataclass
from typing import IO, Any

from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.documents import document_store
from claims.models import (
    Claim,
    ClaimDocument,
    ClaimStatus,
    requirements_for_scheme,
)
from claims.services.errors import ClaimPermissionError, ClaimTransitionError
from claims.services.transitions import claim_lock
from crm.audit import audit_record
from crm.models import Customer
from rewards.codes import CodeFormatError, normalise
from rewards.models import Code, DrawResult, Scheme
from rewards.services.codes import CodeEntryOutcome, code_enter

logger = logging.getLogger(__name__)

DETAIL_FIELDS = (
    "full_name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "region",
    "country",
    "national_id",
    "reference",
)
# Kept out of the audit trail's before/after in full: the trail is read by many roles.
_MASKED_FIELDS = frozenset({"national_id"})


def _check_customer(claim: Claim, actor: Any) -> None:
    account = getattr(actor, "customer_account", None) if actor is not None else None
    if account is None or account.customer_id != claim.customer_id:
        raise ClaimPermissionError(_("Only the customer who made this claim can do that."))


def _next_claim_id() -> int:
    """The claim's id, taken before the insert so its number can be written in the same row."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('claims_claim', 'id'))")
        return int(cursor.fetchone()[0])


def _claim_create(**fields: Any) -> Claim:
    """Inserts a draft; an IntegrityError means the code or draw win already has a claim."""
    now = timezone.now()
    claim_id = _next_claim_id()
    claim = Claim(
        pk=claim_id,
        number=f"C-{now.year}-{claim_id:06d}",
        status=ClaimStatus.DRAFT,
        created_at=now,
        status_changed_at=now,
        **fields,
    )
    claim.save(force_insert=True)
    return claim


def _claim_channel_partner_id(*, scheme: Scheme, batch_partner_id: int | None) -> int | None:
    """The partner a new claim belongs to: its code batch's, else the campaign's (the one its
    review settings name, read through the reverse relation so claims does not import
    verification), else none."""
    if batch_partner_id is not None:
        return batch_partner_id
    return (
        Scheme.objects.filter(pk=scheme.pk)
        .values_list("review_settings__channel_partner_id", flat=True)
        .first()
    )


# -- entering a code -------------------------------------------------------------------------


class CodeOutcome(enum.StrEnum):
    """What entering a code led to, for the portal to explain in its own words."""

    CLAIM_STARTED = "claim_started"
    CLAIM_RESUMED = "claim_resumed"
    INVALID_FORMAT = "invalid_format"
    UNKNOWN = "unknown"
    VOID = "void"
    ALREADY_CLAIMED = "already_claimed"
    NOT_STARTED = "not_started"
    CAMPAIGN_ENDED = "campaign_ended"
    DEADLINE_PASSED = "deadline_passed"
    NOT_WINNING = "not_winning"
    DRAW_ENTERED = "draw_entered"
    ALREADY_IN_DRAW = "already_in_draw"
    NO_OPEN_DRAW = "no_open_draw"
    OUT_OF_STOCK = "out_of_stock"


@dataclass(frozen=True)
class CodeEntry:
    outcome: CodeOutcome
    claim: Claim | None = None
    prize_name: str = ""


def _own_claim_for_code(customer: Customer, text: str) -> Claim | None:
    try:
        value = normalise(text)
    except CodeFormatError:
        return None
    return Claim.objects.filter(customer=customer, code__value=value).first()


def claim_start_from_code(*, customer: Customer, actor: Any, text: str) -> CodeEntry:
    """Enters the code the customer typed and, if it won a prize, opens a draft claim.

    rewards decides what the code is: ``code_enter`` locks the code row, marks it entered
    and counts the prize as won, in this transaction, so the claim and the win commit
    together or not at all. Entering one's own winning code again resumes its claim. The
    claim's one-to-one code is the last guard: should two submissions for one code race
    past everything else, the database keeps one claim and the other is told the code is
    already used.
    """
    own = _own_claim_for_code(customer, text)
    if own is not None:
        return CodeEntry(CodeOutcome.CLAIM_RESUMED, claim=own)
    try:
        with transaction.atomic():
            result = code_enter(scheme_or_none=None, text=text, customer=customer)
            winning = result.code_id is not None and (
                result.outcome == CodeEntryOutcome.WON
                or (
                    result.outcome == CodeEntryOutcome.ALREADY_YOURS and result.prize_id is not None
                )
            )
            if not winning or result.code_id is None:
                if (
                    result.outcome == CodeEntryOutcome.ALREADY_YOURS
                    and result.draw_entry_id is not None
                ):
                    return CodeEntry(CodeOutcome.ALREADY_IN_DRAW)
                return CodeEntry(_CODE_OUTCOMES.get(result.outcome, CodeOutcome.UNKNOWN))
            code = Code.objects.select_related("scheme", "prize", "batch").get(pk=result.code_id)
            assert code.prize is not None  # noqa: S101 - a winning code has its prize
            claim = _claim_create(
                customer=customer,
                code=code,
                scheme=code.scheme,
                prize=code.prize,
                channel_partner_id=_claim_channel_partner_id(
                    scheme=code.scheme, batch_partner_id=code.batch.channel_partner_id
                ),
                deadline_at=code.scheme.claim_deadline_at,
            )
            audit_record(
                action="claim.started",
                actor=actor,
                target=claim,
                after={
                    "code_id": code.pk,
                    "prize_id": claim.prize_id,
                    "channel_partner_id": claim.channel_partner_id,
                    "status": claim.status,
                },
            )
    except IntegrityError:
        logger.info("a concurrent claim took the code", extra={"customer_id": customer.pk})
        return CodeEntry(CodeOutcome.ALREADY_CLAIMED)
    return CodeEntry(CodeOutcome.CLAIM_STARTED, claim=claim, prize_name=claim.prize.name)


_CODE_OUTCOMES: dict[str, CodeOutcome] = {
    CodeEntryOutcome.FORMAT_ERROR: CodeOutcome.INVALID_FORMAT,
    CodeEntryOutcome.UNKNOWN: CodeOutcome.UNKNOWN,
    CodeEntryOutcome.VOID: CodeOutcome.VOID,
    CodeEntryOutcome.ALREADY_ENTERED: CodeOutcome.ALREADY_CLAIMED,
    # The customer's own code again, which won nothing (a win resumes its claim).
    CodeEntryOutcome.ALREADY_YOURS: CodeOutcome.NOT_WINNING,
    CodeEntryOutcome.NOT_STARTED: CodeOutcome.NOT_STARTED,
    CodeEntryOutcome.ENDED: CodeOutcome.CAMPAIGN_ENDED,
    CodeEntryOutcome.CLAIM_DEADLINE_PASSED: CodeOutcome.DEADLINE_PASSED,
    CodeEntryOutcome.NO_OPEN_DRAW: CodeOutcome.NO_OPEN_DRAW,
    CodeEntryOutcome.PRIZE_UNAVAILABLE: CodeOutcome.OUT_OF_STOCK,
    CodeEntryOutcome.NO_PRIZE: CodeOutcome.NOT_WINNING,
    CodeEntryOutcome.DRAW_ENTERED: CodeOutcome.DRAW_ENTERED,
}


# -- a lucky-draw win ---------------------------------------------------------------------


def claim_start_from_draw_result(*, customer: Customer, actor: Any, result_id: int) -> Claim:
    """Opens a draft claim for a draw win (a winner or a promoted reserve), or returns the
    one already open. Raises ClaimTransitionError when the win cannot be claimed now."""
    existing = Claim.objects.filter(draw_result_id=result_id, customer=customer).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            result = (
                DrawResult.objects.select_for_update(of=("self",))
                .select_related("draw__scheme", "draw__prize", "entry__code__batch")
                .filter(pk=result_id, customer=customer)
                .first()
            )
            if result is None:
                raise ClaimTransitionError(_("There is no such prize to claim."), code="unknown")
            if not result.is_claimable or (
                result.claim_deadline_at is not None and timezone.now() >= result.claim_deadline_at
            ):
                raise ClaimTransitionError(
                    _("This prize can no longer be claimed: the time to claim it has ended."),
                    code="draw_result_closed",
                )
            claim = _claim_create(
                customer=customer,
                draw_result=result,
                code_id=result.entry.code_id,
                scheme=result.draw.scheme,
                prize=result.draw.prize,
                channel_partner_id=_claim_channel_partner_id(
                    scheme=result.draw.scheme,
                    batch_partner_id=(
                        result.entry.code.batch.channel_partner_id
                        if result.entry.code is not None
                        else None
                    ),
                ),
                deadline_at=result.claim_deadline_at or result.draw.scheme.claim_deadline_at,
            )
            audit_record(
                action="claim.started",
                actor=actor,
                target=claim,
                after={
                    "draw_result_id": result.pk,
                    "prize_id": claim.prize_id,
                    "channel_partner_id": claim.channel_partner_id,
                    "status": claim.status,
                },
            )
    except IntegrityError:
        existing = Claim.objects.filter(draw_result_id=result_id, customer=customer).first()
        if existing is None:
            raise
        return existing
    return claim


# -- the claim form ---------------------------------------------------------------------------


def claim_details_update(*, claim: Claim, actor: Any, details: dict[str, str]) -> Claim:
    """Saves the claim form of a draft (the customer may come back and change it until
    they submit)."""
    unknown = set(details) - set(DETAIL_FIELDS)
    if unknown:
        raise ValueError(f"Not claim form fields: {sorted(unknown)}")
    with transaction.atomic():
        locked = claim_lock(claim.pk)
        _check_customer(locked, actor)
        if locked.status != ClaimStatus.DRAFT:
            raise ClaimTransitionError(
                _("This claim has been sent, so its details can no longer be changed."),
                code="wrong_status",
            )
        changed = [name for name, value in details.items() if getattr(locked, name) != value]
        if not changed:
            return locked
        before = {name: _audit_value(name, getattr(locked, name)) for name in changed}
        for name in changed:
            setattr(locked, name, details[name])
        locked.save(update_fields=changed)
        audit_record(
            action="claim.details_updated",
            actor=actor,
            target=locked,
            before=before,
            after={name: _audit_value(name, getattr(locked, name)) for name in changed},
        )
    return locked


def _audit_value(name: str, value: str) -> str:
    if name in _MASKED_FIELDS and value:
        return f"•••{value[-2:]}"
    return value


# -- documents -----------------------------------------------------------------------------


def claim_document_kinds_open(claim: Claim) -> list[str]:
    """The document kinds the customer may upload to the claim now."""
    if claim.is_past_deadline:
        return []
    if claim.status == ClaimStatus.DRAFT:
        return requirements_for_scheme(claim.scheme_id).required_document_kinds
    if claim.status == ClaimStatus.RESUBMISSION_REQUESTED:
        return list(claim.requested_document_kinds)
    return []


def claim_document_add(
    *, claim: Claim, actor: Any, kind: str, upload: IO[bytes] | Any
) -> ClaimDocument:
    """Checks, scans and stores an upload and makes it the claim's current ``kind`` document,
    replacing (superseding) any earlier one.

    Allowed for a draft (the kinds the campaign requires) and for a claim waiting for
    documents (the kinds asked for again). Raises DocumentRefusedError for a file that is
    not accepted and ClaimTransitionError when the claim takes no upload of that kind.
    """
    _check_customer(claim, actor)
    _refuse_kind(claim, kind)
    requirements = requirements_for_scheme(claim.scheme_id)
    stored = document_store(
        upload,
        original_name=getattr(upload, "name", "") or "",
        max_bytes=requirements.max_upload_bytes,
    )
    try:
        with transaction.atomic():
            locked = claim_lock(claim.pk)
            _refuse_kind(locked, kind)
            now = timezone.now()
            previous = (
                ClaimDocument.objects.select_for_update()
                .filter(claim=locked, kind=kind, superseded_at__isnull=True)
                .first()
            )
            if previous is not None:
                # Frees the "one current document per kind" slot before the new row.
                previous.superseded_at = now
                previous.save(update_fields=["superseded_at"])
            document = ClaimDocument.objects.create(
                claim=locked,
                kind=kind,
                storage_name=stored.storage_name,
                download_name=stored.download_name,
                content_type=stored.content_type,
                size_bytes=stored.size_bytes,
                sha256=stored.sha256,
                uploaded_by=actor,
                uploaded_at=now,
            )
            if previous is not None:
                previous.superseded_by = document
                previous.save(update_fields=["superseded_by"])
            audit_record(
                action="claim.document_uploaded",
                actor=actor,
                target=locked,
                after={
                    "document_id": document.pk,
                    "kind": kind,
                    "sha256": stored.sha256,
                    "size_bytes": stored.size_bytes,
                    "content_type": stored.content_type,
                    "replaces": previous.pk if previous is not None else None,
                },
            )
    except BaseException:
        default_storage.delete(stored.storage_name)
        raise
    return document


def _refuse_kind(claim: Claim, kind: str) -> None:
    if kind not in ClaimDocument.Kind.values:
        raise ClaimTransitionError(_("Choose which document this is."), code="invalid")
    if kind not in claim_document_kinds_open(claim):
        raise ClaimTransitionError(
            _("This claim does not take a new %(document)s now.")
            % {"document": str(ClaimDocument.Kind(kind).label).lower()},
            code="wrong_status",
        )
