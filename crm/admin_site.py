from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.utils.translation import gettext_lazy as _

from crm.audit import audit_record, model_snapshot


class CampaignAdminSite(admin.AdminSite):
    """The back office. Only active staff with a verified second factor get in (when
    STAFF_OTP_REQUIRED); signing in happens on the staff sign-in page, never here."""

    site_header = _("Reward campaigns back office")
    site_title = _("Back office")
    index_title = _("Helpdesk and operations")

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return not settings.STAFF_OTP_REQUIRED or user.is_verified()  # type: ignore[attr-defined]

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        next_url = request.GET.get("next") or resolve_url("admin:index")
        return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}")


admin_site = CampaignAdminSite(name="admin")


class AuditedModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose every add, change and delete is written to the audit trail with the
    row's values before and after."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = None
        if change and obj.pk is not None:
            previous = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = model_snapshot(previous) if previous is not None else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(
                action="admin.change" if change else "admin.add",
                actor=request.user,
                target=obj,
                before=before,
                after=model_snapshot(obj),
            )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_formset(request, form, formset, change)
            for obj in formset.new_objects:
                audit_record(
                    action="admin.add", actor=request.user, target=obj, after=model_snapshot(obj)
                )
            for obj, _changed_fields in formset.changed_objects:
                audit_record(
                    action="admin.change", actor=request.user, target=obj, after=model_snapshot(obj)
                )
            for obj in formset.deleted_objects:
                audit_record(
                    action="admin.delete",
                    actor=request.user,
                    target=obj,
                    before=model_snapshot(obj),
                )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit_record(
                action="admin.delete", actor=request.user, target=obj, before=model_snapshot(obj)
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in queryset:
                audit_record(
                    action="admin.delete",
                    actor=request.user,
                    target=obj,
                    before=model_snapshot(obj),
                )
            super().delete_queryset(request, queryset)
