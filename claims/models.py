"""The customer portal's own rows: the link from a customer to their sign-in user, and the
one-time-password device that proves they hold a phone number or email address."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, ThrottlingMixin


class CustomerAccount(models.Model):
    """Ties a crm customer to the Django user their portal session signs in as.

    Created on the customer's first sign-in. The user has an unusable password, is never
    staff and has no staff profile, so a customer's session is never a staff session.
    """

    customer = models.OneToOneField(
        "crm.Customer",
        on_delete=models.PROTECT,
        related_name="portal_account",
        verbose_name=_("customer"),
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="customer_account",
        verbose_name=_("user"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_signed_in_at = models.DateTimeField(_("last signed in at"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer account")
        verbose_name_plural = _("customer accounts")

    def __str__(self) -> str:
        return str(self.customer)


def mask_destination(channel: str, destination: str) -> str:
    """Enough of a phone number or email address for its owner to recognise it."""
    if channel == CustomerOTPDevice.Channel.EMAIL:
        local, _at, domain = destination.partition("@")
        return f"{local[:1]}•••@{domain}"
    return f"{destination[:5]}•••{destination[-2:]}"


class CustomerOTPDevice(ThrottlingMixin, Device):
    """One phone number or email address that can receive a sign-in code.

    There is one device per destination, known customer or not, so that asking for a code
    behaves the same either way; ``user`` is set only once a code has been verified. Only
    a keyed hash of the current code is stored. A code is valid for
    CLAIM_OTP_VALIDITY_SECONDS, works once, and is cleared after CLAIM_OTP_MAX_FAILURES
    wrong tries.
    """

    class Channel(models.TextChoices):
        SMS = "sms", _("Text message")
        EMAIL = "email", _("Email")

    # Overrides Device.user: a device exists before anyone has proved they own it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="customer_otp_devices",
        verbose_name=_("user"),
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    # E.164 phone number, or the email address in lower case.
    destination = models.CharField(_("destination"), max_length=254)
    token_hash = models.CharField(_("code hash"), max_length=64, blank=True, editable=False)
    valid_until = models.DateTimeField(_("valid until"), default=timezone.now)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_sent_at = models.DateTimeField(_("last sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer sign-in device")
        verbose_name_plural = _("customer sign-in devices")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "destination"], name="customer_otp_device_destination_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {mask_destination(self.channel, self.destination)}"

    def get_throttle_factor(self) -> int:
        return int(settings.CLAIM_OTP_THROTTLE_FACTOR)

    @property
    def has_live_code(self) -> bool:
        return bool(self.token_hash) and timezone.now() < self.valid_until

    def hash_code(self, code: str) -> str:
        # A six-digit code has only a million values, so a plain hash would be reversed
        # at once by anyone holding the table; keyed with SECRET_KEY it cannot be.
        return salted_hmac(
            "claims.CustomerOTPDevice", f"{self.pk}:{code}", algorithm="sha256"
        ).hexdigest()

    def code_matches(self, code: str) -> bool:
        return bool(self.token_hash) and constant_time_compare(
            self.hash_code(code), self.token_hash
        )

    def verify_token(self, token: str) -> bool:
        """Checks ``token`` against the live code (django-otp's device contract).

        Call inside a transaction holding this row's lock (``select_for_update``), so two
        guesses cannot both read the same failure count. A right code is used up; a wrong
        one counts as a failure, and the last allowed failure clears the code.
        """
        allowed, _details = self.verify_is_allowed()
        if not allowed or not self.has_live_code:
            return False
        fields = ["token_hash", "throttling_failure_count", "throttling_failure_timestamp"]
        if self.code_matches(token):
            self.token_hash = ""
            self.valid_until = timezone.now()
            self.throttle_reset(commit=False)
            self.save(update_fields=[*fields, "valid_until"])
            return True
        self.throttle_increment(commit=False)
        if self.throttling_failure_count >= settings.CLAIM_OTP_MAX_FAILURES:
            self.token_hash = ""
        self.save(update_fields=fields)
        return False


class ClaimRequirements(models.Model):
    """What a campaign asks of its winners when they claim; one row per scheme.

    Owned by claims because rewards.Scheme is the campaign's mechanics and must not know
    about the portal. A scheme without a row asks for the defaults of this model (name,
    delivery address and an invoice); see ``requirements_for_scheme``.
    """

    scheme = models.OneToOneField(
        "rewards.Scheme",
        on_delete=models.CASCADE,
        related_name="claim_requirements",
        verbose_name=_("scheme"),
    )
    delivery_address_required = models.BooleanField(
        _("delivery address required"),
        default=True,
        help_text=_("Ask for a postal address (for prizes sent by post or courier)."),
    )
    national_id_required = models.BooleanField(
        _("national ID number required"),
        default=False,
        help_text=_("Ask for a national identity number (for example a Swedish personnummer)."),
    )
    reference_required = models.BooleanField(
        _("reference required"),
        default=False,
        help_text=_("Ask for a reference, such as a receipt or membership number."),
    )
    reference_label = models.CharField(
        _("reference label"),
        max_length=100,
        blank=True,
        help_text=_('What the form calls the reference, e.g. "Receipt number".'),
    )
    invoice_required = models.BooleanField(_("invoice or receipt required"), default=True)
    id_proof_required = models.BooleanField(_("proof of identity required"), default=False)
    address_proof_required = models.BooleanField(_("proof of address required"), default=False)
    max_upload_bytes = models.PositiveIntegerField(
        _("largest upload (bytes)"),
        null=True,
        blank=True,
        help_text=_("Leave empty for the site's limit (CLAIM_UPLOAD_MAX_BYTES)."),
    )
    resubmission_days = models.PositiveSmallIntegerField(
        _("days to send a document again"),
        default=14,
        help_text=_("How long a winner has to upload a document the verifiers asked for."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("claim requirements")
        verbose_name_plural = _("claim requirements")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(resubmission_days__gte=1),
                name="claim_requirements_resubmission_days_positive",
            ),
        ]

    def __str__(self) -> str:
        return str(self.scheme)

    @property
    def required_document_kinds(self) -> list[str]:
        kinds: list[str] = []
        if self.invoice_required:
            kinds.append(ClaimDocument.Kind.INVOICE)
        if self.id_proof_required:
            kinds.append(ClaimDocument.Kind.ID_PROOF)
        if self.address_proof_required:
            kinds.append(ClaimDocument.Kind.ADDRESS_PROOF)
        return kinds


def requirements_for_scheme(scheme_id: int) -> ClaimRequirements:
    """The scheme's requirements, or the defaults (unsaved) when none are configured."""
    requirements = ClaimRequirements.objects.filter(scheme_id=scheme_id).first()
    return requirements or ClaimRequirements(scheme_id=scheme_id)


class ClaimStatus(models.TextChoices):
    """The claim state machine (docs/CLAIMS.md); the allowed moves are TRANSITIONS."""

    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    IN_REVIEW = "in_review", _("In review")
    PROPOSED = "proposed", _("Decision proposed")
    RESUBMISSION_REQUESTED = "resubmission_requested", _("Resubmission requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    RELEASED = "released", _("Released to fulfilment")
    DISPATCHED = "dispatched", _("Dispatched")
    RETURNED = "returned", _("Returned by the carrier")
    DELIVERED = "delivered", _("Delivered")
    FORFEITED = "forfeited", _("Forfeited")


class ProposedOutcome(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")
    RESUBMIT = "resubmit", _("Ask for documents again")


class Region(models.TextChoices):
    """Sweden's 21 counties (län) by their ISO 3166-2:SE codes: the region a claim's prize is
    sent to, asked on the claim form with the postal address and counted by the dashboards."""

    STOCKHOLM = "SE-AB", _("Stockholm County")
    VASTERBOTTEN = "SE-AC", _("Västerbotten County")
    NORRBOTTEN = "SE-BD", _("Norrbotten County")
    UPPSALA = "SE-C", _("Uppsala County")
    SODERMANLAND = "SE-D", _("Södermanland County")
    OSTERGOTLAND = "SE-E", _("Östergötland County")
    JONKOPING = "SE-F", _("Jönköping County")
    KRONOBERG = "SE-G", _("Kronoberg County")
    KALMAR = "SE-H", _("Kalmar County")
    GOTLAND = "SE-I", _("Gotland County")
    BLEKINGE = "SE-K", _("Blekinge County")
    SKANE = "SE-M", _("Skåne County")
    HALLAND = "SE-N", _("Halland County")
    VASTRA_GOTALAND = "SE-O", _("Västra Götaland County")
    VARMLAND = "SE-S", _("Värmland County")
    OREBRO = "SE-T", _("Örebro County")
    VASTMANLAND = "SE-U", _("Västmanland County")
    DALARNA = "SE-W", _("Dalarna County")
    GAVLEBORG = "SE-X", _("Gävleborg County")
    VASTERNORRLAND = "SE-Y", _("Västernorrland County")
    JAMTLAND = "SE-Z", _("Jämtland County")


class Claim(models.Model):
    """A winner's claim of the prize a code won.

    ``code`` and ``draw_result`` are one-to-one: the database, not a check before the insert,
    guarantees that one code (or draw win) yields at most one claim, however many submissions
    race. The status changes only
    through the services in claims.services, one per transition.
    """

    number = models.CharField(_("claim number"), max_length=20, unique=True, editable=False)
    customer = models.ForeignKey(
        "crm.Customer", on_delete=models.PROTECT, related_name="claims", verbose_name=_("customer")
    )
    # What won the prize: an instant-win code, or a lucky-draw result (whose entry may have
    # been a code, or a purchase). One-to-one, so each yields at most one claim.
    code = models.OneToOneField(
        "rewards.Code",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="claim",
        verbose_name=_("code"),
    )
    draw_result = models.OneToOneField(
        "rewards.DrawResult",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="claim",
        verbose_name=_("draw result"),
    )
    scheme = models.ForeignKey(
        "rewards.Scheme", on_delete=models.PROTECT, related_name="claims", verbose_name=_("scheme")
    )
    prize = models.ForeignKey(
        "rewards.Prize", on_delete=models.PROTECT, related_name="claims", verbose_name=_("prize")
    )
    # Set once, when the claim is created: the partner of the entered code's batch, else
    # the campaign's (its review settings), else none. Dashboards scope partners by it.
    channel_partner = models.ForeignKey(
        "crm.ChannelPartner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="claims",
        verbose_name=_("channel partner"),
        help_text=_("The distributor, retailer or region the winning code came through."),
    )
    status = models.CharField(
        _("status"), max_length=24, choices=ClaimStatus.choices, default=ClaimStatus.DRAFT
    )
    proposed_outcome = models.CharField(
        _("proposed outcome"), max_length=10, choices=ProposedOutcome.choices, blank=True
    )
    # The document kinds the verifiers asked for again (while resubmission_requested).
    requested_document_kinds = models.JSONField(
        _("documents asked for again"), default=list, blank=True
    )
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    address_line1 = models.CharField(_("address"), max_length=200, blank=True)
    address_line2 = models.CharField(_("address, line 2"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    region = models.CharField(
        _("region (county)"), max_length=5, choices=Region.choices, blank=True
    )
    country = models.CharField(_("country"), max_length=2, default="SE")
    national_id = models.CharField(_("national ID number"), max_length=32, blank=True)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    deadline_at = models.DateTimeField(
        _("deadline"),
        null=True,
        blank=True,
        help_text=_("A draft, or a claim waiting for documents, is forfeited after this."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    submitted_at = models.DateTimeField(_("first submitted at"), null=True, blank=True)
    status_changed_at = models.DateTimeField(_("status changed at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        permissions = [
            ("review_claim", _("Can take claims into review and propose decisions")),
            ("check_claim", _("Can confirm or send back proposed decisions")),
            ("fulfil_claim", _("Can release, dispatch and deliver approved claims")),
        ]
        indexes = [
            models.Index(fields=["status", "deadline_at"], name="claim_status_deadline"),
            models.Index(fields=["customer", "-created_at"], name="claim_customer_recent"),
            # A partner's claims of one campaign in a date range (the dashboards' reads).
            models.Index(
                fields=["scheme", "channel_partner", "submitted_at"],
                name="claim_scheme_partner_submitted",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ClaimStatus.values), name="claim_status_valid"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status="proposed") & ~models.Q(proposed_outcome="")
                    | ~models.Q(status="proposed") & models.Q(proposed_outcome="")
                ),
                name="claim_outcome_only_when_proposed",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["draft", "forfeited"])
                | models.Q(submitted_at__isnull=False),
                name="claim_submitted_has_time",
            ),
            models.CheckConstraint(
                condition=models.Q(code__isnull=False) | models.Q(draw_result__isnull=False),
                name="claim_has_a_winning_code_or_draw_result",
            ),
            models.CheckConstraint(
                condition=models.Q(region="") | models.Q(region__in=Region.values),
                name="claim_region_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("portal:claim", kwargs={"number": self.number})

    @property
    def is_past_deadline(self) -> bool:
        return self.deadline_at is not None and timezone.now() >= self.deadline_at


class ClaimTransition(models.Model):
    """One move of a claim's status: the claim's timeline and its history.

    ``reason`` is written for the customer (shown on their status page and in messages);
    ``note`` is for staff only.
    """

    claim = models.ForeignKey(
        Claim, on_delete=models.CASCADE, related_name="transitions", verbose_name=_("claim")
    )
    from_status = models.CharField(
        _("from"), max_length=24, choices=ClaimStatus.choices, blank=True
    )
    to_status = models.CharField(_("to"), max_length=24, choices=ClaimStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    actor_label = models.CharField(_("by (name)"), max_length=200)
    reason = models.TextField(_("reason (shown to the customer)"), blank=True)
    note = models.TextField(_("internal note"), blank=True)
    requested_document_kinds = models.JSONField(
        _("documents asked for again"), default=list, blank=True
    )
    occurred_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["claim", "occurred_at", "pk"]
        verbose_name = _("claim transition")
        verbose_name_plural = _("claim transitions")

    def __str__(self) -> str:
        return f"{self.claim}: {self.from_status or '-'} -> {self.to_status}"


class ClaimDocument(models.Model):
    """One uploaded file. A replacement (a resubmission) supersedes the earlier file of the
    same kind; at most one document of each kind is current (not superseded)."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice or receipt")
        ID_PROOF = "id_proof", _("Proof of identity")
        ADDRESS_PROOF = "address_proof", _("Proof of address")

    claim = models.ForeignKey(
        Claim, on_delete=models.PROTECT, related_name="documents", verbose_name=_("claim")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    storage_name = models.CharField(_("stored file"), max_length=255, unique=True)
    download_name = models.CharField(_("file name"), max_length=120)
    content_type = models.CharField(_("type"), max_length=50)
    size_bytes = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    superseded_at = models.DateTimeField(_("replaced at"), null=True, blank=True)
    superseded_by = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="supersedes",
        verbose_name=_("replaced by"),
    )

    class Meta:
        ordering = ["claim", "kind", "uploaded_at", "pk"]
        verbose_name = _("claim document")
        verbose_name_plural = _("claim documents")
        constraints = [
            models.UniqueConstraint(
                fields=["claim", "kind"],
                condition=models.Q(superseded_at__isnull=True),
                name="claim_document_one_current_per_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(superseded_by__isnull=True)
                | models.Q(superseded_at__isnull=False),
                name="claim_document_superseded_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.download_name}"

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None

    @property
    def is_identity_document(self) -> bool:
        return self.kind == self.Kind.ID_PROOF


class Shipment(models.Model):
    """One parcel sent for a claim. A parcel that comes back is marked returned, and the
    prize can be sent again as a new shipment; at most one shipment is under way at a time."""

    claim = models.ForeignKey(
        Claim, on_delete=models.PROTECT, related_name="shipments", verbose_name=_("claim")
    )
    carrier = models.CharField(_("carrier"), max_length=100)
    tracking_number = models.CharField(_("tracking number"), max_length=100)
    tracking_url = models.URLField(_("carrier's tracking page"), blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    returned_at = models.DateTimeField(_("returned at"), null=True, blank=True)

    class Meta:
        ordering = ["claim", "dispatched_at", "pk"]
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        constraints = [
            models.UniqueConstraint(
                fields=["claim"],
                condition=models.Q(delivered_at__isnull=True, returned_at__isnull=True),
                name="shipment_one_under_way_per_claim",
            ),
            models.CheckConstraint(
                condition=models.Q(delivered_at__isnull=True) | models.Q(returned_at__isnull=True),
                name="shipment_delivered_or_returned_not_both",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"
