"""Printed codes for instant-win and lucky-draw campaigns (see rewards.codes for the format)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from rewards.models.catalog import Prize, Scheme
from rewards.models.runs import Run


class CodeBatch(models.Model):
    """N codes generated together for a campaign, optionally with prizes pre-assigned.

    For instant win the assignment is a seeded shuffle: ``prize_assignment_seed`` and
    ``prize_assignment_algorithm`` are recorded so anyone can re-derive which code won what.
    """

    class Status(models.TextChoices):
        GENERATING = "generating", _("Generating")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    scheme = models.ForeignKey(
        Scheme, on_delete=models.PROTECT, related_name="code_batches", verbose_name=_("scheme")
    )
    size = models.PositiveIntegerField(_("number of codes"))
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.GENERATING
    )
    # The distributor, retailer or region the printed codes go out through; claims of its
    # codes belong to that partner on the dashboards. A partner of the scheme's client only.
    channel_partner = models.ForeignKey(
        "crm.ChannelPartner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="code_batches",
        verbose_name=_("channel partner"),
        help_text=_(
            "The distributor, retailer or region these codes are distributed through "
            "(a partner of the campaign's client). Claims of these codes count as theirs."
        ),
    )
    prize_assignment_seed = models.CharField(_("prize assignment seed"), max_length=64, blank=True)
    prize_assignment_algorithm = models.CharField(
        _("prize assignment algorithm"), max_length=50, blank=True
    )
    prize_plan = models.JSONField(
        _("prize plan"),
        default=dict,
        blank=True,
        help_text=_("Prize id -> number of codes pre-assigned that prize."),
    )
    run = models.ForeignKey(
        Run,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("generation run"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("code batch")
        verbose_name_plural = _("code batches")
        constraints = [
            models.CheckConstraint(condition=models.Q(size__gt=0), name="code_batch_not_empty"),
            models.CheckConstraint(
                condition=models.Q(prize_plan={})
                | (~models.Q(prize_assignment_seed="") & ~models.Q(prize_assignment_algorithm="")),
                name="code_batch_prize_plan_has_seed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.size} codes for {self.scheme}"

    def clean(self) -> None:
        super().clean()
        partner = self.channel_partner if self.channel_partner_id is not None else None
        if (
            partner is not None
            and self.scheme_id is not None
            and partner.client_id != self.scheme.client_id
        ):
            raise ValidationError(
                {
                    "channel_partner": _(
                        "Choose a channel partner of the campaign's client, %(client)s."
                    )
                    % {"client": self.scheme.client}
                }
            )


class Code(models.Model):
    """One printed code. ``value`` is the canonical 13-character form (no dashes)."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        ENTERED = "entered", _("Entered")
        VOID = "void", _("Void")

    batch = models.ForeignKey(
        CodeBatch, on_delete=models.PROTECT, related_name="codes", verbose_name=_("batch")
    )
    scheme = models.ForeignKey(
        Scheme, on_delete=models.PROTECT, related_name="codes", verbose_name=_("scheme")
    )
    value = models.CharField(_("code"), max_length=13, unique=True)
    serial = models.PositiveIntegerField(
        _("serial number in batch"),
        null=True,
        blank=True,
        help_text=_("1..size; the position the prize assignment shuffle works on."),
    )
    prize = models.ForeignKey(
        Prize,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="codes",
        verbose_name=_("pre-assigned prize"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ISSUED
    )
    entered_at = models.DateTimeField(_("entered at"), null=True, blank=True)
    entered_by = models.ForeignKey(
        "crm.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entered_codes",
        verbose_name=_("entered by"),
    )

    class Meta:
        ordering = ["batch", "pk"]
        verbose_name = _("code")
        verbose_name_plural = _("codes")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status="entered", entered_at__isnull=False, entered_by__isnull=False
                )
                | ~models.Q(status="entered"),
                name="code_entered_has_who_and_when",
            ),
        ]

    def __str__(self) -> str:
        return "-".join(self.value[index : index + 4] for index in range(0, len(self.value), 4))
