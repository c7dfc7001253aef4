"""The double-entry ledger: accounts, journals, immutable entries and award lots.

See docs/LEDGER.md. Every write goes through rewards.services.ledger; the database backs
the invariants (triggers in the migrations refuse UPDATE and DELETE of entries and any
journal whose entries do not sum to zero at commit).

The foreign keys marked ``db_constraint=False`` are still enforced by the database, per
statement rather than per row: statement-level triggers refuse rows naming missing ids, and
the referenced rows cannot be deleted or renumbered (migration 0011).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rewards.models.catalog import Merchant, Scheme
from rewards.models.participants import Participant

SYSTEM_ACCOUNT_KINDS = (
    "points_issued",
    "points_redeemed",
    "points_expired",
    "merchant_contributions",
)


class Account(models.Model):
    """A ledger account of one scheme. A participant's wallet caches its balance on the row
    (``balance_minor``, always the sum of its entries, changed only under a row lock); other
    accounts are summed from their entries when needed, so no hot row serialises postings.
    """

    class Kind(models.TextChoices):
        WALLET = "wallet", _("Participant wallet")
        MERCHANT = "merchant", _("Merchant")
        POINTS_ISSUED = "points_issued", _("Points issued")
        POINTS_REDEEMED = "points_redeemed", _("Points redeemed")
        POINTS_EXPIRED = "points_expired", _("Points expired")
        MERCHANT_CONTRIBUTIONS = "merchant_contributions", _("Merchant contributions")

    scheme = models.ForeignKey(
        Scheme, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("scheme")
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    participant = models.OneToOneField(
        Participant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="wallet",
        verbose_name=_("participant"),
    )
    merchant = models.ForeignKey(
        Merchant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
        verbose_name=_("merchant"),
    )
    balance_minor = models.BigIntegerField(_("balance (minor units)"), null=True, blank=True)
    allows_negative_balance = models.BooleanField(
        _("allows a negative balance"),
        default=False,
        help_text=_("Set when the scheme's return policy lets a refund overdraw the wallet."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["scheme", "kind", "pk"]
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(
                        kind="wallet",
                        participant__isnull=False,
                        merchant__isnull=True,
                        balance_minor__isnull=False,
                    )
                    | models.Q(
                        kind="merchant",
                        participant__isnull=True,
                        merchant__isnull=False,
                        balance_minor__isnull=True,
                    )
                    | models.Q(
                        kind__in=SYSTEM_ACCOUNT_KINDS,
                        participant__isnull=True,
                        merchant__isnull=True,
                        balance_minor__isnull=True,
                    )
                ),
                name="account_kind_shape",
            ),
            models.CheckConstraint(
                condition=models.Q(balance_minor__isnull=True)
                | models.Q(balance_minor__gte=0)
                | models.Q(allows_negative_balance=True),
                name="account_wallet_balance_not_negative",
            ),
            models.UniqueConstraint(
                fields=["scheme", "kind"],
                condition=models.Q(kind__in=SYSTEM_ACCOUNT_KINDS),
                name="account_system_once_per_scheme",
            ),
            models.UniqueConstraint(
                fields=["scheme", "merchant"],
                condition=models.Q(kind="merchant"),
                name="account_merchant_once_per_scheme",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.WALLET:
            return f"Wallet #{self.pk} of participant #{self.participant_id}"
        if self.kind == self.Kind.MERCHANT:
            return f"Merchant account #{self.pk} ({self.merchant_id})"
        return f"{self.get_kind_display()} ({self.scheme_id})"


class Journal(models.Model):
    """One posting: a set of entries summing to zero, written once under a unique
    idempotency key, never changed. A mistake is undone by a reversing journal."""

    class Kind(models.TextChoices):
        AWARD = "award", _("Award")
        SPEND = "spend", _("Spend")
        EXPIRATION = "expiration", _("Award expiration")
        CLAWBACK = "clawback", _("Refund clawback")
        TRANSFER = "transfer", _("Balance transfer")
        REVERSAL = "reversal", _("Reversal")

    scheme = models.ForeignKey(
        Scheme,
        on_delete=models.PROTECT,
        related_name="journals",
        verbose_name=_("scheme"),
        db_constraint=False,
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    request_hash = models.CharField(
        _("request hash"),
        max_length=64,
        blank=True,
        help_text=_("SHA-256 of the canonical request, to refuse a reused key."),
    )
    participant = models.ForeignKey(
        Participant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journals",
        verbose_name=_("participant"),
        db_constraint=False,
    )
    merchant = models.ForeignKey(
        Merchant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journals",
        verbose_name=_("merchant"),
        db_constraint=False,
    )
    event = models.ForeignKey(
        "rewards.CustomerEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journals",
        verbose_name=_("customer event"),
        db_constraint=False,
    )
    reverses = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
        verbose_name=_("reverses"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("posted by"),
    )
    memo = models.CharField(_("memo"), max_length=200, blank=True)
    result = models.JSONField(
        _("result"), null=True, blank=True, help_text=_("What the first request was answered.")
    )
    posted_at = models.DateTimeField(_("posted at"), db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("journal")
        verbose_name_plural = _("journals")
        permissions = [("reverse_journal", _("Can reverse a journal"))]
        indexes = [
            models.Index(fields=["participant", "-id"], name="journal_participant_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="reversal", reverses__isnull=False)
                | (~models.Q(kind="reversal") & models.Q(reverses__isnull=True)),
                name="journal_reversal_names_original",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class AwardLot(models.Model):
    """What one award line put into a wallet, and what became of it.

    remaining = amount - consumed - expired - reversed, never negative. Spends take from lots
    that are available (``available_from`` passed) and not expired, soonest to expire first.
    The table has a low fillfactor and no index on the counters, so PostgreSQL updates lots in
    place (heap-only tuples). Change the counters only while holding the wallet's row lock.
    """

    class SpendMethod(models.TextChoices):
        WALLET = "wallet", _("To the wallet")
        INSTANT_DISCOUNT = "instant_discount", _("Instant discount on the same purchase")

    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="lots",
        verbose_name=_("wallet"),
        db_index=False,
        db_constraint=False,
    )
    journal = models.ForeignKey(
        Journal,
        on_delete=models.PROTECT,
        related_name="lots",
        verbose_name=_("award journal"),
        db_constraint=False,
    )
    offer = models.ForeignKey(
        "rewards.Offer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lots",
        verbose_name=_("offer"),
        db_index=False,
        db_constraint=False,
    )
    amount_minor = models.BigIntegerField(_("amount (minor units)"))
    consumed_minor = models.BigIntegerField(_("spent (minor units)"), default=0)
    expired_minor = models.BigIntegerField(_("expired (minor units)"), default=0)
    reversed_minor = models.BigIntegerField(
        _("reversed (minor units)"),
        default=0,
        help_text=_("Clawed back, voided or transferred away."),
    )
    spend_method = models.CharField(
        _("spend method"), max_length=20, choices=SpendMethod.choices, default=SpendMethod.WALLET
    )
    awarded_at = models.DateTimeField(
        _("awarded at"), help_text=_("When the event that earned it happened.")
    )
    available_from = models.DateTimeField(_("available from"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        ordering = ["expires_at", "pk"]
        verbose_name = _("award lot")
        verbose_name_plural = _("award lots")
        indexes = [
            models.Index(fields=["account", "expires_at", "id"], name="lot_wallet_expiry_idx"),
            models.Index(
                fields=["account", "offer", "awarded_at"], name="lot_wallet_offer_awarded_idx"
            ),
            models.Index(
                fields=["expires_at"],
                condition=models.Q(expires_at__isnull=False),
                name="lot_expires_at_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="lot_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    consumed_minor__gte=0, expired_minor__gte=0, reversed_minor__gte=0
                ),
                name="lot_counters_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    amount_minor__gte=models.F("consumed_minor")
                    + models.F("expired_minor")
                    + models.F("reversed_minor")
                ),
                name="lot_not_over_consumed",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__isnull=True)
                | models.Q(expires_at__gt=models.F("available_from")),
                name="lot_expires_after_available",
            ),
        ]

    def __str__(self) -> str:
        return f"Lot #{self.pk} ({self.amount_minor})"

    @property
    def remaining_minor(self) -> int:
        return self.amount_minor - self.consumed_minor - self.expired_minor - self.reversed_minor


class Entry(models.Model):
    """One signed amount on one account. Immutable: a trigger refuses UPDATE and DELETE.

    A positive amount raises the account's balance. Wallet entries name the lot they changed,
    except the expiration run's one entry per wallet and a negative balance's uncovered part.
    """

    journal = models.ForeignKey(
        Journal,
        on_delete=models.PROTECT,
        related_name="entries",
        verbose_name=_("journal"),
        db_constraint=False,
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="entries",
        verbose_name=_("account"),
        db_index=False,
        db_constraint=False,
    )
    lot = models.ForeignKey(
        AwardLot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
        verbose_name=_("lot"),
        db_constraint=False,
    )
    amount_minor = models.BigIntegerField(_("amount (minor units)"))
    posted_at = models.DateTimeField(_("posted at"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        indexes = [models.Index(fields=["account", "id"], name="entry_account_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount_minor=0), name="entry_amount_not_zero"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount_minor:+d} on account #{self.account_id}"
