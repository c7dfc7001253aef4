"""The back office for code batches, codes and lucky draws.

Everything that changes state goes through rewards.services.codes / .draws, which write
the audit events: generating a batch (add form), exporting it (CSV actions), voiding codes,
scheduling a draw (add form), running it, forfeiting a result. Verification is read-only.
"""

import csv
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from crm.admin_site import ClientScopedAdminMixin, admin_site
from crm.models import ChannelPartner
from rewards.codes import display
from rewards.models import Code, CodeBatch, Draw, DrawEntry, DrawResult, Prize, Scheme
from rewards.services.codes import (
    code_batch_export,
    code_batch_generate,
    code_batch_verify,
    code_void,
    codes_find,
)
from rewards.services.draws import draw_result_forfeit, draw_run, draw_schedule, draw_verify
from rewards.services.errors import RewardsError


class _Echo:
    """csv.writer target that hands each line back instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def _csv_response(rows: Iterable[list[str]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


class ServiceAddAdmin(admin.ModelAdmin):
    """An add form whose save calls a service (which audits). A refusal the form could not
    foresee (a race) is shown as a message and nothing is saved. Subclasses define
    ``create_through_service(request, data)`` returning the created row."""

    create_through_service: Callable[[HttpRequest, dict[str, Any]], Any]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            raise PermissionError("rows of this kind change only through services")
        try:
            created = self.create_through_service(request, form.cleaned_data)
        except RewardsError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        obj.pk = created.pk
        obj.__dict__.update(created.__dict__)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if obj.pk is None:
            return None
        return super().log_addition(request, obj, message)

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: str | None = None
    ) -> HttpResponse:
        if obj.pk is None:
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            )
        return super().response_add(request, obj, post_url_continue)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The change page is a read-only view (everything there is a readonly field).
        return super().has_change_permission(request, obj) if obj is None else False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ---------------------------------------------------------------------------- code batches


class CodeBatchGenerateForm(forms.ModelForm):
    prize_plan_text = forms.CharField(
        label=_("prizes to pre-assign"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Instant win only. One line per prize: the prize's name or id, '=', the number of "
            "codes that win it, e.g. 'Bluetooth speaker = 5'. The rest of the codes win "
            "nothing. The assignment is a seeded shuffle that verify_code_batch can re-derive."
        ),
    )

    class Meta:
        model = CodeBatch
        fields = ["scheme", "channel_partner", "size"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "scheme" in self.fields:  # the add form; a batch's own page is read-only
            cast(forms.ModelChoiceField, self.fields["scheme"]).queryset = Scheme.objects.filter(
                kind__in=[Scheme.Kind.INSTANT_WIN, Scheme.Kind.LUCKY_DRAW]
            )
        if "channel_partner" in self.fields:
            # Its label names the client: one query for the whole list, not one per option.
            partners = cast(forms.ModelChoiceField, self.fields["channel_partner"])
            partners.queryset = ChannelPartner.objects.select_related("client")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scheme = data.get("scheme")
        if scheme is None:
            return data
        prizes = list(Prize.objects.filter(scheme=scheme))
        by_key = {str(prize.pk): prize for prize in prizes} | {
            prize.name.casefold(): prize for prize in prizes
        }
        plan: dict[int, int] = {}
        for number, line in enumerate(data.get("prize_plan_text", "").splitlines(), start=1):
            if not line.strip():
                continue
            name, separator, count_text = line.rpartition("=")
            prize = by_key.get(name.strip().casefold())
            if not separator or prize is None:
                self.add_error(
                    "prize_plan_text",
                    _("Line %(number)s: name a prize of this campaign, then = and a number.")
                    % {"number": number},
                )
                continue
            try:
                count = int(count_text.strip())
            except ValueError:
                count = -1
            if count < 0:
                self.add_error(
                    "prize_plan_text",
                    _("Line %(number)s: the count must be a whole number.") % {"number": number},
                )
                continue
            plan[prize.pk] = plan.get(prize.pk, 0) + count
        data["prize_plan"] = plan
        return data


def _prize_names(batches: Any) -> dict[int, str]:
    """Names of the prizes pre-assigned in ``batches``' prize plans, by prize id."""
    ids = {int(key) for batch in batches for key in (batch.prize_plan or {})}
    if not ids:
        return {}
    return dict(Prize.objects.filter(pk__in=ids).values_list("pk", "name"))


@admin.register(CodeBatch, site=admin_site)
class CodeBatchAdmin(ClientScopedAdminMixin, ServiceAddAdmin):
    """Generate a batch (add), follow its run, export it for printing, verify its prizes."""

    client_scope_path = "scheme__client"

    form = CodeBatchGenerateForm
    list_display = [
        "id",
        "scheme",
        "channel_partner",
        "size",
        "status",
        "progress",
        "prize_plan_summary",
        "created_by",
        "created_at",
        "completed_at",
    ]
    list_filter = ["status", "scheme"]
    list_select_related = ["scheme", "channel_partner__client", "run", "created_by"]
    actions = ["export_for_printing", "export_with_prizes", "verify"]
    readonly_fields = [
        "scheme",
        "channel_partner",
        "size",
        "status",
        "progress",
        "prize_plan_summary",
        "prize_assignment_algorithm",
        "created_by",
        "created_at",
        "completed_at",
        "run",
    ]

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # The prize names of the whole page in one query, not one per row.
        changelist = super().get_changelist_instance(request)
        names = _prize_names(changelist.result_list)
        for batch in changelist.result_list:
            batch._prize_names = names
        return changelist

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        if obj is None:
            return ["scheme", "channel_partner", "size", "prize_plan_text"]
        return list(self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else list(self.readonly_fields)

    def create_through_service(self, request: HttpRequest, data: dict[str, Any]) -> CodeBatch:
        batch = code_batch_generate(
            scheme=data["scheme"],
            size=data["size"],
            actor=request.user,
            prize_plan=data.get("prize_plan") or None,
            channel_partner=data.get("channel_partner"),
        )
        if batch.status == CodeBatch.Status.GENERATING:
            self.message_user(
                request,
                _("The batch is being generated in the background; its progress shows here."),
                messages.INFO,
            )
        return batch

    @admin.display(description=_("progress"))
    def progress(self, batch: CodeBatch) -> str:
        run = batch.run
        if run is None:
            return "-"
        percent = run.progress_percent
        return format_html(
            "{} {} / {}{}",
            run.get_status_display(),
            f"{run.processed_items:,}",
            f"{run.total_items or 0:,}",
            f" ({percent}%)" if percent is not None else "",
        )

    @admin.display(description=_("prizes pre-assigned"))
    def prize_plan_summary(self, batch: CodeBatch) -> str:
        if not batch.prize_plan:
            return "-"
        names = getattr(batch, "_prize_names", None)
        if names is None:
            names = _prize_names([batch])
        return ", ".join(
            f"{names.get(int(prize_id), prize_id)}: {count:,}"
            for prize_id, count in batch.prize_plan.items()
        )

    def _one_batch(self, request: HttpRequest, queryset: QuerySet[CodeBatch]) -> CodeBatch | None:
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one batch to export."), messages.ERROR)
            return None
        return queryset.get()

    def _export(
        self, request: HttpRequest, queryset: QuerySet[CodeBatch], include_prizes: bool
    ) -> HttpResponseBase | None:
        batch = self._one_batch(request, queryset)
        if batch is None:
            return None
        try:
            rows = code_batch_export(batch=batch, actor=request.user, include_prizes=include_prizes)
        except RewardsError as error:
            self.message_user(request, error.message, messages.ERROR)
            return None
        suffix = "-with-prizes" if include_prizes else ""
        return _csv_response(rows, f"codes-{batch.scheme.code}-batch-{batch.pk}{suffix}.csv")

    @admin.action(
        description=_("Export codes for printing (CSV, no prizes)"), permissions=["export"]
    )
    def export_for_printing(
        self, request: HttpRequest, queryset: QuerySet[CodeBatch]
    ) -> HttpResponseBase | None:
        return self._export(request, queryset, include_prizes=False)

    @admin.action(
        description=_("Export codes with their prizes (CSV, confidential)"), permissions=["export"]
    )
    def export_with_prizes(
        self, request: HttpRequest, queryset: QuerySet[CodeBatch]
    ) -> HttpResponseBase | None:
        return self._export(request, queryset, include_prizes=True)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.add_codebatch")

    @admin.action(description=_("Verify pre-assigned prizes against the seed"))
    def verify(self, request: HttpRequest, queryset: QuerySet[CodeBatch]) -> None:
        for batch in queryset:
            result = code_batch_verify(batch=batch)
            if result.is_ok:
                self.message_user(
                    request,
                    _("Batch %(id)s: all %(count)s codes match their seed.")
                    % {"id": batch.pk, "count": f"{result.codes_checked:,}"},
                    messages.SUCCESS,
                )
                continue
            details = [*result.problems] + [
                f"serial {mismatch.serial} ({mismatch.code}): expected prize "
                f"{mismatch.expected_prize_id}, stored {mismatch.stored_prize_id}"
                for mismatch in result.mismatches[:10]
            ]
            self.message_user(
                request,
                _("Batch %(id)s does NOT match its seed (%(count)s codes differ): %(details)s")
                % {
                    "id": batch.pk,
                    "count": f"{result.mismatch_count:,}",
                    "details": "; ".join(details),
                },
                messages.ERROR,
            )


# ---------------------------------------------------------------------------- codes


class VoidCodesForm(ActionForm):
    reason = forms.CharField(required=False, label=_("reason (for voiding)"))


@admin.register(Code, site=admin_site)
class CodeAdmin(ClientScopedAdminMixin, admin.ModelAdmin):
    """Codes are looked up, never edited. Search takes a code as typed: any case, spaces or
    dashes, or the start of a code."""

    client_scope_path = "scheme__client"

    list_display = [
        "code",
        "scheme",
        "batch",
        "serial",
        "prize",
        "status",
        "entered_by",
        "entered_at",
    ]
    list_filter = ["status", "scheme"]
    list_select_related = ["scheme", "batch", "prize", "entered_by"]
    search_fields = ["value"]
    search_help_text = _("A code in any form (ABCD-EFGH-JKLM-N, abcd efgh...), or its start.")
    show_full_result_count = False
    action_form = VoidCodesForm
    actions = ["void"]
    readonly_fields = [
        "code",
        "scheme",
        "batch",
        "serial",
        "prize",
        "status",
        "entered_by",
        "entered_at",
    ]
    fields = tuple(readonly_fields)

    @admin.display(description=_("code"), ordering="value")
    def code(self, code: Code) -> str:
        return display(code.value)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Code], search_term: str
    ) -> tuple[QuerySet[Code], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(codes_find(text=search_term)), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Void the selected codes (lost or stolen)"), permissions=["void"])
    def void(self, request: HttpRequest, queryset: QuerySet[Code]) -> None:
        reason = request.POST.get("reason", "")
        voided = 0
        for code in queryset.order_by("pk"):
            try:
                code_void(code=code, actor=request.user, reason=reason)
            except RewardsError as error:
                self.message_user(request, f"{code}: {error.message}", messages.ERROR)
            else:
                voided += 1
        if voided:
            self.message_user(
                request, _("%(count)s codes voided.") % {"count": voided}, messages.SUCCESS
            )

    def has_void_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.add_codebatch")


# ---------------------------------------------------------------------------- draws


class DrawScheduleForm(forms.ModelForm):
    class Meta:
        model = Draw
        fields = [
            "scheme",
            "prize",
            "name",
            "winners_count",
            "reserves_count",
            "entries_close_at",
            "minimum_claim_days",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "scheme" in self.fields:  # the add form; a draw's own page is read-only
            cast(forms.ModelChoiceField, self.fields["scheme"]).queryset = Scheme.objects.filter(
                kind=Scheme.Kind.LUCKY_DRAW
            )
            cast(forms.ModelChoiceField, self.fields["prize"]).queryset = Prize.objects.filter(
                scheme__kind=Scheme.Kind.LUCKY_DRAW
            ).select_related("scheme")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scheme, prize = data.get("scheme"), data.get("prize")
        if scheme is not None and prize is not None and prize.scheme_id != scheme.pk:
            self.add_error("prize", _("Choose a prize of this campaign."))
        return data


class DrawResultInline(admin.TabularInline):
    model = DrawResult
    extra = 0
    fields = (
        "position",
        "is_reserve",
        "customer",
        "entry",
        "status",
        "claim_deadline_at",
        "replaces",
        "forfeit_reason",
    )
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Draw, site=admin_site)
class DrawAdmin(ClientScopedAdminMixin, ServiceAddAdmin):
    """Schedule a draw (add: the seed's hash is published at once), run it after entries
    close, see results and verify. The seed is shown only once the draw has run."""

    client_scope_path = "scheme__client"

    form = DrawScheduleForm
    list_display = [
        "__str__",
        "scheme",
        "prize",
        "winners_count",
        "reserves_count",
        "entries_close_at",
        "status",
        "entry_count",
        "seed_hash",
    ]
    list_filter = ["status", "scheme"]
    list_select_related = ["scheme", "prize"]
    actions = ["run_now", "verify"]
    inlines = [DrawResultInline]
    readonly_fields = [
        "scheme",
        "prize",
        "name",
        "winners_count",
        "reserves_count",
        "entries_close_at",
        "minimum_claim_days",
        "status",
        "algorithm",
        "seed_hash",
        "revealed_seed",
        "entry_count",
        "entries_digest",
        "scheduled_at",
        "drawn_at",
        "created_by",
        "run",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Draw]:
        return super().get_queryset(request).annotate(entry_total=Count("entries"))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        if obj is None:
            return list(DrawScheduleForm.Meta.fields)
        return list(self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else list(self.readonly_fields)

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        return [DrawResultInline] if obj is not None else []

    def create_through_service(self, request: HttpRequest, data: dict[str, Any]) -> Draw:
        return draw_schedule(
            scheme=data["scheme"],
            prize=data["prize"],
            name=data.get("name", ""),
            winners_count=data["winners_count"],
            reserves_count=data["reserves_count"],
            entries_close_at=data["entries_close_at"],
            minimum_claim_days=data["minimum_claim_days"],
            actor=request.user,
        )

    @admin.display(description=_("seed (revealed after the draw)"))
    def revealed_seed(self, draw: Draw) -> str:
        return draw.seed if draw.status == Draw.Status.DRAWN else str(_("secret until the draw"))

    @admin.display(description=_("entries"), ordering="entry_total")
    def entry_count(self, draw: Draw) -> int:
        entry_total = getattr(draw, "entry_total", None)
        # 0 is a valid annotation: only count when the queryset was not annotated.
        return entry_total if entry_total is not None else draw.entries.count()

    @admin.action(description=_("Run the selected draws now (entries must have closed)"))
    def run_now(self, request: HttpRequest, queryset: QuerySet[Draw]) -> None:
        if not request.user.has_perm("rewards.add_draw"):
            self.message_user(request, _("You may not run draws."), messages.ERROR)
            return
        for draw in queryset.order_by("pk"):
            try:
                drawn = draw_run(draw_id=draw.pk, actor=request.user)
            except RewardsError as error:
                self.message_user(request, f"{draw}: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("%(draw)s: drawn from %(count)s entries; seed revealed.")
                    % {"draw": drawn, "count": drawn.entries_count},
                    messages.SUCCESS,
                )

    @admin.action(description=_("Verify the selected draws (re-derive winners)"))
    def verify(self, request: HttpRequest, queryset: QuerySet[Draw]) -> None:
        for draw in queryset:
            result = draw_verify(draw=draw)
            if result.is_ok:
                self.message_user(
                    request,
                    _("%(draw)s verifies: the seed matches its hash and gives the stored results.")
                    % {"draw": draw},
                    messages.SUCCESS,
                )
            else:
                self.message_user(request, f"{draw}: {' '.join(result.problems)}", messages.ERROR)


@admin.register(DrawEntry, site=admin_site)
class DrawEntryAdmin(ClientScopedAdminMixin, admin.ModelAdmin):
    client_scope_path = "draw__scheme__client"
    list_display = ["id", "draw", "kind", "customer", "code", "customer_event", "created_at"]
    list_filter = ["kind", "draw"]
    list_select_related = ["draw__prize", "customer", "code", "customer_event"]
    search_fields = ["=id", "customer__phone", "customer__email"]
    show_full_result_count = False
    readonly_fields = ["draw", "kind", "customer", "code", "customer_event", "created_at"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DrawEntry], search_term: str
    ) -> tuple[QuerySet[DrawEntry], bool]:
        matches, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        codes = Code.objects.filter(codes_find(text=search_term)).values("pk")
        return matches | queryset.filter(code__in=codes), may_have_duplicates

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DrawResult, site=admin_site)
class DrawResultAdmin(ClientScopedAdminMixin, admin.ModelAdmin):
    client_scope_path = "draw__scheme__client"
    list_display = [
        "draw",
        "position",
        "is_reserve",
        "customer",
        "status",
        "claim_deadline_at",
        "promoted_at",
        "forfeited_at",
    ]
    list_filter = ["status", "is_reserve", "draw"]
    list_select_related = ["draw__prize", "customer"]
    search_fields = ["customer__phone", "customer__email", "customer__last_name"]
    actions = ["forfeit"]
    readonly_fields = [
        "draw",
        "position",
        "is_reserve",
        "customer",
        "entry",
        "status",
        "claim_deadline_at",
        "replaces",
        "promoted_at",
        "claimed_at",
        "forfeited_at",
        "forfeit_reason",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(
        description=_("Forfeit the selected winners (the next reserve is promoted)"),
        permissions=["forfeit"],
    )
    def forfeit(self, request: HttpRequest, queryset: QuerySet[DrawResult]) -> None:
        for result in queryset.order_by("draw_id", "position"):
            try:
                outcome = draw_result_forfeit(
                    result=result, reason="Forfeited by an operator.", actor=request.user
                )
            except RewardsError as error:
                self.message_user(request, f"{result}: {error.message}", messages.ERROR)
                continue
            if outcome.promoted is not None:
                self.message_user(
                    request,
                    _("%(result)s forfeited; %(promoted)s promoted and notified.")
                    % {"result": result, "promoted": outcome.promoted},
                    messages.SUCCESS,
                )
            elif outcome.changed:
                self.message_user(
                    request,
                    _("%(result)s forfeited; no reserve left, the prize is back in stock.")
                    % {"result": result},
                    messages.WARNING,
                )

    def has_forfeit_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.add_draw")
