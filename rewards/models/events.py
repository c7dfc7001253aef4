from django.db import models
from django.utils.translation import gettext_lazy as _

from rewards.models.catalog import Merchant, Scheme
from rewards.models.participants import Participant


class CustomerEvent(models.Model):
    """Something a participant did (a purchase, a refund, a sign-up, ...), received once per
    (source, external_id). ``payload`` is the canonical request and ``payload_hash`` its
    SHA-256, so a replay with other content is refused; ``response`` is what the first request
    was answered, returned again to every replay."""

    class Type(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        REFUND = "refund", _("Refund")
        SIGN_UP = "sign_up", _("Sign-up")
        REFERRAL = "referral", _("Referral")
        ACHIEVEMENT = "achievement", _("Achievement")
        BIRTHDAY = "birthday", _("Birthday")
        NAME_DAY = "name_day", _("Name day")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued for evaluation")
        PROCESSED = "processed", _("Processed")

    scheme = models.ForeignKey(
        Scheme,
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name=_("scheme"),
        # Marking an event processed rewrites every index of the row (the queue index's
        # predicate names the status): only indexes a query needs. The queue's lookups by
        # scheme use event_queued_idx; reports over a scheme's events scan the table.
        db_index=False,
    )
    participant = models.ForeignKey(
        Participant,
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name=_("participant"),
        db_index=False,  # event_participant_idx leads with it
    )
    merchant = models.ForeignKey(
        Merchant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("merchant"),
    )
    source = models.CharField(_("source"), max_length=64)
    external_id = models.CharField(_("external id"), max_length=128)
    type = models.CharField(_("type"), max_length=20, choices=Type.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"))
    total_minor = models.BigIntegerField(_("total (minor units)"), default=0)
    original_event = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        verbose_name=_("refunded purchase"),
    )
    clawback_demanded_minor = models.BigIntegerField(
        _("clawback demanded (minor units)"),
        default=0,
        help_text=_("For a refund: the share of the purchase's awards it asked back."),
    )
    payload = models.JSONField(_("payload"))
    payload_hash = models.CharField(_("payload hash"), max_length=64)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    response = models.JSONField(_("response"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("customer event")
        verbose_name_plural = _("customer events")
        indexes = [
            models.Index(fields=["participant", "-id"], name="event_participant_idx"),
            models.Index(
                fields=["scheme", "id"],
                condition=models.Q(status="queued"),
                name="event_queued_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="event_once_per_source"),
            models.CheckConstraint(
                condition=models.Q(type="refund", original_event__isnull=False)
                | (~models.Q(type="refund") & models.Q(original_event__isnull=True)),
                name="event_refund_names_purchase",
            ),
            models.CheckConstraint(
                condition=models.Q(status="queued", processed_at__isnull=True)
                | models.Q(status="processed", processed_at__isnull=False),
                name="event_status_consistent",
            ),
            models.CheckConstraint(
                condition=models.Q(total_minor__gte=0, clawback_demanded_minor__gte=0),
                name="event_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.source}:{self.external_id}"
