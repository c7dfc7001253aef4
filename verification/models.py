"""The verification team's rows: per-campaign review configuration, review locks, the
maker's proposals and the checker's decisions, what the verifier read off an invoice, where
each submission came from (for fraud signals), and fulfilment batches.

The claim's status itself lives in claims (claims.services.transitions); these rows record
who reviewed what and bind each decision to the claim as it was reviewed. Invariants that fit
a row are database constraints; the cross-table ones (a decision's maker is its proposal's
maker; a fulfilment item points at an approval) are composite foreign keys added by
migration 0002.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from claims.models import ClaimDocument, ProposedOutcome


class CampaignReviewSettings(models.Model):
    """How one campaign (scheme) is reviewed and fulfilled. A scheme without a row uses the
    defaults of this model (see ``review_settings_for``)."""

    scheme = models.OneToOneField(
        "rewards.Scheme",
        on_delete=models.CASCADE,
        related_name="review_settings",
        verbose_name=_("campaign"),
    )
    sla_hours = models.PositiveIntegerField(
        _("decision within (hours)"),
        default=48,
        help_text=_("A claim waiting longer than this since it was sent is past its SLA."),
    )
    channel_partner = models.ForeignKey(
        "crm.ChannelPartner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("channel partner"),
        help_text=_("The region, distributor or retailer this campaign runs through."),
    )
    wallet_scheme = models.ForeignKey(
        "rewards.Scheme",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"kind": "loyalty"},
        verbose_name=_("wallet scheme for points and cashback"),
        help_text=_(
            "Points and cashback prizes are posted to the winner's wallet in this loyalty "
            "scheme. Empty: the campaign's own scheme, if it is a loyalty scheme."
        ),
    )
    velocity_window_minutes = models.PositiveIntegerField(
        _("claims from one IP or device: window (minutes)"), default=60
    )
    velocity_threshold = models.PositiveIntegerField(
        _("claims from one IP or device: how many raise a signal"),
        default=3,
        help_text=_("This many claims (this one included) inside the window raise a signal."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign review settings")
        verbose_name_plural = _("campaign review settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(sla_hours__gte=1), name="review_settings_sla_positive"
            ),
            models.CheckConstraint(
                condition=Q(velocity_threshold__gte=2, velocity_window_minutes__gte=1),
                name="review_settings_velocity_sensible",
            ),
        ]

    def __str__(self) -> str:
        return str(self.scheme)


def review_settings_for(scheme_id: int) -> CampaignReviewSettings:
    """The scheme's review settings, or the defaults (unsaved) when none are configured."""
    found = CampaignReviewSettings.objects.filter(scheme_id=scheme_id).first()
    return found or CampaignReviewSettings(scheme_id=scheme_id)


class ChecklistItem(models.Model):
    """One thing a verifier checks on one kind of document of a campaign, e.g. "invoice date
    inside the campaign period" or "name matches the ID"."""

    settings = models.ForeignKey(
        CampaignReviewSettings,
        on_delete=models.CASCADE,
        related_name="checklist_items",
        verbose_name=_("campaign"),
    )
    document_kind = models.CharField(
        _("document"), max_length=20, choices=ClaimDocument.Kind.choices
    )
    text = models.CharField(_("check"), max_length=200)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["settings", "document_kind", "position", "pk"]
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")

    def __str__(self) -> str:
        return self.text


class RejectionReason(models.Model):
    """A reason a maker can give for a rejection; ``text`` is what the customer reads."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    text = models.CharField(_("text for the customer"), max_length=300)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "code"]
        verbose_name = _("rejection reason")
        verbose_name_plural = _("rejection reasons")

    def __str__(self) -> str:
        return self.text


class ReviewLock(models.Model):
    """Who is reviewing a claim now. One row per claim at most (the primary key is the claim),
    so two verifiers can never hold the same claim; a lock past ``expires_at`` may be taken
    over by someone else."""

    claim = models.OneToOneField(
        "claims.Claim",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="review_lock",
        verbose_name=_("claim"),
    )
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("held by"),
    )
    taken_at = models.DateTimeField(_("taken at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        verbose_name = _("review lock")
        verbose_name_plural = _("review locks")
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("taken_at")), name="review_lock_expires_after_taken"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.claim_id} held by {self.holder_id}"

    def is_live(self, now: object = None) -> bool:
        return self.expires_at > (now or timezone.now())


class InvoiceDetails(models.Model):
    """What the verifier read off the claim's invoice: its number and the merchant. The
    normalised forms feed the duplicate-invoice signal."""

    claim = models.OneToOneField(
        "claims.Claim",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="invoice_details",
        verbose_name=_("claim"),
    )
    invoice_number = models.CharField(_("invoice number"), max_length=100)
    merchant_name = models.CharField(_("merchant"), max_length=200)
    invoice_number_key = models.CharField(max_length=100, editable=False)
    merchant_key = models.CharField(max_length=200, editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("invoice details")
        verbose_name_plural = _("invoice details")
        indexes = [
            models.Index(fields=["invoice_number_key", "merchant_key"], name="invoice_key_idx")
        ]

    def __str__(self) -> str:
        return f"{self.invoice_number} ({self.merchant_name})"


class SubmissionOrigin(models.Model):
    """Where a claim was sent from (each submission and resubmission): the client's IP and
    a fingerprint of the browser. Written in the submitting transaction by a claims
    transition rule (verification.rules)."""

    claim = models.ForeignKey(
        "claims.Claim", on_delete=models.CASCADE, related_name="submission_origins"
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    device_hash = models.CharField(_("device fingerprint"), max_length=64, blank=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    submitted_at = models.DateTimeField(_("sent at"), default=timezone.now)

    class Meta:
        ordering = ["claim", "submitted_at", "pk"]
        verbose_name = _("submission origin")
        verbose_name_plural = _("submission origins")
        indexes = [
            models.Index(fields=["ip_address", "submitted_at"], name="origin_ip_time"),
            models.Index(fields=["device_hash", "submitted_at"], name="origin_device_time"),
        ]

    def __str__(self) -> str:
        return f"{self.claim_id} from {self.ip_address}"


class Proposal(models.Model):
    """A maker's proposed decision on a claim, bound to the claim as reviewed.

    ``fingerprint`` is a hash of the claim, its customer's contact details and its current
    documents when the maker proposed (verification.fingerprint). A confirmation is refused,
    and the proposal voided, when the claim no longer has that fingerprint.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a checker")
        CONFIRMED = "confirmed", _("Confirmed")
        SENT_BACK = "sent_back", _("Sent back")
        VOIDED = "voided", _("Void: the claim changed")

    claim = models.ForeignKey(
        "claims.Claim", on_delete=models.PROTECT, related_name="proposals", verbose_name=_("claim")
    )
    transition = models.OneToOneField(
        "claims.ClaimTransition",
        on_delete=models.PROTECT,
        related_name="verification_proposal",
        verbose_name=_("timeline row"),
    )
    maker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="verification_proposals",
        verbose_name=_("maker"),
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=ProposedOutcome.choices)
    rejection_reason = models.ForeignKey(
        RejectionReason,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("rejection reason"),
    )
    reason = models.TextField(_("reason (for the customer)"), blank=True)
    note = models.TextField(_("internal note"), blank=True)
    requested_document_kinds = models.JSONField(_("documents asked for again"), default=list)
    checklist = models.JSONField(_("checklist as answered"), default=list)
    signals = models.JSONField(_("fraud signals when proposed"), default=list)
    fingerprint = models.CharField(_("claim fingerprint"), max_length=64)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("proposed at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("proposal")
        verbose_name_plural = _("proposals")
        permissions = [
            ("search_audit_trail", _("Can search the audit trail and run the chain check")),
            ("view_queue_metrics", _("Can see the review queue's metrics")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["claim"],
                condition=Q(status="pending"),
                name="proposal_one_pending_per_claim",
            ),
            # The target of decision.(proposal_id, maker_id): see migration 0002.
            models.UniqueConstraint(fields=["id", "maker"], name="proposal_id_maker_unique"),
            models.CheckConstraint(
                condition=Q(status="pending", closed_at__isnull=True)
                | (~Q(status="pending") & Q(closed_at__isnull=False)),
                name="proposal_closed_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(outcome="reject") | ~Q(reason=""),
                name="proposal_rejection_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.claim}: {self.get_outcome_display()} by {self.maker}"


class CheckerDecision(models.Model):
    """A checker's decision on one proposal: confirm it or send it back.

    ``maker`` repeats the proposal's maker so the database itself can refuse a checker who
    is the maker (``decision_checker_is_not_maker``); a composite foreign key (migration
    0002) ties it to the proposal's real maker, so it cannot be written wrong either. One
    decision per proposal (one-to-one), so two checkers deciding at once leave one row.

    ``queue_time`` is how long the claim waited for this decision: ``decided_at`` minus the
    claim's latest move to submitted at or before it (its entry into the queue), set when the
    decision is recorded and backfilled by migration 0004; empty only for a claim that never
    moved to submitted. Kept exact to the microsecond (an interval), so the median time to
    decision read from it equals the one computed from the transitions.
    """

    class Decision(models.TextChoices):
        CONFIRM = "confirm", _("Confirm")
        SEND_BACK = "send_back", _("Send back")

    class Result(models.TextChoices):
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        RESUBMISSION_REQUESTED = "resubmission_requested", _("Documents asked for again")
        SENT_BACK = "sent_back", _("Sent back to review")

    proposal = models.OneToOneField(
        Proposal, on_delete=models.PROTECT, related_name="decision", verbose_name=_("proposal")
    )
    claim = models.ForeignKey(
        "claims.Claim", on_delete=models.PROTECT, related_name="checker_decisions"
    )
    maker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("maker"),
    )
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="verification_decisions",
        verbose_name=_("checker"),
    )
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices)
    result = models.CharField(_("result"), max_length=24, choices=Result.choices)
    note = models.TextField(_("note"), blank=True)
    acknowledged_signals = models.JSONField(_("fraud signals acknowledged"), default=list)
    path = models.CharField(_("made through"), max_length=20, default="queue")
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)
    queue_time = models.DurationField(_("time in the queue"), null=True, blank=True)

    class Meta:
        ordering = ["-decided_at", "-pk"]
        verbose_name = _("checker decision")
        verbose_name_plural = _("checker decisions")
        indexes = [
            # The confirmations in a date range with their queue time and claim (median
            # time to decision) as an index-only scan: migration 0005.
            models.Index(
                fields=["decided_at"],
                include=["queue_time", "claim"],
                condition=Q(decision="confirm"),
                name="decision_confirm_queue_time",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(maker=F("checker")), name="decision_checker_is_not_maker"
            ),
            models.CheckConstraint(
                condition=Q(decision="send_back", result="sent_back")
                | Q(
                    decision="confirm",
                    result__in=["approved", "rejected", "resubmission_requested"],
                ),
                name="decision_result_matches",
            ),
            # The target of fulfilment_item.(approval_id, approval_result): migration 0002.
            models.UniqueConstraint(fields=["id", "result"], name="decision_id_result_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.claim}: {self.get_result_display()} by {self.checker}"


class FulfilmentBatch(models.Model):
    """Approved claims released together, all of one prize kind."""

    prize_kind = models.CharField(_("prize kind"), max_length=20)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("released at"), default=timezone.now)
    exported_at = models.DateTimeField(_("last exported at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("fulfilment batch")
        verbose_name_plural = _("fulfilment batches")

    def __str__(self) -> str:
        return f"Batch {self.pk} ({self.prize_kind})"


class FulfilmentItem(models.Model):
    """One released claim in a batch. ``approval`` is the checker's approving decision; the
    database refuses an item whose decision is not an approval (composite foreign key on
    (approval_id, approval_result) with approval_result fixed to 'approved')."""

    batch = models.ForeignKey(FulfilmentBatch, on_delete=models.PROTECT, related_name="items")
    claim = models.OneToOneField(
        "claims.Claim", on_delete=models.PROTECT, related_name="fulfilment_item"
    )
    approval = models.OneToOneField(
        CheckerDecision, on_delete=models.PROTECT, related_name="fulfilment_item"
    )
    approval_result = models.CharField(max_length=24, default="approved", editable=False)
    voucher_code = models.CharField(_("voucher code"), max_length=32, blank=True)
    journal_id = models.BigIntegerField(_("ledger journal"), null=True, blank=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)

    class Meta:
        ordering = ["batch", "pk"]
        verbose_name = _("fulfilment item")
        verbose_name_plural = _("fulfilment items")
        constraints = [
            models.CheckConstraint(
                condition=Q(approval_result="approved"), name="fulfilment_item_is_approved"
            ),
            models.UniqueConstraint(
                fields=["voucher_code"],
                condition=~Q(voucher_code=""),
                name="fulfilment_voucher_code_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.claim_id} in batch {self.batch_id}"
