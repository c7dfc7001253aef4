"""Merchant settlement: what each merchant of a loyalty scheme owes for the awards it caused
and is owed for the spends it accepted, per settlement period (docs/LEDGER.md).

The contribution rules live on SchemeMerchant (basis points); a settlement run writes one
SettlementPeriod and its SettlementLines in one transaction, so a period is settled once.
Writes go through rewards.services.settlement.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from rewards.models.catalog import Merchant, Scheme

BASIS_POINTS_PER_WHOLE = 10_000


class SettlementPeriod(models.Model):
    """A settled stretch of time of one scheme: journals posted in ``[starts_at, ends_at)``.

    A row exists only once its lines are written (same transaction), and two periods of a
    scheme never overlap (unique starts and ends, and the service checks overlaps under a
    per-scheme lock), so no journal is settled twice.
    """

    scheme = models.ForeignKey(
        Scheme,
        on_delete=models.PROTECT,
        related_name="settlement_periods",
        verbose_name=_("scheme"),
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), help_text=_("Not included."))
    run = models.ForeignKey(
        "rewards.Run",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="settlement_periods",
        verbose_name=_("run"),
    )
    settled_at = models.DateTimeField(_("settled at"))

    class Meta:
        ordering = ["scheme", "-starts_at"]
        verbose_name = _("settlement period")
        verbose_name_plural = _("settlement periods")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "starts_at"], name="settlement_period_start_unique"
            ),
            models.UniqueConstraint(
                fields=["scheme", "ends_at"], name="settlement_period_end_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="settlement_period_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scheme}: {self.starts_at:%Y-%m-%d} - {self.ends_at:%Y-%m-%d}"


class SettlementLine(models.Model):
    """One debit or credit of one merchant in one period.

    ``base_minor`` is what the rule applies to: for an award contribution, the points the
    merchant's events issued net of clawbacks and reversals; for a spend reimbursement, the
    points redeemed at the merchant (spends and instant discounts) net of reversals.
    ``amount_minor = floor(|base_minor| * basis_points / 10000)``. A debit is charged to the
    merchant, a credit paid to it; a negative base (more taken back than issued) turns the
    line around.
    """

    class Kind(models.TextChoices):
        AWARD_CONTRIBUTION = "award_contribution", _("Contribution to awards")
        SPEND_REIMBURSEMENT = "spend_reimbursement", _("Reimbursement of spends")

    class Direction(models.TextChoices):
        DEBIT = "debit", _("Debit (merchant pays)")
        CREDIT = "credit", _("Credit (merchant is paid)")

    period = models.ForeignKey(
        SettlementPeriod,
        on_delete=models.PROTECT,
        related_name="lines",
        verbose_name=_("period"),
    )
    merchant = models.ForeignKey(
        Merchant,
        on_delete=models.PROTECT,
        related_name="settlement_lines",
        verbose_name=_("merchant"),
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices)
    base_minor = models.BigIntegerField(_("base (minor units)"))
    basis_points = models.PositiveIntegerField(_("rate (basis points)"))
    amount_minor = models.BigIntegerField(_("amount (minor units)"))
    journal_count = models.PositiveIntegerField(_("journals"))

    class Meta:
        ordering = ["period", "merchant", "kind"]
        verbose_name = _("settlement line")
        verbose_name_plural = _("settlement lines")
        constraints = [
            models.UniqueConstraint(
                fields=["period", "merchant", "kind"], name="settlement_line_once"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gte=0), name="settlement_line_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(basis_points__lte=BASIS_POINTS_PER_WHOLE),
                name="settlement_line_rate_at_most_whole",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    kind__in=["award_contribution", "spend_reimbursement"],
                    direction__in=["debit", "credit"],
                ),
                name="settlement_line_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} {self.get_kind_display()}: {self.direction} {self.amount_minor}"
