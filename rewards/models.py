from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import Client


class Scheme(models.Model):
    """A campaign or loyalty scheme run for a client.

    Amounts in a scheme are integers in its minor unit: points, or cents of ``currency``.
    """

    class Kind(models.TextChoices):
        INSTANT_WIN = "instant_win", _("Instant win (scratch card, on-pack code)")
        LUCKY_DRAW = "lucky_draw", _("Lucky draw")
        LOYALTY = "loyalty", _("Loyalty scheme")

    class Unit(models.TextChoices):
        POINTS = "points", _("Points")
        MONEY = "money", _("Money")

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="schemes", verbose_name=_("client")
    )
    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=50, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    unit = models.CharField(_("unit"), max_length=10, choices=Unit.choices, default=Unit.POINTS)
    currency = models.CharField(
        _("currency"), max_length=3, blank=True, help_text=_("ISO 4217 code, for money schemes.")
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    claim_deadline_at = models.DateTimeField(_("claim deadline"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "name"]
        verbose_name = _("scheme")
        verbose_name_plural = _("schemes")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="scheme_ends_after_start",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(unit="points", currency="")
                    | models.Q(unit="money", currency__regex=r"^[A-Z]{3}$")
                ),
                name="scheme_currency_matches_unit",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Prize(models.Model):
    """A prize a campaign gives away, with its stock."""

    class Kind(models.TextChoices):
        PHYSICAL = "physical", _("Physical item")
        VOUCHER = "voucher", _("Voucher")
        E_VOUCHER = "e_voucher", _("E-voucher")
        POINTS = "points", _("Points")
        CASHBACK = "cashback", _("Cashback")

    scheme = models.ForeignKey(
        Scheme, on_delete=models.PROTECT, related_name="prizes", verbose_name=_("scheme")
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    value_minor = models.BigIntegerField(
        _("value (minor units)"), default=0, help_text=_("Points, or cents of the currency.")
    )
    quantity_total = models.PositiveIntegerField(_("quantity in stock"))
    quantity_awarded = models.PositiveIntegerField(_("quantity awarded"), default=0)

    class Meta:
        ordering = ["scheme", "name"]
        verbose_name = _("prize")
        verbose_name_plural = _("prizes")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value_minor__gte=0), name="prize_value_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity_awarded__lte=models.F("quantity_total")),
                name="prize_inventory_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def quantity_left(self) -> int:
        return self.quantity_total - self.quantity_awarded
