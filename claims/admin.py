"""The back office's view of claims: read-mostly for the helpdesk (no approve or reject here;
verification does that through the claim services), and the per-campaign claim requirements
for operators. Documents open only through an authorising, audited download view."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from claims.documents import document_response
from claims.models import Claim, ClaimDocument, ClaimRequirements, ClaimTransition, Shipment
from claims.selectors import claim_document_get_for_staff
from crm.admin_site import AuditedModelAdmin, ClientScopedAdminMixin, admin_site
from crm.audit import audit_record


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ClaimTransitionInline(ReadOnlyInline):
    model = ClaimTransition
    verbose_name_plural = _("Timeline")
    fields = ("occurred_at", "from_status", "to_status", "actor_label", "reason", "note")
    readonly_fields = fields
    ordering = ("occurred_at", "pk")


class ClaimDocumentInline(ReadOnlyInline):
    model = ClaimDocument
    fk_name = "claim"
    fields = (
        "kind",
        "download",
        "content_type",
        "size_bytes",
        "sha256",
        "uploaded_at",
        "superseded_at",
    )
    readonly_fields = fields
    ordering = ("kind", "uploaded_at", "pk")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("claims.view_claimdocument"))

    @admin.display(description=_("file"))
    def download(self, document: ClaimDocument) -> str:
        url = reverse("admin:claims_claim_document", args=[document.claim_id, document.pk])
        return format_html('<a href="{}">{}</a>', url, document.download_name)


class ShipmentInline(ReadOnlyInline):
    model = Shipment
    fields = (
        "carrier",
        "tracking_number",
        "tracking_url",
        "dispatched_at",
        "delivered_at",
        "returned_at",
    )
    readonly_fields = fields


@admin.register(Claim, site=admin_site)
class ClaimAdmin(ClientScopedAdminMixin, AuditedModelAdmin):
    client_scope_path = "scheme__client"
    list_display = (
        "number",
        "customer",
        "scheme",
        "prize",
        "status",
        "submitted_at",
        "deadline_at",
    )
    list_filter = ("status", "scheme", "prize__kind", "region")
    search_fields = (
        "number",
        "code__value",
        "customer__phone",
        "customer__email",
        "customer__last_name",
        "full_name",
        "postal_code",
    )
    list_select_related = ("customer", "scheme", "prize")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = (ClaimTransitionInline, ClaimDocumentInline, ShipmentInline)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "status",
                    "proposed_outcome",
                    "customer",
                    "scheme",
                    "prize",
                    "channel_partner",
                )
            },
        ),
        (_("What won"), {"fields": ("code", "draw_result")}),
        (
            _("Claim form"),
            {
                "fields": (
                    "full_name",
                    "address_line1",
                    "address_line2",
                    "postal_code",
                    "city",
                    "region",
                    "country",
                    "national_id",
                    "reference",
                )
            },
        ),
        (
            _("Dates"),
            {
                "fields": (
                    "created_at",
                    "submitted_at",
                    "status_changed_at",
                    "deadline_at",
                    "requested_document_kinds",
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Claim._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Claim]:
        return (
            super()
            .get_queryset(request)
            .select_related("customer", "scheme", "prize", "code", "channel_partner")
        )

    # Claims change only through the claim services (the portal and verification).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:claim_id>/documents/<int:document_id>/",
                self.admin_site.admin_view(self.document_view),
                name="claims_claim_document",
            ),
            *super().get_urls(),
        ]

    def document_view(
        self, request: HttpRequest, claim_id: int, document_id: int
    ) -> HttpResponseBase:
        """Serves one document to staff allowed to view claim documents; every view is
        recorded, an identity document under its own action."""
        document = claim_document_get_for_staff(user=request.user, document_id=document_id)
        if document is None or document.claim_id != claim_id:
            raise Http404
        if not self.get_queryset(request).filter(pk=claim_id).exists():
            raise Http404  # another client's claim
        audit_record(
            action="claim.identity_document_viewed"
            if document.is_identity_document
            else "claim.document_viewed",
            actor=request.user,
            target=document.claim,
            after={"document_id": document.pk, "kind": document.kind},
        )
        return document_response(
            storage_name=document.storage_name,
            content_type=document.content_type,
            download_name=document.download_name,
        )


@admin.register(ClaimRequirements, site=admin_site)
class ClaimRequirementsAdmin(AuditedModelAdmin):
    list_display = (
        "scheme",
        "delivery_address_required",
        "national_id_required",
        "reference_required",
        "invoice_required",
        "id_proof_required",
        "address_proof_required",
    )
    list_select_related = ("scheme",)
    search_fields = ("scheme__name", "scheme__code")
    autocomplete_fields = ()
    fieldsets = (
        (None, {"fields": ("scheme",)}),
        (
            _("The claim form asks for"),
            {
                "fields": (
                    "delivery_address_required",
                    "national_id_required",
                    "reference_required",
                    "reference_label",
                )
            },
        ),
        (
            _("Documents"),
            {
                "fields": (
                    "invoice_required",
                    "id_proof_required",
                    "address_proof_required",
                    "max_upload_bytes",
                    "resubmission_days",
                )
            },
        ),
    )
