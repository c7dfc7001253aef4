from django.contrib import admin

from crm.admin_site import AuditedModelAdmin, admin_site
from rewards.models import Prize, Scheme


class PrizeInline(admin.TabularInline):
    model = Prize
    extra = 0
    fields = ["name", "kind", "value_minor", "quantity_total", "quantity_awarded"]
    readonly_fields = ["quantity_awarded"]


@admin.register(Scheme, site=admin_site)
class SchemeAdmin(AuditedModelAdmin):
    list_display = ["name", "code", "kind", "client", "starts_at", "ends_at"]
    list_filter = ["kind", "client"]
    search_fields = ["name", "code"]
    list_select_related = ["client"]
    inlines = [PrizeInline]


@admin.register(Prize, site=admin_site)
class PrizeAdmin(AuditedModelAdmin):
    list_display = ["name", "scheme", "kind", "value_minor", "quantity_total", "quantity_awarded"]
    list_filter = ["kind", "scheme"]
    search_fields = ["name", "scheme__name"]
    readonly_fields = ["quantity_awarded"]
    list_select_related = ["scheme"]
