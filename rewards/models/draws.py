"""Lucky draws: the draw, its entries and its ordered results (see docs/CODES_AND_DRAWS.md).

Fairness is commit-reveal: when a draw is scheduled the SHA-256 hash of a secret seed is
published; after entries close, winners and ordered reserves are derived from the seed and
the entry list sorted by id, the seed is revealed, and anyone holding the entry list can
re-derive the same result (``manage.py verify_draw``).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rewards.models.catalog import Prize, Scheme
from rewards.models.codes import Code
from rewards.models.events import CustomerEvent
from rewards.models.runs import Run


class Draw(models.Model):
    """One draw of a lucky-draw campaign for one prize.

    ``seed`` is secret while the draw is scheduled (never shown by admin or selectors);
    ``seed_hash`` is public from the start. Once drawn, ``seed`` is public too, and
    ``entries_digest`` fixes the entry list the result was derived from.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        DRAWN = "drawn", _("Drawn")
        CANCELLED = "cancelled", _("Cancelled")

    scheme = models.ForeignKey(
        Scheme, on_delete=models.PROTECT, related_name="draws", verbose_name=_("scheme")
    )
    prize = models.ForeignKey(
        Prize, on_delete=models.PROTECT, related_name="draws", verbose_name=_("prize")
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    winners_count = models.PositiveIntegerField(_("number of winners"))
    reserves_count = models.PositiveIntegerField(_("number of reserves"), default=0)
    entries_close_at = models.DateTimeField(_("entries close at"))
    minimum_claim_days = models.PositiveSmallIntegerField(
        _("minimum days to claim"),
        default=14,
        help_text=_(
            "A winner, or a reserve promoted after a forfeit, may claim until the campaign's "
            "claim deadline or this many days after the draw or the promotion, whichever is "
            "later."
        ),
    )
    algorithm = models.CharField(_("algorithm"), max_length=50)
    seed_hash = models.CharField(
        _("seed hash (SHA-256)"), max_length=64, help_text=_("Published before the draw.")
    )
    seed = models.CharField(
        _("seed"), max_length=64, help_text=_("Secret until the draw; revealed after it.")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.SCHEDULED
    )
    entries_count = models.PositiveIntegerField(_("entries drawn from"), null=True, blank=True)
    entries_digest = models.CharField(_("entry list digest (SHA-256)"), max_length=64, blank=True)
    run = models.ForeignKey(
        Run,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("draw run"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("scheduled by"),
    )
    scheduled_at = models.DateTimeField(_("scheduled at"), auto_now_add=True)
    drawn_at = models.DateTimeField(_("drawn at"), null=True, blank=True)

    class Meta:
        ordering = ["-entries_close_at", "-pk"]
        verbose_name = _("draw")
        verbose_name_plural = _("draws")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(winners_count__gt=0), name="draw_has_winners"
            ),
            models.CheckConstraint(
                condition=models.Q(seed_hash__regex=r"^[0-9a-f]{64}$")
                & models.Q(seed__regex=r"^[0-9a-f]{64}$"),
                name="draw_seed_and_hash_are_hex",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="drawn")
                | models.Q(drawn_at__isnull=False, entries_count__isnull=False)
                & ~models.Q(entries_digest=""),
                name="draw_drawn_has_record",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["scheduled", "drawn", "cancelled"]),
                name="draw_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["scheme", "entries_close_at"],
                condition=models.Q(status="scheduled"),
                name="draw_open_by_scheme_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"Draw #{self.pk} of {self.prize}"


class DrawEntry(models.Model):
    """One ticket in a draw: an entered code (a code enters one draw, once) or a purchase."""

    class Kind(models.TextChoices):
        CODE = "code", _("Code")
        PURCHASE = "purchase", _("Purchase")

    draw = models.ForeignKey(
        Draw, on_delete=models.PROTECT, related_name="entries", verbose_name=_("draw")
    )
    customer = models.ForeignKey(
        "crm.Customer",
        on_delete=models.PROTECT,
        related_name="draw_entries",
        verbose_name=_("customer"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    code = models.OneToOneField(
        Code,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="draw_entry",
        verbose_name=_("code"),
    )
    customer_event = models.ForeignKey(
        CustomerEvent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="draw_entries",
        verbose_name=_("purchase"),
    )
    created_at = models.DateTimeField(_("entered at"), auto_now_add=True)

    class Meta:
        ordering = ["draw", "pk"]
        verbose_name = _("draw entry")
        verbose_name_plural = _("draw entries")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="code", code__isnull=False, customer_event__isnull=True)
                | models.Q(kind="purchase", code__isnull=True, customer_event__isnull=False),
                name="draw_entry_is_a_code_or_a_purchase",
            ),
            models.UniqueConstraint(
                fields=["draw", "customer_event"],
                condition=models.Q(customer_event__isnull=False),
                name="draw_entry_purchase_once_per_draw",
            ),
        ]

    def __str__(self) -> str:
        return f"Entry #{self.pk} in {self.draw}"

    @property
    def ticket(self) -> str:
        """What the entry is, as the canonical entry list names it."""
        if self.kind == self.Kind.CODE:
            return f"code:{self.code.value}" if self.code else "code:"
        return f"purchase:{self.customer_event_id}"


class DrawResult(models.Model):
    """A drawn winner or reserve, in draw order (``position`` 1 is the first winner).

    Winners start ``pending_claim`` and reserves ``reserve``. A winner who forfeits is
    replaced by the first waiting reserve, which becomes ``promoted`` (pending claim, with
    its own deadline) and records whom it ``replaces``.
    """

    class Status(models.TextChoices):
        RESERVE = "reserve", _("Reserve, waiting")
        PENDING_CLAIM = "pending_claim", _("Pending claim")
        PROMOTED = "promoted", _("Promoted from reserve, pending claim")
        CLAIMED = "claimed", _("Claimed")
        FORFEITED = "forfeited", _("Forfeited")

    CLAIMABLE_STATUSES = (Status.PENDING_CLAIM, Status.PROMOTED)
    WINNING_STATUSES = (Status.PENDING_CLAIM, Status.PROMOTED, Status.CLAIMED)

    draw = models.ForeignKey(
        Draw, on_delete=models.PROTECT, related_name="results", verbose_name=_("draw")
    )
    entry = models.OneToOneField(
        DrawEntry, on_delete=models.PROTECT, related_name="result", verbose_name=_("entry")
    )
    customer = models.ForeignKey(
        "crm.Customer",
        on_delete=models.PROTECT,
        related_name="draw_results",
        verbose_name=_("customer"),
    )
    position = models.PositiveIntegerField(_("position"))
    is_reserve = models.BooleanField(_("drawn as reserve"))
    status = models.CharField(_("status"), max_length=15, choices=Status.choices)
    claim_deadline_at = models.DateTimeField(_("claim deadline"), null=True, blank=True)
    replaces = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_by",
        verbose_name=_("replaces"),
    )
    promoted_at = models.DateTimeField(_("promoted at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    forfeited_at = models.DateTimeField(_("forfeited at"), null=True, blank=True)
    forfeit_reason = models.CharField(_("forfeit reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["draw", "position"]
        verbose_name = _("draw result")
        verbose_name_plural = _("draw results")
        constraints = [
            models.UniqueConstraint(fields=["draw", "position"], name="draw_result_position"),
            models.UniqueConstraint(fields=["draw", "customer"], name="draw_result_per_customer"),
            models.CheckConstraint(
                condition=models.Q(position__gt=0), name="draw_result_position_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["reserve", "pending_claim", "promoted", "claimed", "forfeited"]
                ),
                name="draw_result_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="forfeited") | models.Q(forfeited_at__isnull=False),
                name="draw_result_forfeited_has_when",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="promoted")
                | models.Q(is_reserve=True, promoted_at__isnull=False),
                name="draw_result_promoted_was_reserve",
            ),
        ]
        indexes = [
            models.Index(
                fields=["claim_deadline_at"],
                condition=models.Q(status__in=["pending_claim", "promoted"]),
                name="draw_result_claimable_idx",
            ),
        ]

    def __str__(self) -> str:
        role = _("reserve") if self.is_reserve else _("winner")
        return f"{role} {self.position} of {self.draw}"

    @property
    def is_claimable(self) -> bool:
        return self.status in self.CLAIMABLE_STATUSES
