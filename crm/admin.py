from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.admin_site import AuditedModelAdmin, admin_site
from crm.models import AuditEvent, ChannelPartner, Client, StaffProfile


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
    list_select_related = ["user", "client", "channel_partner"]
    autocomplete_fields = ["user"]


@admin.register(AuditEvent, site=admin_site)
class AuditEventAdmin(admin.ModelAdmin):
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
