"""Staff roles (DESIGN.md's table) as Django groups, and the permissions each holds.

The groups are brought in line with ROLE_PERMISSIONS after every migrate, so a later issue
adds a permission here and the next deploy grants it. Only helpdesk and operator work in the
admin (``is_staff``); the others use the review queue and the dashboards.
"""

from typing import Any

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _


class Role(TextChoices):
    HELPDESK = "helpdesk", _("Helpdesk")
    VERIFIER = "verifier", _("Verifier (maker)")
    CHECKER = "checker", _("Checker")
    CLIENT_MANAGER = "client_manager", _("Client manager")
    CHANNEL_PARTNER = "channel_partner", _("Channel partner")
    OPERATOR = "operator", _("Operator")


ADMIN_ROLES = frozenset({Role.HELPDESK, Role.OPERATOR})

_VIEW_CAMPAIGNS = ["rewards.view_scheme", "rewards.view_prize", "crm.view_client"]
# Claims (docs/CLAIMS.md): reading a claim, its timeline, documents and shipments.
_VIEW_CLAIMS = [
    "claims.view_claim",
    "claims.view_claimtransition",
    "claims.view_claimdocument",
    "claims.view_shipment",
    "claims.view_claimrequirements",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.HELPDESK: [
        *_VIEW_CAMPAIGNS,
        "rewards.view_codebatch",
        "rewards.view_code",
        "rewards.view_draw",
        "rewards.view_drawentry",
        "rewards.view_drawresult",
        "crm.view_channelpartner",
        "crm.view_customer",
        "crm.change_customer",
        "crm.view_auditevent",
        "crm.view_messagetemplate",
        "crm.view_outboundmessage",
        "crm.view_failedmessage",
        "crm.retry_outboundmessage",
        # The customer 360: notes are added, never changed or deleted; merges are seen.
        "crm.view_helpdesknote",
        "crm.add_helpdesknote",
        "crm.view_customermerge",
        # Rewards: everything about a participant's wallet, read only (never change balances).
        "rewards.view_participant",
        # A replacement loyalty card is helpdesk work; identifiers never touch a balance.
        "rewards.view_participantidentifier",
        "rewards.add_participantidentifier",
        "rewards.view_account",
        "rewards.view_journal",
        "rewards.view_entry",
        "rewards.view_awardlot",
        "rewards.view_customerevent",
        "rewards.view_offer",
        "rewards.view_merchant",
        # Claims: read everything, and move the stages after verification (release,
        # dispatch, deliver); never approve or reject.
        *_VIEW_CLAIMS,
        "claims.fulfil_claim",
    ],
    Role.VERIFIER: [
        *_VIEW_CAMPAIGNS,
        "crm.view_customer",
        *_VIEW_CLAIMS,
        "claims.review_claim",
        # Verification (docs/VERIFICATION.md): the queue's metrics.
        "verification.view_queue_metrics",
    ],
    Role.CHECKER: [
        *_VIEW_CAMPAIGNS,
        "crm.view_customer",
        "crm.view_auditevent",
        *_VIEW_CLAIMS,
        "claims.check_claim",
        # Verification: the queue's metrics, the audit trail search and its chain check.
        "verification.view_queue_metrics",
        "verification.search_audit_trail",
    ],
    Role.CLIENT_MANAGER: [
        *_VIEW_CAMPAIGNS,
        "crm.view_channelpartner",
        # Dashboards (docs/DASHBOARDS.md): their client's schemes only (dashboards.scoping).
        "dashboards.view_dashboard",
        "dashboards.view_loyalty_board",
        "dashboards.export_report",
    ],
    # A partner sees only its own rows; the loyalty board has no partner dimension.
    Role.CHANNEL_PARTNER: [
        *_VIEW_CAMPAIGNS,
        "dashboards.view_dashboard",
        "dashboards.export_report",
    ],
    Role.OPERATOR: [
        # Codes and draws for instant-win and lucky-draw campaigns.
        "rewards.view_codebatch",
        "rewards.add_codebatch",
        "rewards.view_code",
        "rewards.view_draw",
        "rewards.add_draw",
        "rewards.view_drawentry",
        "rewards.view_drawresult",
        # Runs (evaluation, expiration, settlement) and the settlement statements.
        "rewards.view_run",
        "rewards.add_run",
        "rewards.change_run",
        "rewards.view_settlementperiod",
        "rewards.view_settlementline",
        "crm.view_client",
        "crm.add_client",
        "crm.change_client",
        "crm.view_channelpartner",
        "crm.add_channelpartner",
        "crm.change_channelpartner",
        "crm.view_customer",
        "crm.change_customer",
        "crm.view_staffprofile",
        "crm.add_staffprofile",
        "crm.change_staffprofile",
        "crm.view_auditevent",
        "crm.view_messagetemplate",
        "crm.add_messagetemplate",
        "crm.change_messagetemplate",
        "crm.view_outboundmessage",
        "crm.view_failedmessage",
        "crm.view_helpdesknote",
        "crm.add_helpdesknote",
        "crm.export_customer",
        "crm.view_customerimport",
        "crm.add_customerimport",
        "crm.view_customermerge",
        "crm.add_customermerge",
        "crm.approve_customermerge",
        "rewards.view_scheme",
        "rewards.add_scheme",
        "rewards.change_scheme",
        "rewards.view_prize",
        "rewards.add_prize",
        "rewards.change_prize",
        "rewards.view_merchantgroup",
        "rewards.add_merchantgroup",
        "rewards.change_merchantgroup",
        "rewards.view_merchant",
        "rewards.add_merchant",
        "rewards.change_merchant",
        "rewards.view_schememerchant",
        "rewards.add_schememerchant",
        "rewards.change_schememerchant",
        "rewards.view_productcategory",
        "rewards.add_productcategory",
        "rewards.change_productcategory",
        "rewards.view_product",
        "rewards.add_product",
        "rewards.change_product",
        "rewards.view_apikey",
        "rewards.change_apikey",
        "rewards.view_offertype",
        "rewards.add_offertype",
        "rewards.change_offertype",
        "rewards.view_offercategory",
        "rewards.add_offercategory",
        "rewards.change_offercategory",
        "rewards.view_offertemplate",
        "rewards.add_offertemplate",
        "rewards.change_offertemplate",
        "rewards.view_offer",
        "rewards.add_offer",
        "rewards.change_offer",
        "rewards.propose_offer_activation",
        "rewards.approve_offer_activation",
        "rewards.view_offeractivation",
        "rewards.view_participant",
        "rewards.change_participant",
        "rewards.terminate_participant",
        "rewards.view_participantidentifier",
        "rewards.add_participantidentifier",
        "rewards.view_account",
        "rewards.view_journal",
        "rewards.view_entry",
        "rewards.view_awardlot",
        "rewards.view_customerevent",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        # The outbox of domain events: see what failed to be delivered, try it again.
        "crm.view_domainevent",
        "crm.retry_domainevent",
        # Claims: configure what each campaign asks of its winners; read the claims.
        "claims.view_claimrequirements",
        "claims.add_claimrequirements",
        "claims.change_claimrequirements",
        "claims.view_claim",
        "claims.view_claimtransition",
        "claims.view_shipment",
        # Verification: review and fulfilment configuration, the audit trail, the metrics.
        "verification.view_campaignreviewsettings",
        "verification.add_campaignreviewsettings",
        "verification.change_campaignreviewsettings",
        "verification.view_checklistitem",
        "verification.add_checklistitem",
        "verification.change_checklistitem",
        "verification.delete_checklistitem",
        "verification.view_rejectionreason",
        "verification.add_rejectionreason",
        "verification.change_rejectionreason",
        "verification.view_proposal",
        "verification.view_checkerdecision",
        "verification.search_audit_trail",
        "verification.view_queue_metrics",
        # Dashboards: the operator board over every client.
        "dashboards.view_dashboard",
        "dashboards.view_loyalty_board",
        "dashboards.export_report",
    ],
}


def sync_role_groups() -> None:
    """Creates one group per role holding exactly the permissions in ROLE_PERMISSIONS."""
    for role, names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        permissions = []
        for name in names:
            app_label, codename = name.split(".")
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)


def sync_role_groups_after_migrate(*, using: str, **kwargs: Any) -> None:
    # auth creates each app's permissions on that app's own post_migrate turn, which may come
    # after ours: create them all first (it is idempotent), then align the groups.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    sync_role_groups()


def user_roles(user: Any) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(user.groups.values_list("name", flat=True)) & set(Role.values)
