import hashlib
import secrets

from django.conf import settings
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

    class ReturnPolicy(models.TextChoices):
        PENDING_ONLY = "pending_only", _("Claw back only what is still pending")
        WITHIN_BALANCE = "within_balance", _("Claw back within the wallet balance")
        ALLOW_NEGATIVE = (
            "allow_negative",
            _("Claw back in full; a negative balance is recovered from future awards"),
        )

    class EventProcessing(models.TextChoices):
        IMMEDIATE = "immediate", _("Immediately")
        QUEUED = "queued", _("Queued for the next evaluation run")

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
    return_policy = models.CharField(
        _("return policy"),
        max_length=20,
        choices=ReturnPolicy.choices,
        default=ReturnPolicy.WITHIN_BALANCE,
        help_text=_("What a refund takes back of the awards its purchase earned."),
    )
    event_processing = models.CharField(
        _("event processing"),
        max_length=10,
        choices=EventProcessing.choices,
        default=EventProcessing.IMMEDIATE,
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=settings.TIME_ZONE,
        help_text=_("IANA name; participants without their own time zone use this one."),
    )
    requires_reference_code = models.BooleanField(_("requires reference code"), default=False)
    reference_code_pattern = models.CharField(
        _("reference code pattern"),
        max_length=200,
        blank=True,
        help_text=_("A regular expression the whole reference code must match, if set."),
    )
    prize_budget_minor = models.BigIntegerField(
        _("prize budget (minor units)"),
        null=True,
        blank=True,
        help_text=_(
            "Instant win and lucky draw: the most the prizes won may cost, in the same minor "
            "units as the prizes' values. Leave empty for no cap. The campaign dashboard "
            "shows what approved claims have spent against it."
        ),
    )
    merchants = models.ManyToManyField(
        "Merchant",
        through="SchemeMerchant",
        related_name="schemes",
        blank=True,
        verbose_name=_("merchants"),
    )
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
            models.CheckConstraint(
                condition=models.Q(
                    return_policy__in=["pending_only", "within_balance", "allow_negative"]
                ),
                name="scheme_return_policy_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(prize_budget_minor__isnull=True)
                | models.Q(prize_budget_minor__gte=0),
                name="scheme_prize_budget_not_negative",
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


class MerchantGroup(models.Model):
    """A chain, franchise or region of merchants; offers and spends can name a group."""

    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("merchant group")
        verbose_name_plural = _("merchant groups")

    def __str__(self) -> str:
        return self.name


class Merchant(models.Model):
    """A unit (shop, web shop, partner) where participants earn and spend."""

    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=50, unique=True)
    groups = models.ManyToManyField(
        MerchantGroup, related_name="merchants", blank=True, verbose_name=_("groups")
    )
    area = models.CharField(_("area"), max_length=100, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")

    def __str__(self) -> str:
        return self.name


class SchemeMerchant(models.Model):
    """A merchant taking part in a scheme: its integrators reach the scheme's participants."""

    scheme = models.ForeignKey(
        Scheme, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("scheme")
    )
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("merchant")
    )
    joined_at = models.DateTimeField(_("joined at"), auto_now_add=True)
    # Contribution rules for settlement (rewards.services.settlement), in basis points:
    # 10000 = the whole amount.
    award_contribution_basis_points = models.PositiveIntegerField(
        _("award contribution (basis points)"),
        default=0,
        help_text=_(
            "The share of the points its events issue that the merchant pays; 10000 = all."
        ),
    )
    spend_reimbursement_basis_points = models.PositiveIntegerField(
        _("spend reimbursement (basis points)"),
        default=0,
        help_text=_("The share of the points spent at the merchant it is paid back; 10000 = all."),
    )
    allows_automatic_spend = models.BooleanField(
        _("allows automatic spend at purchase"),
        default=False,
        help_text=_(
            "A purchase here pays what it can from the wallet, for participants who allow it."
        ),
    )

    class Meta:
        verbose_name = _("scheme merchant")
        verbose_name_plural = _("scheme merchants")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "scheme"], name="scheme_merchant_unique"),
            models.CheckConstraint(
                condition=models.Q(
                    award_contribution_basis_points__lte=10_000,
                    spend_reimbursement_basis_points__lte=10_000,
                ),
                name="scheme_merchant_rates_at_most_whole",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} in {self.scheme}"


class ProductCategory(models.Model):
    """A category or family of a client's products; ``parent`` nests families."""

    client = models.ForeignKey(
        Client,
        on_delete=models.PROTECT,
        related_name="product_categories",
        verbose_name=_("client"),
    )
    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=50)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )

    class Meta:
        ordering = ["client", "name"]
        verbose_name = _("product category")
        verbose_name_plural = _("product categories")
        constraints = [
            models.UniqueConstraint(fields=["client", "code"], name="product_category_code_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """A product a client's merchants sell, as integrators name it (``code``, e.g. a SKU)."""

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="products", verbose_name=_("client")
    )
    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(_("code"), max_length=64)
    categories = models.ManyToManyField(
        ProductCategory, related_name="products", blank=True, verbose_name=_("categories")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["client", "name"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.UniqueConstraint(fields=["client", "code"], name="product_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


def api_key_hash(secret: str) -> str:
    """Keys are 32 random bytes, so a plain SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    """An integrator's key, scoped to one merchant. Only its hash is stored.

    The key reads ``<prefix>.<secret>``: the prefix finds the row, the hash of the whole key
    proves it.
    """

    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="api_keys", verbose_name=_("merchant")
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.merchant})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate() -> tuple[str, str]:
        """A new (prefix, full key) pair."""
        prefix = secrets.token_hex(4)
        return prefix, f"{prefix}.{secrets.token_urlsafe(32)}"
