from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.utils.translation import gettext_lazy as _

from crm.audit import audit_record, model_snapshot
from crm.customer360 import customers_of_client, staff_client_id
from crm.models import Client, Customer


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


class ClientScopedAdminMixin:
    """Narrows an admin's rows to the client a staff user is tied to (StaffProfile.client).

    ``client_scope_path`` is the lookup from the model to ``crm.Client`` ("scheme__client",
    "claim__scheme__client") or to ``crm.Customer`` ("customer"): customer-linked rows are
    scoped through the customer scope hooks (crm.customer360), so crm needs no higher app.
    Agency staff (no client) and superusers see every row. The change list, the object pages
    (404 outside the scope), actions and search all start from get_queryset. Put the mixin
    before the ModelAdmin base class; an admin whose rows have no such path overrides
    ``client_scope`` instead (AuditEventAdmin).
    """

    client_scope_path: str = ""

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        client_id = staff_client_id(request.user)
        if client_id is None:
            return queryset
        return self.client_scope(request, queryset, client_id)

    def client_scope(
        self, request: HttpRequest, queryset: models.QuerySet[Any], client_id: int
    ) -> models.QuerySet[Any]:
        """The rows of ``queryset`` staff tied to client ``client_id`` may see."""
        return client_scope_filter(queryset, self.client_scope_path, client_id)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        # The admin answers a row missing from get_queryset by redirecting to the index;
        # another client's row is a plain 404 for client staff, as on the customer 360.
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None and staff_client_id(request.user) is not None:
            raise Http404
        return obj


def client_scope_filter(
    queryset: models.QuerySet[Any], path: str, client_id: int
) -> models.QuerySet[Any]:
    """``queryset`` narrowed to rows whose ``path`` leads to client ``client_id`` (or to a
    customer the scope hooks give that client)."""
    target = _scope_path_target(queryset.model, path)
    if target is Client:
        return queryset.filter(**{path: client_id})
    return queryset.filter(**{f"{path}__in": customers_of_client(client_id)})


def _scope_path_target(model: type[models.Model], path: str) -> type[models.Model]:
    target: Any = model
    for name in path.split("__") if path else []:
        target = target._meta.get_field(name).related_model
        if target is None:
            break
    if target not in (Client, Customer):
        raise ImproperlyConfigured(
            f"client_scope_path {path!r} of {model.__name__} must lead to crm.Client or "
            "crm.Customer."
        )
    return target
