"""The back office for runs, settlement and offer simulation.

Runs are written by rewards.services.runs only: here operators see their progress and last
error, start one (audited) and retry a parked one. Settlement periods are read-only and
export their lines as CSV for finance. An offer's change page links to its simulation.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from crm.admin_site import ClientScopedAdminMixin, admin_site
from crm.audit import audit_record
from rewards.models import Offer, Run, Scheme, SettlementLine, SettlementPeriod
from rewards.services.errors import RewardsError
from rewards.services.runs import EXECUTORS, run_retry, run_start
from rewards.services.settlement import settlement_csv
from rewards.services.simulation import MAX_DAYS, offer_simulate

RUN_FIELDS = (
    "kind",
    "scheme",
    "status",
    "progress",
    "parameters",
    "cursor",
    "total_items",
    "processed_items",
    "posted_items",
    "attempts",
    "error",
    "requested_by",
    "created_at",
    "started_at",
    "heartbeat_at",
    "finished_at",
)

LINE_FIELDS = (
    "merchant",
    "kind",
    "direction",
    "base_minor",
    "basis_points",
    "amount_minor",
    "journal_count",
)


class RunStartForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[(kind, label) for kind, label in Run.Kind.choices if kind in EXECUTORS],
    )
    scheme = forms.ModelChoiceField(
        label=_("Scheme"), queryset=Scheme.objects.filter(kind=Scheme.Kind.LOYALTY)
    )
    parameters = forms.JSONField(
        label=_("Parameters"),
        required=False,
        initial=dict,
        help_text=_(
            'Optional, e.g. {"chunk_size": 2000} for an evaluation, {"starts_at": '
            '"2026-10-01T00:00:00+02:00", "ends_at": "2026-11-01T00:00:00+01:00"} for a '
            "settlement (default: last month), max_attempts, retry_delay_seconds."
        ),
    )

    def clean_parameters(self) -> dict[str, Any]:
        value = self.cleaned_data.get("parameters") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Give a JSON object."))
        return value


@admin.register(Run, site=admin_site)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "scheme",
        "status",
        "progress",
        "posted_items",
        "attempts",
        "heartbeat_at",
        "requested_by",
    ]
    list_filter = ["status", "kind", "scheme"]
    search_fields = ["=id", "scheme__code", "scheme__name"]
    list_select_related = ["scheme", "requested_by"]
    actions = ["retry"]
    fields = RUN_FIELDS
    readonly_fields = RUN_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_start_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.add_run")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.change_run")

    @admin.display(description=_("progress"))
    def progress(self, run: Run) -> str:
        percent = run.progress_percent
        if percent is None:
            return format_html("{}", run.processed_items)
        return format_html(
            '<progress max="100" value="{}"></progress> {} / {} ({}%)',
            percent,
            run.processed_items,
            run.total_items,
            percent,
        )

    @admin.display(description=_("last error"))
    def error(self, run: Run) -> str:
        return format_html("<pre>{}</pre>", run.last_error) if run.last_error else "-"

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "start_url": reverse("admin:rewards_run_start")
            if self.has_start_permission(request)
            else None,
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[Any]:
        return [
            path("start/", self.admin_site.admin_view(self.start_view), name="rewards_run_start"),
            path(
                "simulate-offer/<int:offer_id>/",
                self.admin_site.admin_view(self.simulate_view),
                name="rewards_offer_simulate",
            ),
            *super().get_urls(),
        ]

    def start_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_start_permission(request):
            raise PermissionDenied
        form = RunStartForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                run, created = run_start(
                    kind=form.cleaned_data["kind"],
                    scheme=form.cleaned_data["scheme"],
                    actor=request.user,
                    parameters=form.cleaned_data["parameters"],
                )
            except RewardsError as error:
                form.add_error(None, error.message)
            else:
                if created:
                    self.message_user(request, _("Run started."), messages.SUCCESS)
                else:
                    self.message_user(
                        request,
                        _("A run of this kind is already queued or running: this is it."),
                        messages.WARNING,
                    )
                return HttpResponseRedirect(reverse("admin:rewards_run_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Start a run"),
            "form": form,
        }
        return TemplateResponse(request, "admin/rewards/run/start.html", context)

    @admin.action(description=_("Retry (parked or failed runs)"), permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        for run in queryset:
            try:
                run_retry(run=run, actor=request.user)
            except RewardsError as error:
                self.message_user(request, f"{run}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{run}: queued again.", messages.SUCCESS)

    def simulate_view(self, request: HttpRequest, offer_id: int) -> HttpResponse:
        if not request.user.has_perm("rewards.view_offer"):
            raise PermissionDenied
        offer = get_object_or_404(Offer.objects.select_related("scheme"), pk=offer_id)
        form = SimulationForm(request.GET if "days" in request.GET else None)
        report = None
        if form.is_valid():
            try:
                report = offer_simulate(offer=offer, days=form.cleaned_data["days"])
            except RewardsError as error:
                form.add_error(None, error.message)
        context = {
            **self.admin_site.each_context(request),
            "opts": Offer._meta,
            "title": _("Simulate %(offer)s") % {"offer": offer},
            "offer": offer,
            "form": form if form.is_bound else SimulationForm(),
            "report": report,
        }
        return TemplateResponse(request, "admin/rewards/offer/simulate.html", context)


class SimulationForm(forms.Form):
    days = forms.IntegerField(
        label=_("Days of events"), min_value=1, max_value=MAX_DAYS, initial=30
    )


class SettlementLineInline(admin.TabularInline):
    model = SettlementLine
    extra = 0
    fields = LINE_FIELDS
    readonly_fields = LINE_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SettlementPeriod, site=admin_site)
class SettlementPeriodAdmin(ClientScopedAdminMixin, admin.ModelAdmin):
    """Periods are settled by settlement runs (start one from the runs page). Staff tied to
    a client see (and export) only that client's schemes' periods."""

    client_scope_path = "scheme__client"

    list_display = ["scheme", "starts_at", "ends_at", "settled_at", "run"]
    list_filter = ["scheme"]
    list_select_related = ["scheme", "run"]
    readonly_fields = ["scheme", "starts_at", "ends_at", "settled_at", "run"]
    inlines = [SettlementLineInline]
    actions = ["export_csv"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Export lines as CSV"), permissions=["view"])
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[SettlementPeriod]
    ) -> HttpResponse:
        periods = list(queryset)
        audit_record(
            action="settlement.export",
            actor=request.user,
            object_type=SettlementPeriod._meta.label_lower,
            object_id=",".join(str(period.pk) for period in periods)[:64],
            after={"periods": [period.pk for period in periods]},
        )
        response = HttpResponse(settlement_csv(periods=periods), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="settlement-{stamp}.csv"'
        return response
