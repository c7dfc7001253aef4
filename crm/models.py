from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

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
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(phone="", email=""), name="customer_has_phone_or_email"
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
        return name or self.phone or self.email


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
