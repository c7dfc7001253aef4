"""Admin for the notification engine: templates with a preview, every outbound message,
and the helpdesk's "Failed messages" list with retry and resend (both audited)."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from crm.admin_site import AuditedModelAdmin, ClientScopedAdminMixin, admin_site
from crm.models import FailedMessage, MessageTemplate, OutboundMessage
from crm.notifications.rendering import render_message, sample_context
from crm.notifications.services import MessageActionError, message_resend, message_retry

StrOrPromise = str | Promise


@admin.register(MessageTemplate, site=admin_site)
class MessageTemplateAdmin(AuditedModelAdmin):
    list_display = ["event", "channel", "language", "purpose", "is_active", "updated_at"]
    list_filter = ["event", "channel", "language", "purpose", "is_active"]
    search_fields = ["subject", "body"]
    readonly_fields = ["available_variables", "preview", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["event", "channel", "language", "purpose", "is_active"]}),
        (_("Content"), {"fields": ["subject", "body", "available_variables"]}),
        (_("Preview with sample data"), {"fields": ["preview"]}),
        (_("History"), {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description=_("variables"))
    def available_variables(self, obj: MessageTemplate | None) -> str:
        if obj is None or not obj.event:
            return str(_("Save the template once to see the variables its event provides."))
        sample = sample_context(obj.event)
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><code>{}</code>: {}</li>",
                (
                    (name, ", ".join(sorted(value)) if isinstance(value, dict) else "")
                    for name, value in sorted(sample.items())
                ),
            ),
        )

    @admin.display(description=_("preview"))
    def preview(self, obj: MessageTemplate | None) -> str:
        if obj is None or obj.pk is None:
            return str(_("Save (and continue editing) to see a preview."))
        try:
            rendered = render_message(
                subject=obj.subject, body=obj.body, context=sample_context(obj.event)
            )
        except Exception as error:
            return format_html("<strong>{}</strong> {}", _("Cannot render:"), error)
        return format_html(
            "<p><strong>{}</strong></p><pre>{}</pre><p>{}</p>",
            rendered.subject,
            rendered.body,
            _("%(length)s characters") % {"length": len(rendered.body)},
        )


def _customer_link(message: OutboundMessage) -> str:
    if message.customer_id is None:
        # Sent to an address, not to a customer (a sign-in code): show where it went.
        return format_html("{} <small>({})</small>", message.recipient, _("no customer"))
    url = reverse("admin:crm_customer_change", args=[message.customer_id])
    return format_html('<a href="{}">{}</a>', url, message.customer)


@admin.register(OutboundMessage, site=admin_site)
class OutboundMessageAdmin(ClientScopedAdminMixin, admin.ModelAdmin):
    """Every message, read-only: status changes come from sending and the providers."""

    # Staff tied to a client see messages to that client's customers only.
    client_scope_path = "customer"

    list_display = [
        "created_at",
        "customer_link",
        "event",
        "channel",
        "recipient",
        "status",
        "attempts",
        "sent_at",
        "delivered_at",
    ]
    list_filter = ["status", "channel", "event", "purpose", "language"]
    search_fields = [
        "recipient",
        "customer__phone",
        "customer__email",
        "customer__last_name",
        "provider_message_id",
        "idempotency_key",
    ]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["retry_messages", "resend_messages"]
    fieldsets = [
        (
            None,
            {"fields": ["customer_link", "event", "channel", "purpose", "language", "template"]},
        ),
        (_("Message"), {"fields": ["recipient", "subject", "body"]}),
        (
            _("Delivery"),
            {
                "fields": [
                    "status",
                    "suppressed_reason",
                    "attempts",
                    "last_error",
                    "provider_message_id",
                    "provider_status",
                    "send_after",
                    "send_before",
                    "created_at",
                    "sending_started_at",
                    "sent_at",
                    "delivered_at",
                    "failed_at",
                    "resent_from",
                    "idempotency_key",
                ]
            },
        ),
    ]

    @admin.display(description=_("customer"), ordering="customer__last_name")
    def customer_link(self, obj: OutboundMessage) -> str:
        return _customer_link(obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [
            name
            for _title, options in self.fieldsets
            for name in options["fields"]
            if isinstance(name, str)
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crm.retry_outboundmessage")

    @admin.action(description=_("Retry the selected failed messages"), permissions=["retry"])
    def retry_messages(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        self._apply(request, queryset, message_retry, _("%(count)s message(s) queued again."))

    @admin.action(description=_("Resend the selected messages"), permissions=["retry"])
    def resend_messages(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        self._apply(request, queryset, message_resend, _("%(count)s message(s) resent."))

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[OutboundMessage],
        action: Any,
        success_text: StrOrPromise,
    ) -> None:
        done = 0
        for message in queryset.order_by("pk"):
            try:
                action(message=message, actor=request.user)
            except MessageActionError as error:
                self.message_user(request, f"{message}: {error}", messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(request, success_text % {"count": done}, messages.SUCCESS)


@admin.register(FailedMessage, site=admin_site)
class FailedMessageAdmin(OutboundMessageAdmin):
    """The helpdesk's follow-up list: messages that could not be delivered."""

    list_display = [
        "failed_at",
        "customer_link",
        "event",
        "channel",
        "recipient",
        "attempts",
        "last_error",
    ]
    list_filter = ["channel", "event", "purpose"]
    date_hierarchy = "failed_at"
    ordering = ["-failed_at", "-id"]
