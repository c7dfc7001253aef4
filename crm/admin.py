from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.admin_site import AuditedModelAdmin, ClientScopedAdminMixin, admin_site
from crm.customer360 import customers_of_client
from crm.events import domain_event_retry
from crm.helpdesk import customer_audit_condition
from crm.models import AuditEvent, ChannelPartner, Client, DomainEvent, StaffProfile


class ChannelPartnerInline(admin.TabularInline):
    model = ChannelPartner
    extra = 0
    fields = ["name", "code", "kind"]


@admin.register(Client, site=admin_site)
class ClientAdmin(AuditedModelAdmin):
    list_display = ["name", "code", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    inlines = [ChannelPartnerInline]


@admin.register(ChannelPartner, site=admin_site)
class ChannelPartnerAdmin(AuditedModelAdmin):
    list_display = ["name", "code", "kind", "client"]
    list_filter = ["kind", "client"]
    search_fields = ["name", "code"]
    list_select_related = ["client"]


@admin.register(StaffProfile, site=admin_site)
class StaffProfileAdmin(AuditedModelAdmin):
    list_display = ["user", "client", "channel_partner"]
    list_filter = ["client"]
    search_fields = ["user__username", "user__email"]
    # ChannelPartner.__str__ names its client.
    list_select_related = ["user", "client", "channel_partner__client"]
    autocomplete_fields = ["user"]


@admin.register(AuditEvent, site=admin_site)
class AuditEventAdmin(ClientScopedAdminMixin, admin.ModelAdmin):
    """The trail, read-only: there is no add, change or delete path (the database refuses
    them too)."""

    list_display = [
        "occurred_at",
        "actor_label",
        "action",
        "object_type",
        "object_label",
        "ip_address",
    ]
    list_filter = ["action", "object_type"]
    search_fields = [
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_label",
        "request_id",
    ]
    date_hierarchy = "occurred_at"
    show_full_result_count = False

    def client_scope(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent], client_id: int
    ) -> QuerySet[AuditEvent]:
        """Staff tied to a client see only events about that client's customers (their
        notes, messages and merges; see crm.helpdesk.customer_audit_condition) and their own
        actions: events name objects by type and id, with no client link to filter on."""
        return queryset.filter(
            customer_audit_condition(customers_of_client(client_id)) | Q(actor_id=request.user.pk)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    fk_name = "user"


@admin.register(User, site=admin_site)
class CampaignUserAdmin(AuditedModelAdmin, UserAdmin):
    inlines = [StaffProfileInline]


class AuditedGroupAdmin(AuditedModelAdmin, GroupAdmin):
    pass


class AuditedTOTPDeviceAdmin(AuditedModelAdmin, TOTPDeviceAdmin):
    pass


class AuditedPeriodicTaskAdmin(AuditedModelAdmin, PeriodicTaskAdmin):
    pass


admin_site.register(Group, AuditedGroupAdmin)
admin_site.register(TOTPDevice, AuditedTOTPDeviceAdmin)
admin_site.register(PeriodicTask, AuditedPeriodicTaskAdmin)


# The notification engine registers its own admin (templates, messages, failed messages).
# The helpdesk's customer 360, notes, merges, imports and export (crm/helpdesk_admin.py).
import crm.helpdesk_admin  # noqa: E402
import crm.notifications.admin  # noqa: E402, F401


class DomainEventStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("pending", _("Waiting for delivery")),
            ("failed", _("Failed (attempts used up)")),
            ("delivered", _("Delivered")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DomainEvent]) -> Any:
        failed = Q(delivered_at__isnull=True, attempts__gte=settings.DOMAIN_EVENT_MAX_ATTEMPTS)
        if self.value() == "pending":
            return queryset.filter(delivered_at__isnull=True).exclude(failed)
        if self.value() == "failed":
            return queryset.filter(failed)
        if self.value() == "delivered":
            return queryset.filter(delivered_at__isnull=False)
        return queryset


@admin.register(DomainEvent, site=admin_site)
class DomainEventAdmin(admin.ModelAdmin):
    """The outbox of crm.events, read only: what was published, what is waiting, and what
    failed for good (its attempts used up), with a "retry" action (audited)."""

    list_display = ["created_at", "name", "state", "attempts", "delivered_at", "last_error"]
    list_filter = [DomainEventStateFilter, "name"]
    search_fields = ["name", "last_error"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["retry_events"]
    fields = [
        "name",
        "payload",
        "created_at",
        "delivered_at",
        "delivered_to",
        "attempts",
        "last_attempt_at",
        "last_error",
    ]
    readonly_fields = fields

    @admin.display(description=_("state"))
    def state(self, obj: DomainEvent) -> str:
        if obj.delivered_at is not None:
            return str(_("delivered"))
        if obj.attempts >= settings.DOMAIN_EVENT_MAX_ATTEMPTS:
            return str(_("failed"))
        return str(_("waiting"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crm.retry_domainevent")

    @admin.action(description=_("Deliver the selected events again"), permissions=["retry"])
    def retry_events(self, request: HttpRequest, queryset: QuerySet[DomainEvent]) -> None:
        delivered = failed = 0
        for event in queryset.filter(delivered_at__isnull=True).order_by("pk"):
            if domain_event_retry(event=event, actor=request.user):
                delivered += 1
            else:
                failed += 1
        if delivered:
            self.message_user(
                request, _("%(count)s event(s) delivered.") % {"count": delivered}, messages.SUCCESS
            )
        if failed:
            self.message_user(
                request,
                _("%(count)s event(s) still undelivered: see their last error.")
                % {"count": failed},
                messages.WARNING,
            )
