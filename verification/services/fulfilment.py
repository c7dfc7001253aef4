"""Fulfilment: approved claims released in batches by prize kind, then sent, issued or
posted, and delivered.

- physical: courier CSV export (address, prize, reference); dispatched by importing the
  courier's tracking CSV or one by one; delivered;
- voucher, e-voucher: a unique code issued; delivered;
- points, cashback: posted to the winner's wallet through the rewards ledger under the key
  ``claim:<id>:prize`` (exactly once, however often it is retried); delivered.

Nothing unapproved is released: the claims state machine moves only approved claims, the
release rule (verification.rules) wants a checker other than the maker, this service wants
the checker's approving decision row, and the database refuses a fulfilment item whose
decision is not an approval.
"""

import csv
import io
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.models import Claim, ClaimStatus
from claims.services.errors import ClaimTransitionError
from claims.services.transitions import claim_deliver, claim_dispatch, claim_lock, claim_release
from crm.audit import audit_record
from rewards.models import Journal, Participant, Prize, Scheme
from rewards.services.ledger import NewLot, Posting, ledger_post, wallet_lock
from rewards.services.participants import participant_join
from verification.errors import VerificationError
from verification.models import (
    CheckerDecision,
    FulfilmentBatch,
    FulfilmentItem,
    review_settings_for,
)
from verification.services.review import _require

FULFIL = "claims.fulfil_claim"
ISSUED_KINDS = (Prize.Kind.VOUCHER, Prize.Kind.E_VOUCHER)
WALLET_KINDS = (Prize.Kind.POINTS, Prize.Kind.CASHBACK)
_VOUCHER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def _moved(action: Any) -> Any:
    try:
        return action()
    except ClaimTransitionError as error:
        raise VerificationError(error.message, code=error.code) from error


def fulfilment_release(*, claim_ids: Iterable[int], actor: Any) -> FulfilmentBatch:
    """Releases the approved claims ``claim_ids`` (all of one prize kind) as one batch.

    All or nothing: one claim that is not approved by a checker refuses the whole batch.
    Claims are locked in id order, the one lock order for claims.
    """
    _require(actor, FULFIL)
    ids = sorted(set(claim_ids))
    if not ids:
        raise VerificationError(_("Choose the claims to release."), code="invalid")
    with transaction.atomic():
        claims = list(
            Claim.objects.select_for_update(of=("self",))
            .select_related("prize")
            .filter(pk__in=ids)
            .order_by("pk")
        )
        if len(claims) != len(ids):
            raise VerificationError(_("Some of these claims do not exist."), code="invalid")
        refused = [claim.number for claim in claims if claim.status != ClaimStatus.APPROVED]
        if refused:
            raise VerificationError(
                _("Only approved claims can be released; these are not: %(numbers)s.")
                % {"numbers": ", ".join(refused)},
                code="not_approved",
            )
        approvals = {
            decision.claim_id: decision
            for decision in CheckerDecision.objects.filter(
                claim_id__in=ids, result=CheckerDecision.Result.APPROVED
            ).order_by("decided_at", "pk")
        }
        unchecked = [claim.number for claim in claims if claim.pk not in approvals]
        if unchecked:
            raise VerificationError(
                _("These claims were not approved in the review queue: %(numbers)s.")
                % {"numbers": ", ".join(unchecked)},
                code="not_approved",
            )
        kinds = {claim.prize.kind for claim in claims}
        if len(kinds) != 1:
            raise VerificationError(
                _("A batch holds prizes of one kind; these are of several."), code="invalid"
            )
        batch = FulfilmentBatch.objects.create(prize_kind=kinds.pop(), created_by=actor)
        for claim in claims:
            _moved(
                lambda claim=claim: claim_release(
                    claim=claim, actor=actor, note=f"Batch {batch.pk}"
                )
            )
            FulfilmentItem.objects.create(batch=batch, claim=claim, approval=approvals[claim.pk])
        audit_record(
            action="verification.release",
            actor=actor,
            target=batch,
            before={"status": ClaimStatus.APPROVED},
            after={
                "status": ClaimStatus.RELEASED,
                "prize_kind": batch.prize_kind,
                "claims": [claim.number for claim in claims],
            },
        )
    return batch


# -- physical prizes ------------------------------------------------------------------------

COURIER_COLUMNS = [
    "reference",
    "name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "phone",
    "prize",
]


def _safe_cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula is written as text.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value


def courier_csv(*, batch: FulfilmentBatch, actor: Any) -> str:
    """The courier's CSV for a physical batch: one line per parcel still to send. Audited."""
    _require(actor, FULFIL)
    if batch.prize_kind != Prize.Kind.PHYSICAL:
        raise VerificationError(_("Only physical prizes go to the courier."), code="invalid")
    with transaction.atomic():
        items = list(
            FulfilmentItem.objects.filter(batch=batch)
            .select_related("claim__prize", "claim__customer")
            .order_by("pk")
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COURIER_COLUMNS)
        rows = 0
        for item in items:
            claim = item.claim
            if claim.status not in (ClaimStatus.RELEASED, ClaimStatus.RETURNED):
                continue
            writer.writerow(
                [
                    _safe_cell(value)
                    for value in (
                        claim.number,
                        claim.full_name,
                        claim.address_line1,
                        claim.address_line2,
                        claim.postal_code,
                        claim.city,
                        claim.country,
                        claim.customer.phone,
                        claim.prize.name,
                    )
                ]
            )
            rows += 1
        before = {"exported_at": batch.exported_at}
        batch.exported_at = timezone.now()
        batch.save(update_fields=["exported_at"])
        audit_record(
            action="verification.courier_export",
            actor=actor,
            target=batch,
            before=before,
            after={"exported_at": batch.exported_at, "rows": rows},
        )
    return buffer.getvalue()


def parcel_dispatch(
    *, claim: Claim, actor: Any, carrier: str, tracking_number: str, tracking_url: str = ""
) -> Claim:
    """One parcel handed to the carrier (claims writes the shipment, timeline and audit)."""
    _require(actor, FULFIL)
    if not FulfilmentItem.objects.filter(claim_id=claim.pk).exists():
        raise VerificationError(_("This claim was not released in a batch."), code="invalid")
    return _moved(
        lambda: claim_dispatch(
            claim=claim,
            actor=actor,
            carrier=carrier,
            tracking_number=tracking_number,
            tracking_url=tracking_url,
        )
    )


@dataclass(frozen=True)
class TrackingImport:
    dispatched: list[str]
    errors: list[str]


TRACKING_COLUMNS = ("reference", "carrier", "tracking_number")


def _tracking_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [column for column in TRACKING_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise VerificationError(
            _("The file needs the columns %(columns)s.") % {"columns": ", ".join(TRACKING_COLUMNS)},
            code="invalid",
        )
    for line, row in enumerate(reader, start=2):
        yield line, {key: (value or "").strip() for key, value in row.items() if key}


def tracking_import(*, batch: FulfilmentBatch, actor: Any, text: str) -> TrackingImport:
    """Dispatches the batch's parcels from the courier's tracking CSV (reference, carrier,
    tracking_number, optional tracking_url). Each line is its own dispatch; a line that
    cannot be used is reported with its number and the rest go on. Importing the same file
    again dispatches nothing twice (a dispatched claim is skipped)."""
    _require(actor, FULFIL)
    references = dict(
        FulfilmentItem.objects.filter(batch=batch).values_list("claim__number", "claim_id")
    )
    dispatched: list[str] = []
    errors: list[str] = []
    for line, row in _tracking_rows(text):
        reference = row.get("reference", "")
        claim_id = references.get(reference)
        if claim_id is None:
            errors.append(
                _("Line %(line)s: %(reference)s is not in this batch.")
                % {"line": line, "reference": reference}
            )
            continue
        claim = Claim.objects.get(pk=claim_id)
        if claim.status == ClaimStatus.DISPATCHED:
            continue
        try:
            parcel_dispatch(
                claim=claim,
                actor=actor,
                carrier=row.get("carrier", ""),
                tracking_number=row.get("tracking_number", ""),
                tracking_url=row.get("tracking_url", ""),
            )
        except VerificationError as error:
            errors.append(_("Line %(line)s: %(error)s") % {"line": line, "error": error})
        else:
            dispatched.append(reference)
    with transaction.atomic():
        audit_record(
            action="verification.tracking_import",
            actor=actor,
            target=batch,
            after={"dispatched": dispatched, "errors": errors},
        )
    return TrackingImport(dispatched, errors)


def parcel_deliver(*, claim: Claim, actor: Any) -> Claim:
    """The prize reached the winner: the claim is delivered and closed."""
    _require(actor, FULFIL)
    return _moved(lambda: claim_deliver(claim=claim, actor=actor))


# -- vouchers, points and cashback ----------------------------------------------------------


def claim_issued_voucher_code(claim: Claim) -> str:
    """The voucher code issued for ``claim`` at fulfilment, or "". Registered with claims
    (``claim_voucher_code_reader_set``) so the portal can show it to the claim's owner."""
    code = (
        FulfilmentItem.objects.filter(claim_id=claim.pk, issued_at__isnull=False)
        .values_list("voucher_code", flat=True)
        .first()
    )
    return code or ""


def _new_voucher_code() -> str:
    raw = "".join(secrets.choice(_VOUCHER_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _wallet_scheme(claim: Claim) -> Scheme:
    configured = review_settings_for(claim.scheme_id).wallet_scheme
    scheme = configured or claim.scheme
    if scheme.kind != Scheme.Kind.LOYALTY:
        raise VerificationError(
            _(
                "Campaign %(campaign)s names no loyalty scheme for its wallet prizes "
                "(Campaign review settings)."
            )
            % {"campaign": claim.scheme.name},
            code="no_wallet_scheme",
        )
    expected = Scheme.Unit.POINTS if claim.prize.kind == Prize.Kind.POINTS else Scheme.Unit.MONEY
    if scheme.unit != expected:
        raise VerificationError(
            _("The wallet scheme %(scheme)s does not count in %(unit)s.")
            % {"scheme": scheme.name, "unit": expected},
            code="wrong_unit",
        )
    return scheme


def prize_wallet_post(*, claim: Claim, actor: Any) -> int:
    """Posts a points or cashback prize to the winner's wallet; returns the journal id.

    Idempotent by the journal's unique key ``claim:<id>:prize``: a retry (or two at once)
    finds the first journal and posts nothing. The winner joins the wallet scheme first if
    they are not in it. Call inside a transaction.
    """
    if claim.prize.value_minor <= 0:
        raise VerificationError(_("The prize has no value to post."), code="invalid")
    scheme = _wallet_scheme(claim)
    key = f"claim:{claim.pk}:prize"
    participant = Participant.objects.filter(
        scheme=scheme, customer_id=claim.customer_id, status=Participant.Status.EFFECTIVE
    ).first()
    if participant is None:
        participant = participant_join(scheme=scheme, customer=claim.customer, actor=actor)
    wallet = wallet_lock(participant_id=participant.pk, idempotency_key=key)
    if wallet.existing_journal is not None:
        return wallet.existing_journal.id
    now = timezone.now()
    amount = claim.prize.value_minor
    posting = Posting(
        scheme_id=scheme.pk,
        kind=Journal.Kind.AWARD,
        idempotency_key=key,
        posted_at=now,
        participant_id=participant.pk,
        actor_id=actor.pk,
        memo=f"Prize of claim {claim.number}: {claim.prize.name}",
        result={"claim": claim.number, "amount_minor": amount},
    )
    posting.new_lots.append(
        NewLot(
            account_id=wallet.account_id, amount_minor=amount, available_from=now, expires_at=None
        )
    )
    posting.add_wallet_entry(wallet.account_id, amount, ("new", 0))
    posting.add_entry(wallet.system_accounts["points_issued"], -amount)
    posted = ledger_post(posting=posting)
    if posted is None:  # a concurrent retry won the key between our look-up and insert
        existing = Journal.objects.get(idempotency_key=key)
        return int(existing.pk)
    return posted.journal_id


def fulfilment_item_complete(*, item: FulfilmentItem, actor: Any) -> FulfilmentItem:
    """Issues a voucher code or posts points/cashback, then delivers the claim.

    Safe to retry: the item's row lock, its ``issued_at`` and the ledger key make a second
    run post and issue nothing new; it only delivers a claim not delivered yet.
    """
    _require(actor, FULFIL)
    with transaction.atomic():
        locked_claim = claim_lock(item.claim_id)
        locked = FulfilmentItem.objects.select_for_update().get(pk=item.pk)
        kind = locked_claim.prize.kind
        if kind == Prize.Kind.PHYSICAL:
            raise VerificationError(
                _("Physical prizes are dispatched, not issued."), code="invalid"
            )
        if locked.issued_at is None:
            before = {"voucher_code": "", "journal_id": None}
            if kind in ISSUED_KINDS:
                locked.voucher_code = _new_voucher_code()
            else:
                locked.journal_id = prize_wallet_post(claim=locked_claim, actor=actor)
            locked.issued_at = timezone.now()
            locked.save(update_fields=["voucher_code", "journal_id", "issued_at"])
            audit_record(
                action="verification.prize_issue",
                actor=actor,
                target=locked_claim,
                before=before,
                after={
                    "voucher_code": locked.voucher_code,
                    "journal_id": locked.journal_id,
                    "prize_kind": kind,
                    "amount_minor": locked_claim.prize.value_minor,
                },
            )
        if locked_claim.status == ClaimStatus.RELEASED:
            _moved(
                lambda: claim_deliver(
                    claim=locked_claim, actor=actor, voucher_code=locked.voucher_code
                )
            )
    return locked
