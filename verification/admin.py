"""Verification in the admin: configuration (campaign review settings with their checklist,
rejection reasons) for operators, and read-only proposals and decisions. The one decision
path here, the "Confirm selected proposals" action, goes through ``proposal_decide`` like
every other path, so the maker-checker rule holds."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from claims.models import Claim
from crm.admin_site import AuditedModelAdmin, ClientScopedAdminMixin, admin_site
from verification.errors import VerificationError
from verification.models import (
    CampaignReviewSettings,
    CheckerDecision,
    ChecklistItem,
    Proposal,
    RejectionReason,
)
from verification.services import proposal_decide


class ChecklistItemInline(admin.TabularInline):
    model = ChecklistItem
    extra = 1
    fields = ("document_kind", "text", "position", "is_active")


@admin.register(CampaignReviewSettings, site=admin_site)
class CampaignReviewSettingsAdmin(AuditedModelAdmin):
    list_display = ("scheme", "sla_hours", "channel_partner", "wallet_scheme")
    # ChannelPartner.__str__ names its client.
    list_select_related = ("scheme", "channel_partner__client", "wallet_scheme")
    search_fields = ("scheme__name", "scheme__code")
    inlines = (ChecklistItemInline,)
    fieldsets = (
        (None, {"fields": ("scheme", "sla_hours", "channel_partner")}),
        (_("Fulfilment"), {"fields": ("wallet_scheme",)}),
        (_("Fraud signals"), {"fields": ("velocity_window_minutes", "velocity_threshold")}),
    )


@admin.register(RejectionReason, site=admin_site)
class RejectionReasonAdmin(AuditedModelAdmin):
    list_display = ("code", "text", "position", "is_active")
    list_editable = ("position", "is_active")
    search_fields = ("code", "text")


class ReadOnlyAdmin(AuditedModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Proposal, site=admin_site)
class ProposalAdmin(ClientScopedAdminMixin, ReadOnlyAdmin):
    client_scope_path = "claim__scheme__client"
    list_display = ("claim", "outcome", "maker", "status", "created_at")
    list_filter = ("status", "outcome")
    list_select_related = ("claim", "maker")
    search_fields = ("claim__number", "maker__username")
    actions = ("confirm_selected",)

    @admin.action(description=_("Confirm selected proposals (checkers; signals acknowledged)"))
    def confirm_selected(self, request: HttpRequest, queryset: QuerySet[Proposal]) -> None:
        claims = Claim.objects.filter(pk__in=queryset.values("claim_id")).order_by("pk")
        for claim in claims:
            try:
                proposal_decide(
                    claim=claim,
                    actor=request.user,
                    decision=CheckerDecision.Decision.CONFIRM,
                    acknowledge_signals=True,
                    path="admin",
                )
            except VerificationError as error:
                self.message_user(request, f"{claim.number}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"{claim.number}: confirmed.", messages.SUCCESS)


@admin.register(CheckerDecision, site=admin_site)
class CheckerDecisionAdmin(ClientScopedAdminMixin, ReadOnlyAdmin):
    client_scope_path = "claim__scheme__client"
    list_display = ("claim", "decision", "result", "maker", "checker", "path", "decided_at")
    list_filter = ("decision", "result", "path")
    list_select_related = ("claim", "maker", "checker")
    search_fields = ("claim__number", "maker__username", "checker__username")
