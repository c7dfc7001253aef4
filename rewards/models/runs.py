"""Background runs (evaluation, expiration, settlement, draws, code generation) and their
progress, shown in the admin."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rewards.models.catalog import Scheme


class Run(models.Model):
    """One execution of a batch job, resumable from ``cursor``.

    At most one run of a kind per scheme is queued or running at a time (a partial unique
    index), so two copies started at once do the work once.
    """

    class Kind(models.TextChoices):
        EVALUATION = "evaluation", _("Evaluation of queued events")
        EXPIRATION = "expiration", _("Award expiration")
        SETTLEMENT = "settlement", _("Merchant settlement")
        DRAW = "draw", _("Lucky draw")
        CODE_GENERATION = "code_generation", _("Code generation")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        PARKED = "parked", _("Parked after repeated crashes")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    scheme = models.ForeignKey(
        Scheme,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="runs",
        verbose_name=_("scheme"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    cursor = models.BigIntegerField(
        _("cursor"), default=0, help_text=_("The last id processed; a resumed run starts after it.")
    )
    total_items = models.BigIntegerField(_("items to do"), null=True, blank=True)
    processed_items = models.BigIntegerField(_("items done"), default=0)
    posted_items = models.BigIntegerField(_("items posted"), default=0)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("run")
        verbose_name_plural = _("runs")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "scheme"],
                condition=models.Q(status__in=["queued", "running"]),
                name="run_one_active_per_kind_and_scheme",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=models.Q(processed_items__gte=0) & models.Q(posted_items__gte=0),
                name="run_counts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.get_status_display()})"

    @property
    def progress_percent(self) -> int | None:
        if not self.total_items:
            return None
        return min(100, self.processed_items * 100 // self.total_items)
