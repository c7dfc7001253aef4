"""Rollup tables the dashboards read, and the dashboards' permissions.

Every dashboard number is read from these tables, never from a GROUP BY over the ledger per
request (STYLE.md). They are derived data: dashboards.rollups keeps them current (the ledger
incrementally, by journal id; the participants by one set-based recount) and
``manage.py rollups_rebuild`` recomputes them from scratch. Amounts are integers in the
scheme's minor unit; months are the first day of the month in the scheme's time zone.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rewards.models import Merchant, Offer, Scheme


class Dashboard(models.Model):
    """No table: the holder of the dashboards' permissions, which crm.roles grants."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_dashboard", _("Can open the dashboards")),
            ("view_loyalty_board", _("Can view the loyalty operator board")),
            ("export_report", _("Can export reports")),
        ]

    def __str__(self) -> str:
        return "Dashboards"


class RollupState(models.Model):
    """Where a rollup stands and when it was last computed (shown next to its numbers)."""

    class Name(models.TextChoices):
        LEDGER = "ledger", _("Ledger (awards, spends, expirations, liability, offers)")
        PARTICIPANTS = "participants", _("Participants (sign-ups, terminations, units)")

    name = models.CharField(_("name"), max_length=20, choices=Name.choices, unique=True)
    journal_cursor_id = models.BigIntegerField(
        _("journal cursor"),
        default=0,
        help_text=_(
            "Every journal with an id up to this one is counted; counted journals above it "
            "are listed in CountedJournal."
        ),
    )
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    last_run_rows = models.BigIntegerField(
        _("rows in the last run"),
        default=0,
        help_text=_("Journals counted, or participants recounted, by the last run."),
    )
    last_run_duration_ms = models.PositiveIntegerField(
        _("duration of the last run (ms)"), default=0
    )

    class Meta:
        verbose_name = _("rollup state")
        verbose_name_plural = _("rollup states")

    def __str__(self) -> str:
        return self.get_name_display()


class CountedJournal(models.Model):
    """A journal above the cursor that is already in the ledger rollups.

    Journal ids are taken when a posting starts but become visible when it commits, so a
    lower id can appear after a higher one was counted. The cursor therefore advances only
    over ids that are counted or can no longer appear (dashboards.rollups explains the rule).
    """

    journal_id = models.BigIntegerField(_("journal id"), primary_key=True)
    counted_at = models.DateTimeField(_("counted at"))

    class Meta:
        verbose_name = _("counted journal")
        verbose_name_plural = _("counted journals")

    def __str__(self) -> str:
        return f"Journal #{self.journal_id}"


class LedgerMonth(models.Model):
    """What the journals of one kind posted in a scheme in one month.

    Each column is the month's net movement of one kind of account: ``issued_minor`` is
    what left the points-issued account (awards; negative for clawbacks and reversed
    awards), ``redeemed_minor`` what reached points-redeemed (spends and instant
    discounts), ``expired_minor`` what reached points-expired, ``wallet_net_minor`` what
    the scheme's wallets gained or lost (its running sum is the outstanding liability).
    """

    scheme = models.ForeignKey(
        Scheme, on_delete=models.CASCADE, related_name="+", verbose_name=_("scheme")
    )
    month = models.DateField(_("month"))
    # No choices: the labels come from rewards at read time, so a new journal kind there
    # needs no migration here.
    kind = models.CharField(_("journal kind"), max_length=20)
    reversed_kind = models.CharField(
        _("kind of the reversed journal"),
        max_length=20,
        blank=True,
        help_text=_("For reversals: the kind of the journal they undo."),
    )
    journal_count = models.BigIntegerField(_("journals"), default=0)
    issued_minor = models.BigIntegerField(_("issued (minor units)"), default=0)
    redeemed_minor = models.BigIntegerField(_("redeemed (minor units)"), default=0)
    expired_minor = models.BigIntegerField(_("expired (minor units)"), default=0)
    wallet_net_minor = models.BigIntegerField(_("wallets' net change (minor units)"), default=0)

    class Meta:
        ordering = ["scheme", "month", "kind", "reversed_kind"]
        verbose_name = _("ledger month")
        verbose_name_plural = _("ledger months")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "month", "kind", "reversed_kind"],
                name="ledger_month_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scheme_id} {self.month:%Y-%m} {self.kind}"


class OfferMonth(models.Model):
    """Awards one offer made in one month: award lines (lots) and their amount."""

    scheme = models.ForeignKey(
        Scheme, on_delete=models.CASCADE, related_name="+", verbose_name=_("scheme")
    )
    offer = models.ForeignKey(
        Offer, on_delete=models.CASCADE, related_name="+", verbose_name=_("offer")
    )
    month = models.DateField(_("month"))
    award_count = models.BigIntegerField(_("awards"), default=0)
    awarded_minor = models.BigIntegerField(_("awarded (minor units)"), default=0)

    class Meta:
        ordering = ["scheme", "month", "-awarded_minor"]
        verbose_name = _("offer month")
        verbose_name_plural = _("offer months")
        indexes = [models.Index(fields=["scheme", "month"], name="offer_month_scheme_idx")]
        constraints = [
            models.UniqueConstraint(fields=["offer", "month"], name="offer_month_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.offer_id} {self.month:%Y-%m}"


class SignUpMonth(models.Model):
    scheme = models.ForeignKey(
        Scheme, on_delete=models.CASCADE, related_name="+", verbose_name=_("scheme")
    )
    month = models.DateField(_("month"))
    sign_ups = models.BigIntegerField(_("sign-ups"))

    class Meta:
        ordering = ["scheme", "month"]
        verbose_name = _("sign-up month")
        verbose_name_plural = _("sign-up months")
        constraints = [
            models.UniqueConstraint(fields=["scheme", "month"], name="sign_up_month_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scheme_id} {self.month:%Y-%m}: {self.sign_ups}"


class TerminationMonth(models.Model):
    scheme = models.ForeignKey(
        Scheme, on_delete=models.CASCADE, related_name="+", verbose_name=_("scheme")
    )
    month = models.DateField(_("month"))
    reason = models.CharField(_("reason"), max_length=20)  # Participant.TerminationReason
    terminations = models.BigIntegerField(_("terminations"))

    class Meta:
        ordering = ["scheme", "month", "reason"]
        verbose_name = _("termination month")
        verbose_name_plural = _("termination months")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "month", "reason"], name="termination_month_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scheme_id} {self.month:%Y-%m} {self.reason}: {self.terminations}"


class ParticipantUnit(models.Model):
    """Participants of a scheme by the unit (merchant) they signed up at, now."""

    scheme = models.ForeignKey(
        Scheme, on_delete=models.CASCADE, related_name="+", verbose_name=_("scheme")
    )
    merchant = models.ForeignKey(
        Merchant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sign-up unit"),
    )
    effective = models.BigIntegerField(_("effective"))
    terminated = models.BigIntegerField(_("terminated"))

    class Meta:
        ordering = ["scheme", "merchant"]
        verbose_name = _("participants per unit")
        verbose_name_plural = _("participants per unit")
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "merchant"],
                name="participant_unit_unique",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scheme_id} {self.merchant_id}: {self.effective}"


class Export(models.Model):
    """One report export a user asked for (dashboards.exports writes it, a Celery task runs
    it). The file lives in the private default storage under ``storage_name`` and is served
    only by the authorising download view until ``expires_at``."""

    class Report(models.TextChoices):
        PARTICIPANT_BALANCES = "participant_balances", _("Participants balance report")
        PARTICIPANTS = "participants", _("Participants report")
        CLAIMS = "claims", _("Claims report")
        SETTLEMENT = "settlement", _("Settlement report")

    class Format(models.TextChoices):
        CSV = "csv", _("CSV (Excel, UTF-8)")
        XLSX = "xlsx", _("Excel workbook (XLSX)")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    report = models.CharField(_("report"), max_length=30, choices=Report.choices)
    format = models.CharField(_("format"), max_length=10, choices=Format.choices)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    rows_written = models.BigIntegerField(_("rows written"), default=0)
    rows_total = models.BigIntegerField(
        _("rows expected"),
        null=True,
        blank=True,
        help_text=_("Counted when the export starts; rows added meanwhile may be written too."),
    )
    storage_name = models.CharField(_("stored file"), max_length=255, unique=True)
    download_name = models.CharField(_("file name"), max_length=120)
    size_bytes = models.BigIntegerField(_("size (bytes)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(
        _("file kept until"), null=True, blank=True, help_text=_("Set when the file is written.")
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        indexes = [
            models.Index(fields=["requested_by", "-created_at"], name="export_requester_idx"),
            models.Index(
                fields=["expires_at"],
                condition=models.Q(status="done"),
                name="export_done_expiry_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rows_written__gte=0), name="export_rows_not_negative"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="done")
                | models.Q(finished_at__isnull=False, expires_at__isnull=False),
                name="export_done_has_file_times",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="failed")
                | (models.Q(finished_at__isnull=False) & ~models.Q(error="")),
                name="export_failed_says_why",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_report_display()} #{self.pk} ({self.get_format_display()})"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def progress_percent(self) -> int:
        """0-100: rows written over the count taken at the start (100 once done)."""
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_written * 100 // self.rows_total)
