from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import Customer
from rewards.models.catalog import Merchant, Scheme


class Participant(models.Model):
    """A customer taking part in one scheme. Effective until terminated; a terminated
    participant earns and spends nothing more. Writes go through rewards.services.participants.
    """

    class Status(models.TextChoices):
        EFFECTIVE = "effective", _("Effective")
        TERMINATED = "terminated", _("Terminated")

    class TerminationReason(models.TextChoices):
        CUSTOMER_REQUEST = "customer_request", _("Customer request")
        DUPLICATE = "duplicate", _("Duplicate")
        FRAUD = "fraud", _("Fraud")
        DECEASED = "deceased", _("Deceased")
        INACTIVITY = "inactivity", _("Inactivity")
        SCHEME_CLOSED = "scheme_closed", _("Scheme closed")

    scheme = models.ForeignKey(
        Scheme, on_delete=models.PROTECT, related_name="participants", verbose_name=_("scheme")
    )
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        related_name="participations",
        verbose_name=_("customer"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.EFFECTIVE
    )
    signed_up_at = models.DateTimeField(_("signed up at"))
    sign_up_merchant = models.ForeignKey(
        Merchant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("signed up at merchant"),
    )
    reference_code = models.CharField(_("reference code"), max_length=100, blank=True)
    referred_by = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("referred by"),
    )
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    name_day_month = models.PositiveSmallIntegerField(_("name day month"), null=True, blank=True)
    name_day_day = models.PositiveSmallIntegerField(_("name day"), null=True, blank=True)
    segments = models.JSONField(_("segments"), default=list, blank=True)
    allows_automatic_spend = models.BooleanField(
        _("allows automatic spend at purchase"),
        default=False,
        help_text=_("Purchases at merchants that allow it pay what they can from the wallet."),
    )
    purchase_count = models.PositiveIntegerField(
        _("purchases"), default=0, help_text=_("Purchase events processed so far.")
    )
    terminated_at = models.DateTimeField(_("terminated at"), null=True, blank=True)
    termination_reason = models.CharField(
        _("termination reason"), max_length=20, choices=TerminationReason.choices, blank=True
    )
    replaced_by = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_duplicates",
        verbose_name=_("replaced by"),
        help_text=_("The surviving participant, when terminated as a duplicate."),
    )

    class Meta:
        ordering = ["-signed_up_at"]
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        permissions = [("terminate_participant", _("Can terminate a participant"))]
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "customer"], name="participant_once_per_scheme"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        status="effective",
                        terminated_at__isnull=True,
                        termination_reason="",
                    )
                    | models.Q(
                        status="terminated",
                        terminated_at__isnull=False,
                        termination_reason__in=[
                            "customer_request",
                            "duplicate",
                            "fraud",
                            "deceased",
                            "inactivity",
                            "scheme_closed",
                        ],
                    )
                ),
                name="participant_termination_consistent",
            ),
            models.CheckConstraint(
                condition=models.Q(termination_reason="duplicate", replaced_by__isnull=False)
                | (~models.Q(termination_reason="duplicate") & models.Q(replaced_by__isnull=True)),
                name="participant_duplicate_names_survivor",
            ),
            models.CheckConstraint(
                condition=~models.Q(replaced_by=models.F("pk")),
                name="participant_not_replaced_by_itself",
            ),
            models.CheckConstraint(
                condition=models.Q(name_day_month__isnull=True, name_day_day__isnull=True)
                | models.Q(
                    name_day_month__gte=1,
                    name_day_month__lte=12,
                    name_day_day__gte=1,
                    name_day_day__lte=31,
                ),
                name="participant_name_day_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} in {self.scheme}"

    @property
    def is_effective(self) -> bool:
        return self.status == self.Status.EFFECTIVE

    @property
    def name_day(self) -> tuple[int, int] | None:
        if self.name_day_month is None or self.name_day_day is None:
            return None
        return (self.name_day_month, self.name_day_day)


class ParticipantIdentifier(models.Model):
    """A token by which other systems recognise a participant: a loyalty card's number, a
    mobile app's member id, an id in a partner's system. Unique per scheme and kind, so a
    scanned card names exactly one participant; terminating a duplicate can move its
    identifiers to the participant that stays. Writes go through
    rewards.services.participants."""

    class Kind(models.TextChoices):
        CARD = "card", _("Loyalty card")
        APP = "app", _("Mobile app")
        EXTERNAL = "external", _("External system")

    scheme = models.ForeignKey(
        Scheme, on_delete=models.PROTECT, related_name="+", verbose_name=_("scheme")
    )
    participant = models.ForeignKey(
        Participant,
        on_delete=models.PROTECT,
        related_name="identifiers",
        verbose_name=_("participant"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=100)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["kind", "value"]
        verbose_name = _("participant identifier")
        verbose_name_plural = _("participant identifiers")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "kind", "value"], name="identifier_once_per_scheme"
            ),
            models.CheckConstraint(condition=~models.Q(value=""), name="identifier_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"
