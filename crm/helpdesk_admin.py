"""The helpdesk's admin: the customer 360 page and its actions, notes, merges, imports and
the CSV export. Every view reaches customers only through
``crm.customer360.customers_visible_to`` (a customer outside the user's client is a 404).
"""

import csv
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from crm.admin_site import AuditedModelAdmin, admin_site
from crm.customer360 import (
    PanelActionError,
    customers_visible_to,
    panel_action,
    panel_view,
    panels_render,
)
from crm.helpdesk import (
    NoteForm,
    customer_resend_last_message,
    customer_search_condition,
    helpdesk_note_add,
)
from crm.imports import tasks as import_tasks
from crm.imports.export import customers_export
from crm.imports.services import (
    ImportActionError,
    customer_import_check,
    customer_import_confirm,
    customer_import_create,
    customer_import_run,
    has_file_error,
    import_errors_csv_rows,
    import_progress,
    inline_max_bytes,
    max_upload_bytes,
)
from crm.merge import (
    MergeError,
    customer_merge_approve,
    customer_merge_cancel,
    customer_merge_propose,
)
from crm.models import Customer, CustomerImport, CustomerMerge, HelpdeskNote
from crm.notifications.services import MessageActionError
from crm.phones import default_country_calling_code

CONTACT_FIELDS = ["first_name", "last_name", "phone", "email", "preferred_language"]
CONSENT_FIELDS = ["accepts_marketing_sms", "accepts_marketing_email"]


def _customer_for(request: HttpRequest, object_id: Any) -> Customer:
    """The access gate of every customer view: 404 outside the user's scope."""
    try:
        customer_id = int(object_id)
    except (TypeError, ValueError):
        raise Http404 from None
    return get_object_or_404(customers_visible_to(request.user), pk=customer_id)


class MergeProposeForm(forms.Form):
    duplicate = forms.IntegerField(
        label=_("Customer id of the duplicate to merge into this one"), min_value=1
    )
    reason = forms.CharField(label=_("Why they are the same person"), max_length=500)


@admin.register(Customer, site=admin_site)
class CustomerAdmin(AuditedModelAdmin):
    """The customer 360: contact details (corrections audited with before and after by
    AuditedModelAdmin) and, below them, the panels crm and the higher apps register."""

    change_form_template = "admin/crm/customer/change_form.html"
    change_list_template = "admin/crm/customer/change_list.html"
    list_display = [
        "__str__",
        "phone",
        "email",
        "member_number",
        "preferred_language",
        "merged_status",
        "created_at",
    ]
    list_filter = ["preferred_language", "accepts_marketing_sms", "accepts_marketing_email"]
    # Searching is get_search_results (phone in any form, hooks); this turns the box on.
    search_fields = ["phone"]
    search_help_text = _(
        "Phone (any format), email, name, member number, claim number, code or participant id."
    )
    show_full_result_count = False
    actions = None
    fieldsets = [
        (None, {"fields": [*CONTACT_FIELDS, "member_number"]}),
        (_("Consent"), {"fields": [*CONSENT_FIELDS, "consent_updated_at"]}),
        (_("Record"), {"fields": ["created_at", "merged_into", "merged_at"]}),
    ]

    @admin.display(description=_("merged"))
    def merged_status(self, customer: Customer) -> str:
        if not customer.is_merged:
            return ""
        return format_html("{} #{}", _("into"), customer.merged_into_id)

    # --- access ----------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        return customers_visible_to(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Customers come from the portal, the API and imports, with their checks.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # History is kept: duplicates are merged, never deleted.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_merged:
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = ["created_at", "consent_updated_at", "merged_into", "merged_at"]
        # The member number links to a client's register: only who manages registers edits it.
        if not request.user.has_perm("crm.add_customerimport"):
            readonly.append("member_number")
        return readonly

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Customer], search_term: str
    ) -> tuple[QuerySet[Customer], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(customer_search_condition(search_term)), False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if any(name in form.changed_data for name in CONSENT_FIELDS):
            obj.consent_updated_at = timezone.now()
        super().save_model(request, obj, form, change)

    # --- pages -----------------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        customer = _customer_for(request, object_id)
        view = panel_view(customer=customer, user=request.user, request=request)
        extra_context = {
            **(extra_context or {}),
            "customer_panels": panels_render(view=view),
            "merged_into": customer.merged_into,
            "title": str(customer),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        _customer_for(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_export": request.user.has_perm("crm.export_customer"),
            "can_import": request.user.has_perm("crm.add_customerimport"),
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[Any]:
        def view(function: Any) -> Any:
            return self.admin_site.admin_view(function)

        return [
            path("export/", view(self.export_view), name="crm_customer_export"),
            path(
                "<int:object_id>/notes/add/", view(self.add_note_view), name="crm_customer_add_note"
            ),
            path(
                "<int:object_id>/messages/resend-last/",
                view(self.resend_last_view),
                name="crm_customer_resend_last",
            ),
            path(
                "<int:object_id>/merge/propose/",
                view(self.merge_propose_view),
                name="crm_customer_merge_propose",
            ),
            path(
                "<int:object_id>/merge/<int:merge_id>/<str:decision>/",
                view(self.merge_decide_view),
                name="crm_customer_merge_decide",
            ),
            path(
                "<int:object_id>/panel/<slug:panel_key>/<slug:action_key>/",
                view(self.panel_action_view),
                name="crm_customer_panel_action",
            ),
            *super().get_urls(),
        ]

    def _back(self, customer: Customer) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:crm_customer_change", args=[customer.pk]))

    def _refuse_merged(self, request: HttpRequest, customer: Customer) -> bool:
        if customer.is_merged:
            self.message_user(
                request,
                _("This customer was merged into another: work on that one."),
                messages.ERROR,
            )
            return True
        return False

    # --- actions on the page (POST only) -----------------------------------------------

    def add_note_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        if not request.user.has_perm("crm.add_helpdesknote"):
            raise PermissionDenied
        customer = _customer_for(request, object_id)
        if self._refuse_merged(request, customer):
            return self._back(customer)
        form = NoteForm(request.POST)
        if not form.is_valid():
            problems = "; ".join(str(error) for errors in form.errors.values() for error in errors)
            self.message_user(request, _("The note was not added: %s") % problems, messages.ERROR)
            return self._back(customer)
        helpdesk_note_add(
            customer=customer,
            author=request.user,
            category=form.cleaned_data["category"],
            text=form.cleaned_data["text"],
        )
        self.message_user(request, _("Note added."), messages.SUCCESS)
        return self._back(customer)

    def resend_last_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        if not request.user.has_perm("crm.retry_outboundmessage"):
            raise PermissionDenied
        customer = _customer_for(request, object_id)
        if self._refuse_merged(request, customer):
            return self._back(customer)
        try:
            copy = customer_resend_last_message(customer=customer, actor=request.user)
        except MessageActionError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(
                request,
                _("The last message (%(event)s by %(channel)s) is on its way again to %(to)s.")
                % {"event": copy.event, "channel": copy.channel, "to": copy.recipient},
                messages.SUCCESS,
            )
        return self._back(customer)

    def panel_action_view(
        self, request: HttpRequest, object_id: int, panel_key: str, action_key: str
    ) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        action = panel_action(panel_key, action_key)
        if action is None:
            raise Http404
        if not request.user.has_perm(action.permission):
            raise PermissionDenied
        customer = _customer_for(request, object_id)
        if self._refuse_merged(request, customer):
            return self._back(customer)
        view = panel_view(customer=customer, user=request.user, request=request)
        try:
            done = action.function(view, request.POST)
        except PanelActionError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return self._back(customer)

    def merge_propose_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        if not request.user.has_perm("crm.add_customermerge"):
            raise PermissionDenied
        survivor = _customer_for(request, object_id)
        form = MergeProposeForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("Give the duplicate's id and a reason."), messages.ERROR)
            return self._back(survivor)
        duplicate = (
            customers_visible_to(request.user).filter(pk=form.cleaned_data["duplicate"]).first()
        )
        if duplicate is None:
            self.message_user(request, _("No such customer."), messages.ERROR)
            return self._back(survivor)
        try:
            customer_merge_propose(
                survivor=survivor,
                merged=duplicate,
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except MergeError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(
                request,
                _("Merge proposed. Another operator must approve it."),
                messages.SUCCESS,
            )
        return self._back(survivor)

    def merge_decide_view(
        self, request: HttpRequest, object_id: int, merge_id: int, decision: str
    ) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        customer = _customer_for(request, object_id)
        merge = get_object_or_404(
            CustomerMerge.objects.filter(survivor__in=customers_visible_to(request.user)),
            pk=merge_id,
        )
        if decision == "approve":
            if not request.user.has_perm("crm.approve_customermerge"):
                raise PermissionDenied
            service, done = customer_merge_approve, _("Customers merged.")
        elif decision == "cancel":
            may_cancel = merge.proposed_by_id == request.user.pk or request.user.has_perm(
                "crm.approve_customermerge"
            )
            if not may_cancel:
                raise PermissionDenied
            service, done = customer_merge_cancel, _("Merge cancelled.")
        else:
            raise Http404
        try:
            service(merge=merge, actor=request.user)
        except MergeError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return self._back(customer)

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        if not request.user.has_perm("crm.export_customer"):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return customers_export(
            queryset=changelist.get_queryset(request),
            actor=request.user,
            filters=request.GET.urlencode(),
        )


@admin.register(HelpdeskNote, site=admin_site)
class HelpdeskNoteAdmin(admin.ModelAdmin):
    """Notes, read-only: added from the customer page, never edited or deleted."""

    list_display = ["created_at", "category", "customer_link", "author", "short_text"]
    list_filter = ["category"]
    search_fields = ["text", "customer__phone", "customer__email", "customer__last_name"]
    list_select_related = ["customer", "author"]
    date_hierarchy = "created_at"
    fields = ["customer", "author", "category", "text", "created_at"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[HelpdeskNote]:
        return super().get_queryset(request).filter(customer__in=customers_visible_to(request.user))

    @admin.display(description=_("customer"))
    def customer_link(self, note: HelpdeskNote) -> str:
        url = reverse("admin:crm_customer_change", args=[note.customer_id])
        return format_html('<a href="{}">{}</a>', url, note.customer)

    @admin.display(description=_("note"))
    def short_text(self, note: HelpdeskNote) -> str:
        return note.text if len(note.text) <= 80 else note.text[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CustomerMerge, site=admin_site)
class CustomerMergeAdmin(admin.ModelAdmin):
    """Merges, read-only here: proposed, approved and cancelled on the customer's page."""

    list_display = ["proposed_at", "merged", "survivor", "status", "proposed_by", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["merged", "survivor", "proposed_by", "decided_by"]
    readonly_fields = [
        "survivor",
        "merged",
        "status",
        "reason",
        "proposed_by",
        "proposed_at",
        "decided_by",
        "decided_at",
        "merged_snapshot",
    ]
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[CustomerMerge]:
        return super().get_queryset(request).filter(survivor__in=customers_visible_to(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Member register"),
        help_text=_(
            "CSV (UTF-8, with a header line) or XML; see docs/HELPDESK.md for the columns."
        ),
    )
    country_calling_code = forms.RegexField(
        label=_("Default country calling code"),
        regex=r"^[1-9]\d{0,3}$",
        help_text=_("A phone number with a leading 0 is read as a number of this country."),
    )
    import_valid_rows = forms.BooleanField(
        label=_("Import the valid rows even if some rows have errors"), required=False
    )


class ImportConfirmForm(forms.Form):
    import_valid_rows = forms.BooleanField(
        label=_("Import the valid rows and leave out the rows with errors"), required=False
    )


def _schedule(task: Any, customer_import: CustomerImport, inline: Any) -> None:
    """Small files run now, in the request; larger ones in Celery after commit."""
    if customer_import.file.size <= inline_max_bytes():
        inline(import_id=customer_import.pk)
    else:
        import_id = customer_import.pk
        transaction.on_commit(lambda: task.delay(import_id))


@admin.register(CustomerImport, site=admin_site)
class CustomerImportAdmin(admin.ModelAdmin):
    """Upload a register, read the dry-run report, confirm (or refuse) the import."""

    list_display = [
        "created_at",
        "original_name",
        "status",
        "total_rows",
        "error_rows",
        "created_count",
        "updated_count",
        "created_by",
    ]
    list_filter = ["status", "format"]
    list_select_related = ["created_by"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:object_id>/confirm/",
                self.admin_site.admin_view(self.confirm_view),
                name="crm_customerimport_confirm",
            ),
            path(
                "<int:object_id>/errors.csv",
                self.admin_site.admin_view(self.errors_csv_view),
                name="crm_customerimport_errors",
            ),
            *super().get_urls(),
        ]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportUploadForm(
            request.POST or None,
            request.FILES or None,
            initial={"country_calling_code": default_country_calling_code()},
        )
        if request.method == "POST" and form.is_valid():
            try:
                with transaction.atomic():
                    customer_import = customer_import_create(
                        upload=form.cleaned_data["file"],
                        country_calling_code=form.cleaned_data["country_calling_code"],
                        import_valid_rows=form.cleaned_data["import_valid_rows"],
                        actor=request.user,
                    )
                    _schedule(
                        import_tasks.customer_import_check_task,
                        customer_import,
                        customer_import_check,
                    )
            except ImportActionError as error:
                form.add_error("file", str(error))
            else:
                return HttpResponseRedirect(
                    reverse("admin:crm_customerimport_change", args=[customer_import.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import customers"),
            "form": form,
            "opts": self.model._meta,
            "max_bytes": max_upload_bytes(),
        }
        return TemplateResponse(request, "admin/crm/customerimport/upload.html", context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        customer_import = get_object_or_404(CustomerImport, pk=object_id)
        errors = list(customer_import.errors.all()[:500])
        context = {
            **self.admin_site.each_context(request),
            "title": str(customer_import),
            "opts": self.model._meta,
            "original": customer_import,
            "errors": errors,
            "more_errors": max(customer_import.errors.count() - len(errors), 0),
            "progress": import_progress(customer_import),
            "can_confirm": customer_import.status == CustomerImport.Status.CHECKED
            and request.user.has_perm("crm.add_customerimport")
            and customer_import.valid_rows > 0
            and not has_file_error(customer_import),
            "confirm_form": ImportConfirmForm(
                initial={"import_valid_rows": customer_import.import_valid_rows}
            ),
            "is_running": customer_import.status
            in {
                CustomerImport.Status.UPLOADED,
                CustomerImport.Status.CHECKING,
                CustomerImport.Status.IMPORTING,
            },
        }
        return TemplateResponse(request, "admin/crm/customerimport/report.html", context)

    def confirm_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        if not request.user.has_perm("crm.add_customerimport"):
            raise PermissionDenied
        customer_import = get_object_or_404(CustomerImport, pk=object_id)
        form = ImportConfirmForm(request.POST)
        form.is_valid()
        try:
            with transaction.atomic():
                confirmed = customer_import_confirm(
                    customer_import=customer_import,
                    actor=request.user,
                    import_valid_rows=bool(form.cleaned_data.get("import_valid_rows")),
                )
                if confirmed.file.size > inline_max_bytes():
                    _schedule(import_tasks.customer_import_run_task, confirmed, customer_import_run)
        except ImportActionError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            if confirmed.file.size <= inline_max_bytes():
                # Outside the confirm transaction: the import is its own all-or-nothing one.
                done = customer_import_run(import_id=confirmed.pk)
                level = (
                    messages.SUCCESS
                    if done.status == CustomerImport.Status.IMPORTED
                    else messages.ERROR
                )
                self.message_user(request, done.get_status_display(), level)
            else:
                self.message_user(request, _("Import started."), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:crm_customerimport_change", args=[object_id]))

    def errors_csv_view(self, request: HttpRequest, object_id: int) -> StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        customer_import = get_object_or_404(CustomerImport, pk=object_id)

        class Echo:
            def write(self, value: str) -> str:
                return value

        writer = csv.writer(Echo())
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in import_errors_csv_rows(customer_import)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="import-{customer_import.pk}-errors.csv"'
        )
        return response
