"""The back office for the rewards app.

Ledger rows (journals, entries, lots, accounts) and customer events are read-only here:
money moves only through rewards.services. Participants are terminated and offers activated
through their services too (maker-checker for activation).
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
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from crm.admin_site import AuditedModelAdmin, ClientScopedAdminMixin, admin_site
from crm.models import AuditEvent
from rewards.models import (
    Account,
    ApiKey,
    AwardLot,
    CustomerEvent,
    Entry,
    Journal,
    Merchant,
    MerchantGroup,
    Offer,
    OfferActivation,
    OfferCategory,
    OfferTemplate,
    OfferType,
    Participant,
    ParticipantIdentifier,
    Prize,
    Product,
    ProductCategory,
    Scheme,
    SchemeMerchant,
)
from rewards.selectors import wallet_summary
from rewards.services.api_keys import api_key_revoke
from rewards.services.errors import RewardsError
from rewards.services.offers import (
    offer_activation_decide,
    offer_activation_propose,
    offer_deactivate,
)
from rewards.services.participants import participant_identifier_add, participant_terminate


class ReadOnlyAdminMixin:
    """No add, change or delete: the rows are written by services only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    show_change_link = True


# ---------------------------------------------------------------------------- catalog


class PrizeInline(admin.TabularInline):
    model = Prize
    extra = 0
    fields = ["name", "kind", "value_minor", "quantity_total", "quantity_awarded"]
    readonly_fields = ["quantity_awarded"]


class SchemeMerchantInline(admin.TabularInline):
    model = SchemeMerchant
    extra = 0
    autocomplete_fields = ["merchant"]
    readonly_fields = ["joined_at"]


@admin.register(Scheme, site=admin_site)
class SchemeAdmin(AuditedModelAdmin):
    list_display = ["name", "code", "kind", "client", "return_policy", "starts_at", "ends_at"]
    list_filter = ["kind", "client", "return_policy"]
    search_fields = ["name", "code"]
    list_select_related = ["client"]
    inlines = [SchemeMerchantInline, PrizeInline]


@admin.register(Prize, site=admin_site)
class PrizeAdmin(AuditedModelAdmin):
    list_display = ["name", "scheme", "kind", "value_minor", "quantity_total", "quantity_awarded"]
    list_filter = ["kind", "scheme"]
    search_fields = ["name", "scheme__name"]
    readonly_fields = ["quantity_awarded"]
    list_select_related = ["scheme"]


@admin.register(MerchantGroup, site=admin_site)
class MerchantGroupAdmin(AuditedModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


class ApiKeyInline(ReadOnlyInline):
    model = ApiKey
    fields = ["prefix", "name", "created_at", "revoked_at"]
    readonly_fields = tuple(fields)


@admin.register(Merchant, site=admin_site)
class MerchantAdmin(AuditedModelAdmin):
    list_display = ["name", "code", "area", "is_active"]
    list_filter = ["is_active", "groups"]
    search_fields = ["name", "code"]
    filter_horizontal = ["groups"]
    inlines = [ApiKeyInline]


@admin.register(ProductCategory, site=admin_site)
class ProductCategoryAdmin(AuditedModelAdmin):
    list_display = ["name", "code", "client", "parent"]
    list_filter = ["client"]
    search_fields = ["name", "code"]
    list_select_related = ["client", "parent"]


@admin.register(Product, site=admin_site)
class ProductAdmin(AuditedModelAdmin):
    list_display = ["name", "code", "client", "is_active"]
    list_filter = ["client", "is_active", "categories"]
    search_fields = ["name", "code"]
    filter_horizontal = ["categories"]
    list_select_related = ["client"]


@admin.register(ApiKey, site=admin_site)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created with ``manage.py create_api_key`` (the key is shown once there);
    here they are listed and revoked."""

    list_display = ["prefix", "merchant", "name", "created_at", "revoked_at"]
    list_filter = ["merchant"]
    search_fields = ["prefix", "name", "merchant__code"]
    readonly_fields = ["merchant", "name", "prefix", "created_at", "revoked_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key, actor=request.user)
        self.message_user(request, _("Revoked."), messages.SUCCESS)


# ---------------------------------------------------------------------------- ledger


class EntryInline(ReadOnlyInline):
    model = Entry
    fields = ["account", "lot", "amount_minor", "posted_at"]
    readonly_fields = tuple(fields)
    show_change_link = False


@admin.register(Journal, site=admin_site)
class JournalAdmin(ClientScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Transactions: awards, spends, expirations, clawbacks, transfers and reversals."""

    client_scope_path = "scheme__client"

    list_display = ["id", "kind", "posted_at", "participant", "merchant", "event", "memo"]
    list_filter = ["kind", "scheme"]
    search_fields = [
        "=id",
        "idempotency_key",
        "=participant__id",
        "participant__customer__phone",
        "participant__customer__email",
        "event__external_id",
        "memo",
    ]
    date_hierarchy = "posted_at"
    list_select_related = ["participant__customer", "participant__scheme", "merchant", "event"]
    show_full_result_count = False
    inlines = [EntryInline]
    readonly_fields = [
        "scheme",
        "kind",
        "idempotency_key",
        "participant",
        "merchant",
        "event",
        "reverses",
        "actor",
        "memo",
        "result",
        "posted_at",
    ]
    exclude = ["request_hash"]


@admin.register(AwardLot, site=admin_site)
class AwardLotAdmin(ClientScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    client_scope_path = "account__scheme__client"
    list_display = [
        "id",
        "account",
        "offer",
        "amount_minor",
        "consumed_minor",
        "expired_minor",
        "reversed_minor",
        "available_from",
        "expires_at",
    ]
    list_filter = ["spend_method"]
    search_fields = ["=id", "=account__participant__id", "account__participant__customer__phone"]
    list_select_related = ["offer", "account"]
    show_full_result_count = False


@admin.register(Account, site=admin_site)
class AccountAdmin(ClientScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    client_scope_path = "scheme__client"
    list_display = ["id", "kind", "scheme", "participant", "merchant", "balance_minor"]
    list_filter = ["kind", "scheme"]
    search_fields = ["=id", "=participant__id"]
    list_select_related = ["scheme", "participant__customer", "participant__scheme", "merchant"]
    show_full_result_count = False


@admin.register(CustomerEvent, site=admin_site)
class CustomerEventAdmin(ClientScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    client_scope_path = "scheme__client"
    list_display = [
        "id",
        "type",
        "source",
        "external_id",
        "participant",
        "merchant",
        "occurred_at",
        "total_minor",
        "status",
    ]
    list_filter = ["type", "status", "scheme"]
    search_fields = ["=id", "external_id", "=participant__id", "participant__customer__phone"]
    date_hierarchy = "occurred_at"
    list_select_related = ["participant__customer", "participant__scheme", "merchant"]
    show_full_result_count = False
    exclude = ["payload_hash"]


# ---------------------------------------------------------------------------- participants


class WalletJournalInline(ReadOnlyInline):
    model = Journal
    fk_name = "participant"
    fields = ["kind", "posted_at", "merchant", "event", "memo"]
    readonly_fields = tuple(fields)
    ordering = ["-pk"]
    verbose_name_plural = _("transactions")


class IdentifierInline(ReadOnlyInline):
    model = ParticipantIdentifier
    fields = ["kind", "value", "created_at"]
    readonly_fields = tuple(fields)
    show_change_link = False
    verbose_name_plural = _("identifiers (cards, app ids)")


class TerminateForm(forms.Form):
    reason = forms.ChoiceField(label=_("reason"), choices=Participant.TerminationReason.choices)
    replaced_by = forms.IntegerField(
        label=_("replaced by"),
        required=False,
        help_text=_("For a duplicate: the id of the participant that stays."),
    )
    transfer_balance = forms.BooleanField(
        label=_("transfer the balance"),
        required=False,
        help_text=_("For a duplicate: move what is left to the survivor."),
    )
    transfer_identifiers = forms.BooleanField(
        label=_("transfer the identifiers"),
        required=False,
        help_text=_("For a duplicate: its cards and app ids will name the survivor."),
    )


class IdentifierAddForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=ParticipantIdentifier.Kind.choices)
    value = forms.CharField(
        label=_("value"), max_length=100, help_text=_("The card number or id, as scanned.")
    )


@admin.register(Participant, site=admin_site)
class ParticipantAdmin(ClientScopedAdminMixin, AuditedModelAdmin):
    """A participant with wallet, lots and history; terminating goes through the service."""

    client_scope_path = "scheme__client"

    list_display = ["id", "customer", "scheme", "status", "signed_up_at", "balance"]
    list_filter = ["status", "scheme", "termination_reason"]
    search_fields = [
        "=id",
        "customer__phone",
        "customer__email",
        "customer__last_name",
        "reference_code",
    ]
    list_select_related = ["customer", "scheme", "wallet"]
    autocomplete_fields = ["customer"]
    readonly_fields = [
        "status",
        "signed_up_at",
        "sign_up_merchant",
        "referred_by",
        "purchase_count",
        "terminated_at",
        "termination_reason",
        "replaced_by",
        "wallet_summary",
        "open_lots",
        "history",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "scheme",
                    "customer",
                    "status",
                    "reference_code",
                    "wallet_summary",
                    "open_lots",
                ]
            },
        ),
        (
            _("Profile"),
            {
                "fields": [
                    "time_zone",
                    "birth_date",
                    "name_day_month",
                    "name_day_day",
                    "segments",
                    "allows_automatic_spend",
                ]
            },
        ),
        (
            _("Sign-up and termination"),
            {
                "fields": [
                    "signed_up_at",
                    "sign_up_merchant",
                    "referred_by",
                    "purchase_count",
                    "terminated_at",
                    "termination_reason",
                    "replaced_by",
                    "history",
                ]
            },
        ),
    ]

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        return [IdentifierInline, WalletJournalInline] if obj is not None else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Joining opens a wallet and raises the sign-up event: the API or the portal do it.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "scheme", "customer"] if obj is not None else fields

    @admin.display(description=_("balance"))
    def balance(self, participant: Participant) -> int | None:
        wallet = getattr(participant, "wallet", None)
        return wallet.balance_minor if wallet is not None else None

    @admin.display(description=_("wallet"))
    def wallet_summary(self, participant: Participant) -> str:
        if participant.pk is None:
            return "-"
        summary = wallet_summary(participant=participant)
        journals_url = reverse("admin:rewards_journal_changelist") + f"?q={participant.pk}"
        return format_html(
            '{} balance, {} pending, {} available now &middot; <a href="{}">{}</a>',
            summary.balance_minor,
            summary.pending_minor,
            summary.available_minor,
            journals_url,
            _("all transactions"),
        )

    @admin.display(description=_("open lots"))
    def open_lots(self, participant: Participant) -> str:
        if participant.pk is None:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    lot.offer or "-",
                    lot.amount_minor,
                    lot.remaining_minor,
                    lot.available_from,
                    lot.expires_at or "-",
                )
                for lot in wallet_summary(participant=participant).lots
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            _("offer"),
            _("amount"),
            _("remaining"),
            _("available from"),
            _("expires at"),
            rows,
        )

    @admin.display(description=_("history"))
    def history(self, participant: Participant) -> str:
        if participant.pk is None:
            return "-"
        url = reverse("admin:crm_auditevent_changelist") + (
            f"?object_type=rewards.participant&q={participant.pk}"
        )
        count = AuditEvent.objects.filter(
            object_type="rewards.participant", object_id=str(participant.pk)
        ).count()
        return format_html('<a href="{}">{} audit events</a>', url, count)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:object_id>/terminate/",
                self.admin_site.admin_view(self.terminate_view),
                name="rewards_participant_terminate",
            ),
            path(
                "<int:object_id>/identifiers/add/",
                self.admin_site.admin_view(self.identifier_add_view),
                name="rewards_participant_identifier_add",
            ),
            *super().get_urls(),
        ]

    def terminate_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("rewards.terminate_participant"):
            raise PermissionDenied
        participant = get_object_or_404(self.get_queryset(request), pk=object_id)
        form = TerminateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            replaced_by = None
            if form.cleaned_data["replaced_by"]:
                # Looked up in the staff member's own rows, like the participant itself.
                replaced_by = (
                    self.get_queryset(request).filter(pk=form.cleaned_data["replaced_by"]).first()
                )
                if replaced_by is None:
                    form.add_error("replaced_by", _("No such participant."))
            if not form.errors:
                try:
                    participant_terminate(
                        participant=participant,
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                        replaced_by=replaced_by,
                        transfer_balance=form.cleaned_data["transfer_balance"],
                        transfer_identifiers=form.cleaned_data["transfer_identifiers"],
                    )
                except RewardsError as error:
                    form.add_error(None, error.message)
                else:
                    self.message_user(request, _("Participant terminated."), messages.SUCCESS)
                    return HttpResponseRedirect(
                        reverse("admin:rewards_participant_change", args=[participant.pk])
                    )
        title = _("Terminate %(participant)s") % {"participant": participant}
        return self._action_page(request, participant, form, title, _("Terminate"))

    def identifier_add_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("rewards.add_participantidentifier"):
            raise PermissionDenied
        participant = get_object_or_404(self.get_queryset(request), pk=object_id)
        form = IdentifierAddForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                participant_identifier_add(
                    participant=participant,
                    kind=form.cleaned_data["kind"],
                    value=form.cleaned_data["value"],
                    actor=request.user,
                )
            except RewardsError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, _("Identifier added."), messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:rewards_participant_change", args=[participant.pk])
                )
        title = _("Add an identifier to %(participant)s") % {"participant": participant}
        return self._action_page(request, participant, form, title, _("Add identifier"))

    def _action_page(
        self, request: HttpRequest, participant: Participant, form: Any, title: str, action: str
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "action": action,
            "participant": participant,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rewards/participant/action.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        if request.user.has_perm("rewards.terminate_participant"):
            extra_context["terminate_url"] = reverse(
                "admin:rewards_participant_terminate", args=[object_id]
            )
        if request.user.has_perm("rewards.add_participantidentifier"):
            extra_context["identifier_add_url"] = reverse(
                "admin:rewards_participant_identifier_add", args=[object_id]
            )
        return super().change_view(request, object_id, form_url, extra_context)


# ---------------------------------------------------------------------------- offers


@admin.register(OfferType, site=admin_site)
class OfferTypeAdmin(AuditedModelAdmin):
    list_display = ["name", "code", "classification"]
    list_filter = ["classification"]
    search_fields = ["name", "code"]


@admin.register(OfferCategory, site=admin_site)
class OfferCategoryAdmin(AuditedModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(OfferTemplate, site=admin_site)
class OfferTemplateAdmin(AuditedModelAdmin):
    list_display = ["name", "classification", "offer_type", "category"]
    list_filter = ["classification"]
    search_fields = ["name"]


class OfferActivationInline(ReadOnlyInline):
    model = OfferActivation
    fields = ["proposed_by", "proposed_at", "decision", "decided_by", "decided_at"]
    readonly_fields = tuple(fields)


@admin.register(Offer, site=admin_site)
class OfferAdmin(AuditedModelAdmin):
    """Offers are edited while draft or not effective; activation is proposed by one person
    and approved by another (OfferActivation)."""

    list_display = [
        "name",
        "code",
        "scheme",
        "classification",
        "status",
        "budget_total_minor",
        "budget_used_minor",
        "latest_effective_at",
    ]
    list_filter = ["status", "classification", "scheme", "offer_type", "category"]
    search_fields = ["name", "code"]
    list_select_related = ["scheme", "offer_type", "category"]
    readonly_fields = ["status", "budget_used_minor", "latest_effective_at", "created_by"]
    inlines = [OfferActivationInline]
    actions = ["propose_activation", "deactivate"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status == Offer.Status.EFFECTIVE:
            # An effective offer's terms are what participants were promised: stop it first.
            fields += ["scheme", "code", "classification", "rules", "budget_total_minor"]
        return fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Offer, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
            if obj.template is not None and not obj.rules:
                obj.rules = dict(obj.template.rules)
        super().save_model(request, obj, form, change)

    @admin.action(
        description=_("Propose activation (another person approves)"),
        permissions=["propose_activation"],
    )
    def propose_activation(self, request: HttpRequest, queryset: QuerySet[Offer]) -> None:
        for offer in queryset:
            try:
                offer_activation_propose(offer=offer, actor=request.user)
            except RewardsError as error:
                self.message_user(request, f"{offer}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{offer}: activation proposed.", messages.SUCCESS)

    @admin.action(description=_("Make not effective"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Offer]) -> None:
        for offer in queryset:
            try:
                offer_deactivate(offer=offer, actor=request.user)
            except RewardsError as error:
                self.message_user(request, f"{offer}: {error.message}", messages.ERROR)

    def has_propose_activation_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.propose_offer_activation")


@admin.register(OfferActivation, site=admin_site)
class OfferActivationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The checker's queue: approve or reject activations proposed by someone else."""

    list_display = ["offer", "proposed_by", "proposed_at", "decision", "decided_by", "decided_at"]
    list_filter = ["decision"]
    list_select_related = ["offer", "proposed_by", "decided_by"]
    actions = ["approve", "reject"]

    def _decide(
        self, request: HttpRequest, queryset: QuerySet[OfferActivation], approve: bool
    ) -> None:
        for activation in queryset:
            try:
                offer_activation_decide(activation=activation, actor=request.user, approve=approve)
            except RewardsError as error:
                self.message_user(request, f"{activation.offer}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{activation.offer}: decided.", messages.SUCCESS)

    @admin.action(description=_("Approve (offer becomes effective)"), permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[OfferActivation]) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description=_("Reject"), permissions=["approve"])
    def reject(self, request: HttpRequest, queryset: QuerySet[OfferActivation]) -> None:
        self._decide(request, queryset, approve=False)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.approve_offer_activation")


import rewards.admin_runs  # noqa: E402, F401  (runs, settlement, offer simulation)
from rewards import admin_codes  # noqa: E402, F401  (codes and draws, registered on import)
