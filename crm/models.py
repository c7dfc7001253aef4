from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.notifications.catalog import Channel, Event, Purpose

e164_validator = RegexValidator(
    regex=r"^\+[1-9]\d{6,14}$",
    message=_("Enter the phone number in international form, e.g. +46701234567."),
)


class Client(models.Model):
    """An organisation that commissions campaigns from the agency."""

    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=50, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("client")
        verbose_name_plural = _("clients")

    def __str__(self) -> str:
        return self.name


class ChannelPartner(models.Model):
    """A client's region, distributor or retailer; partner users see only their own rows."""

    class Kind(models.TextChoices):
        REGION = "region", _("Region")
        DISTRIBUTOR = "distributor", _("Distributor")
        RETAILER = "retailer", _("Retailer")

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="channel_partners", verbose_name=_("client")
    )
    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=50)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.REGION)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["client", "name"]
        verbose_name = _("channel partner")
        verbose_name_plural = _("channel partners")
        constraints = [
            models.UniqueConstraint(
                fields=["client", "code"], name="channel_partner_code_per_client"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client})"


class Customer(models.Model):
    """A consumer: campaign winner, claimant or loyalty participant."""

    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    phone = models.CharField(
        _("phone"),
        max_length=16,
        blank=True,
        validators=[e164_validator],
        help_text=_("International form (E.164), e.g. +46701234567."),
    )
    email = models.EmailField(_("email"), blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    accepts_marketing_sms = models.BooleanField(_("accepts marketing SMS"), default=False)
    accepts_marketing_email = models.BooleanField(_("accepts marketing email"), default=False)
    consent_updated_at = models.DateTimeField(_("consent updated at"), null=True, blank=True)
    member_number = models.CharField(
        _("member number"),
        max_length=64,
        blank=True,
        help_text=_(
            "The customer's number in a scheme's own member register (the client's system), "
            "kept when members are imported. Unique when set."
        ),
    )
    # A duplicate merged into another customer stays as a record of what it was; its claims,
    # participations, messages and notes moved to ``merged_into`` (crm.merge).
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_duplicates",
        verbose_name=_("merged into"),
    )
    merged_at = models.DateTimeField(_("merged at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [("export_customer", _("Can export customers to CSV"))]
        constraints = [
            # A merged duplicate gives up its phone and email to the customer it became.
            models.CheckConstraint(
                condition=~models.Q(phone="", email="") | models.Q(merged_into__isnull=False),
                name="customer_has_phone_or_email",
            ),
            models.CheckConstraint(
                condition=models.Q(merged_into__isnull=True, merged_at__isnull=True)
                | models.Q(merged_into__isnull=False, merged_at__isnull=False),
                name="customer_merged_has_when",
            ),
            models.CheckConstraint(
                condition=~models.Q(merged_into=models.F("pk")),
                name="customer_not_merged_into_itself",
            ),
            models.UniqueConstraint(
                fields=["member_number"],
                condition=~models.Q(member_number=""),
                name="customer_member_number_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(phone="") | models.Q(phone__regex=r"^\+[1-9][0-9]{6,14}$"),
                name="customer_phone_is_e164",
            ),
            models.UniqueConstraint(
                fields=["phone"], condition=~models.Q(phone=""), name="customer_phone_unique"
            ),
            models.UniqueConstraint(
                Lower("email"), condition=~models.Q(email=""), name="customer_email_unique"
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.phone or self.email or f"Customer #{self.pk}"

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None


class StaffProfile(models.Model):
    """Ties a staff user to the client (and optionally channel partner) whose data they see.

    Staff with no client are agency staff and see every client. The role itself is the
    user's group (crm.roles).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    client = models.ForeignKey(
        Client,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        verbose_name=_("client"),
    )
    channel_partner = models.ForeignKey(
        ChannelPartner,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        verbose_name=_("channel partner"),
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel_partner__isnull=True) | models.Q(client__isnull=False),
                name="staff_partner_needs_client",
            ),
        ]

    def __str__(self) -> str:
        return str(self.user)


class AuditEvent(models.Model):
    """One row per audited event. Append-only and hash-chained; see crm.audit.

    A database trigger refuses UPDATE and DELETE. ``actor`` is not a foreign key with a
    cascade: deleting a user must never touch the trail, so the id and a label are kept.
    """

    occurred_at = models.DateTimeField(_("occurred at"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("actor"), max_length=200, blank=True)
    action = models.CharField(_("action"), max_length=100, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_label = models.CharField(_("object"), max_length=200, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    previous_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"


# The notification engine (crm/notifications/): templates per event, channel and language,
# and one row per message sent. See docs/NOTIFICATIONS.md.


class MessageTemplate(models.Model):
    """What a customer receives for one event on one channel in one language.

    Subject and body are Django templates checked on save (``clean``): the syntax, the tags
    allowed, and that every top-level variable is one the event provides.
    """

    event = models.CharField(_("event"), max_length=64, choices=Event.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    purpose = models.CharField(
        _("purpose"),
        max_length=16,
        choices=Purpose.choices,
        default=Purpose.TRANSACTIONAL,
        help_text=_(
            "Marketing messages need the customer's consent and wait for the end of quiet "
            "hours; transactional ones always go out at once."
        ),
    )
    subject = models.CharField(_("subject"), max_length=255, blank=True, help_text=_("Email only."))
    body = models.TextField(
        _("body"),
        help_text=_("Django template syntax, e.g. {{ customer.first_name }}, {{ claim.url }}."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["event", "channel", "language"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(
                fields=["event", "channel", "language"],
                name="message_template_per_event_channel_language",
            ),
            models.CheckConstraint(
                condition=models.Q(channel=Channel.SMS, subject="")
                | (models.Q(channel=Channel.EMAIL) & ~models.Q(subject="")),
                name="message_template_subject_only_for_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} / {self.channel} / {self.language}"

    def clean(self) -> None:
        from crm.notifications.rendering import validate_template_source

        if self.channel == Channel.SMS and self.subject:
            raise ValidationError({"subject": _("An SMS has no subject: leave it empty.")})
        if self.channel == Channel.EMAIL and not self.subject:
            raise ValidationError({"subject": _("An email needs a subject.")})
        if not self.event:
            return
        errors: dict[str, list[str]] = {}
        for field_name in ("subject", "body"):
            try:
                validate_template_source(
                    event=self.event, source=getattr(self, field_name), field=field_name
                )
            except ValidationError as error:
                errors.update(error.message_dict)
        if errors:
            raise ValidationError(errors)


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    SUPPRESSED = "suppressed", _("Suppressed")


class OutboundMessage(models.Model):
    """One SMS or email to one customer or address, from queued to delivered (or failed /
    suppressed).

    Every status change goes through crm.notifications.services. ``idempotency_key`` is the
    domain event, the customer (or the occurrence, for an address) and the channel: the
    same event never sends twice to the same person on the same channel. ``customer`` is
    empty for a message addressed to a phone number or email address that must not be
    matched to a customer: a sign-in code, sent before anyone has proved who they are.
    """

    Status = MessageStatus

    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="outbound_messages",
        verbose_name=_("customer"),
    )
    event = models.CharField(_("event"), max_length=64, choices=Event.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    # A template may be deleted later; the message keeps what was actually sent.
    template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("template"),
    )
    recipient = models.CharField(_("to"), max_length=254)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("body"))
    status = models.CharField(
        _("status"), max_length=16, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    suppressed_reason = models.CharField(_("suppressed because"), max_length=200, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)
    provider_status = models.CharField(_("provider status"), max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    resent_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="resends",
        verbose_name=_("resent from"),
    )
    send_after = models.DateTimeField(
        _("send after"), null=True, blank=True, help_text=_("Set when quiet hours hold it back.")
    )
    send_before = models.DateTimeField(
        _("send before"),
        null=True,
        blank=True,
        help_text=_("Not sent after this time: it fails instead (a sign-in code that expired)."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sending_started_at = models.DateTimeField(_("sending started at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        permissions = [("retry_outboundmessage", _("Can retry and resend messages"))]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="outbound_message_provider_id_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=MessageStatus.values),
                name="outbound_message_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=Channel.values),
                name="outbound_message_channel_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="outbound_status_created_idx"),
            models.Index(fields=["customer", "created_at"], name="outbound_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.event} to {self.recipient}"


class FailedMessageManager(models.Manager["FailedMessage"]):
    def get_queryset(self) -> models.QuerySet["FailedMessage"]:
        return super().get_queryset().filter(status=OutboundMessage.Status.FAILED)


class FailedMessage(OutboundMessage):
    """The helpdesk's follow-up list: outbound messages that ended failed."""

    objects: ClassVar[FailedMessageManager] = FailedMessageManager()  # type: ignore[assignment]

    class Meta:
        proxy = True
        verbose_name = _("failed message")
        verbose_name_plural = _("failed messages")


# The helpdesk's own rows (docs/HELPDESK.md): notes on a customer, duplicate merges, and bulk
# imports of customers from a scheme's member register.


class HelpdeskNote(models.Model):
    """What a helpdesk agent wrote about a customer. Append-only in the product: there is no
    edit or delete path; a correction is a new note. Written through crm.helpdesk."""

    class Category(models.TextChoices):
        QUERY = "query", _("Query")
        COMPLAINT = "complaint", _("Complaint")
        ESCALATION = "escalation", _("Escalation")

    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        related_name="helpdesk_notes",
        verbose_name=_("customer"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="helpdesk_notes",
        verbose_name=_("author"),
    )
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    text = models.TextField(_("text"), max_length=5000)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("helpdesk note")
        verbose_name_plural = _("helpdesk notes")
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="helpdesk_note_customer_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(category__in=["query", "complaint", "escalation"]),
                name="helpdesk_note_category_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(text=""), name="helpdesk_note_text_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} note #{self.pk} on customer #{self.customer_id}"


class CustomerMerge(models.Model):
    """Merging duplicate ``merged`` into ``survivor``, with maker-checker: one operator
    proposes, another approves; approving runs the merge (crm.merge)."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    survivor = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="merges_kept", verbose_name=_("keep")
    )
    merged = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        related_name="merges_absorbed",
        verbose_name=_("merge in (duplicate)"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PROPOSED
    )
    reason = models.CharField(_("reason"), max_length=500)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("proposed by"),
    )
    proposed_at = models.DateTimeField(_("proposed at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved or cancelled by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    merged_snapshot = models.JSONField(
        _("duplicate as it was"),
        null=True,
        blank=True,
        help_text=_("The duplicate's fields just before the merge, for the record."),
    )

    class Meta:
        ordering = ["-proposed_at", "-id"]
        verbose_name = _("customer merge")
        verbose_name_plural = _("customer merges")
        permissions = [("approve_customermerge", _("Can approve a customer merge"))]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(survivor=models.F("merged")),
                name="customer_merge_two_customers",
            ),
            # The four-eyes rule: the approver is never the proposer. Cancelling one's own
            # proposal is allowed (status cancelled).
            models.CheckConstraint(
                condition=~models.Q(status="completed", decided_by=models.F("proposed_by")),
                name="customer_merge_checker_not_maker",
            ),
            models.CheckConstraint(
                condition=models.Q(status="proposed", decided_by__isnull=True)
                | (
                    models.Q(status__in=["completed", "cancelled"])
                    & models.Q(decided_by__isnull=False, decided_at__isnull=False)
                ),
                name="customer_merge_decision_consistent",
            ),
            models.UniqueConstraint(
                fields=["merged"],
                condition=models.Q(status__in=["proposed", "completed"]),
                name="customer_merge_once_per_duplicate",
            ),
        ]

    def __str__(self) -> str:
        return f"Merge customer #{self.merged_id} into #{self.survivor_id} ({self.status})"


class CustomerImport(models.Model):
    """One bulk import of customers from a CSV or XML member register (crm.imports).

    A file is checked first (the dry run: every row validated and matched, nothing written),
    then imported when an operator confirms. Errors are CustomerImportError rows.
    """

    class Format(models.TextChoices):
        CSV = "csv", _("CSV")
        XML = "xml", _("XML")

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded, waiting for the check")
        CHECKING = "checking", _("Checking")
        CHECKED = "checked", _("Checked (dry run done)")
        IMPORTING = "importing", _("Importing")
        IMPORTED = "imported", _("Imported")
        REFUSED = "refused", _("Refused")

    file = models.FileField(_("file"), upload_to="customer-imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    format = models.CharField(_("format"), max_length=8, choices=Format.choices)
    default_country_calling_code = models.CharField(
        _("default country calling code"),
        max_length=4,
        help_text=_("A phone number written with a leading 0 is read as a number here."),
    )
    import_valid_rows = models.BooleanField(
        _("import the valid rows even if some have errors"), default=False
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.UPLOADED
    )
    refusal = models.TextField(_("refused because"), blank=True)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    valid_rows = models.PositiveIntegerField(_("valid rows"), default=0)
    error_rows = models.PositiveIntegerField(_("rows with errors"), default=0)
    new_rows = models.PositiveIntegerField(_("new customers"), default=0)
    matched_rows = models.PositiveIntegerField(_("existing customers"), default=0)
    created_count = models.PositiveIntegerField(_("customers created"), default=0)
    updated_count = models.PositiveIntegerField(_("customers completed"), default=0)
    unchanged_count = models.PositiveIntegerField(_("customers unchanged"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("confirmed by"),
    )
    imported_at = models.DateTimeField(_("imported at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("customer import")
        verbose_name_plural = _("customer imports")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=[
                        "uploaded",
                        "checking",
                        "checked",
                        "importing",
                        "imported",
                        "refused",
                    ]
                ),
                name="customer_import_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.original_name}"


class CustomerImportError(models.Model):
    """One problem with one row (or with the whole file, line 0) of a CustomerImport."""

    customer_import = models.ForeignKey(
        CustomerImport, on_delete=models.CASCADE, related_name="errors", verbose_name=_("import")
    )
    line = models.PositiveIntegerField(_("line"))
    field = models.CharField(_("field"), max_length=64, blank=True)
    value = models.CharField(_("value"), max_length=255, blank=True)
    message = models.CharField(_("error"), max_length=500)

    class Meta:
        ordering = ["line", "id"]
        verbose_name = _("import error")
        verbose_name_plural = _("import errors")
        indexes = [models.Index(fields=["customer_import", "line"], name="import_error_line_idx")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


# The transactional outbox of crm.events: one row per published domain event, written in the
# publisher's transaction (docs/ARCHITECTURE.md, "Domain events").


class DomainEvent(models.Model):
    """A published domain event, kept until every subscriber has had it.

    Inserted by ``crm.events.publish`` in the publisher's transaction, so it commits or rolls
    back with the change. Delivered after commit; an event still undelivered later (the
    process died in between, or a subscriber failed) is delivered again by
    ``crm.tasks.domain_events_redeliver`` until ``DOMAIN_EVENT_MAX_ATTEMPTS``, after which it
    stays here, failed, for the admin.
    """

    name = models.CharField(_("event"), max_length=64)
    payload = models.JSONField(_("payload"), default=dict)
    # The subscribers (module.qualname) that have had the event: a retry skips them.
    delivered_to = models.JSONField(_("delivered to"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("domain event")
        verbose_name_plural = _("domain events")
        permissions = [("retry_domainevent", _("Can retry undelivered domain events"))]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(delivered_at__isnull=True),
                name="domain_event_undelivered_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"
