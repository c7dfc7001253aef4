"""Each role reaches in the back office exactly what DESIGN.md's table gives it."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from crm.models import AuditEvent, Client, Customer
from crm.roles import ROLE_PERMISSIONS, Role
from rewards.models import Scheme
from tests.crm.admin_forms import submit_admin_form
from tests.crm.factories import ClientFactory, CustomerFactory, staff_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("otp_required")]

# Admin pages, by name, that a signed-in (and second-factor verified) user of each role opens.
# Every other page in _admin_pages() is refused: 403 for the two admin roles, and a redirect
# to the staff sign-in for the roles that do not work in the admin at all.
ALLOWED_PAGES = {
    Role.HELPDESK: {
        "index",
        "client list",
        "client view",
        "channel partner list",
        "customer list",
        "customer change",
        "audit trail",
        "scheme list",
        "prize list",
    },
    Role.OPERATOR: {
        "index",
        "client list",
        "client view",
        "client add",
        "channel partner list",
        "customer list",
        "customer change",
        "staff profile list",
        "audit trail",
        "scheme list",
        "scheme add",
        "prize list",
        "prize add",
        "periodic task list",
    },
    Role.VERIFIER: set(),
    Role.CHECKER: set(),
    Role.CLIENT_MANAGER: set(),
    Role.CHANNEL_PARTNER: set(),
}


def _admin_pages(customer: Customer, client: Client) -> dict[str, str]:
    return {
        "index": reverse("admin:index"),
        "client list": reverse("admin:crm_client_changelist"),
        "client view": reverse("admin:crm_client_change", args=[client.pk]),
        "client add": reverse("admin:crm_client_add"),
        "client delete": reverse("admin:crm_client_delete", args=[client.pk]),
        "channel partner list": reverse("admin:crm_channelpartner_changelist"),
        "customer list": reverse("admin:crm_customer_changelist"),
        "customer change": reverse("admin:crm_customer_change", args=[customer.pk]),
        "customer add": reverse("admin:crm_customer_add"),
        "customer delete": reverse("admin:crm_customer_delete", args=[customer.pk]),
        "staff profile list": reverse("admin:crm_staffprofile_changelist"),
        "audit trail": reverse("admin:crm_auditevent_changelist"),
        "audit event add": reverse("admin:crm_auditevent_add"),
        "scheme list": reverse("admin:rewards_scheme_changelist"),
        "scheme add": reverse("admin:rewards_scheme_add"),
        "prize list": reverse("admin:rewards_prize_changelist"),
        "prize add": reverse("admin:rewards_prize_add"),
        "user list": reverse("admin:auth_user_changelist"),
        "group list": reverse("admin:auth_group_changelist"),
        "totp device list": reverse("admin:otp_totp_totpdevice_changelist"),
        "periodic task list": reverse("admin:django_celery_beat_periodictask_changelist"),
    }


def _outcome(response) -> str:
    if response.redirect_chain:
        signed_out = response.request["PATH_INFO"] == reverse("staff-login")
        return "sign-in" if signed_out else f"redirect to {response.request['PATH_INFO']}"
    return {200: "open", 403: "forbidden", 404: "not found"}.get(
        response.status_code, str(response.status_code)
    )


def _role_group_permissions(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


@pytest.mark.parametrize("role", list(Role))
def test_each_role_opens_exactly_its_admin_pages(role, client, sign_in_verified):
    # Given a signed-in, verified user of the role, a client and a customer
    user = staff_user(role)
    sign_in_verified(user)
    pages = _admin_pages(CustomerFactory(), ClientFactory())

    # When the user opens every admin page
    outcomes = {name: _outcome(client.get(url, follow=True)) for name, url in pages.items()}

    # Then exactly the allowed ones open; the rest are refused the role's way
    refused = "forbidden" if user.is_staff else "sign-in"
    assert outcomes == {name: "open" if name in ALLOWED_PAGES[role] else refused for name in pages}


@pytest.mark.parametrize("role", list(Role))
def test_only_helpdesk_and_operator_are_staff(role):
    assert staff_user(role).is_staff is (role in {Role.HELPDESK, Role.OPERATOR})


def test_an_unknown_admin_page_is_not_found_for_staff(client, sign_in_verified):
    sign_in_verified(staff_user(Role.HELPDESK))

    response = client.get("/admin/crm/no-such-model/")

    assert response.status_code == 404


def test_operator_adds_a_scheme_through_the_admin(client, sign_in_verified):
    # Given a verified operator and a client
    operator = staff_user(Role.OPERATOR)
    sign_in_verified(operator)
    client_org = ClientFactory()

    # When the operator fills in the add-scheme form
    response = submit_admin_form(
        client,
        reverse("admin:rewards_scheme_add"),
        {
            "client": client_org.pk,
            "name": "Summer scratch cards",
            "code": "summer-scratch",
            "kind": Scheme.Kind.INSTANT_WIN,
            "starts_at_0": "2026-06-01",
            "starts_at_1": "09:00:00",
        },
    )

    # Then the scheme exists and its creation is on the audit trail
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("admin:rewards_scheme_changelist")
    scheme = Scheme.objects.get(code="summer-scratch")
    assert (scheme.client, scheme.name, scheme.kind) == (
        client_org,
        "Summer scratch cards",
        Scheme.Kind.INSTANT_WIN,
    )
    event = AuditEvent.objects.get(action="admin.add", object_type="rewards.scheme")
    assert (event.actor, event.object_id) == (operator, str(scheme.pk))


def test_helpdesk_changes_a_customer(client, sign_in_verified):
    sign_in_verified(staff_user(Role.HELPDESK))
    customer = CustomerFactory(first_name="Ada", last_name="Lovelace")

    response = submit_admin_form(
        client, reverse("admin:crm_customer_change", args=[customer.pk]), {"first_name": "Augusta"}
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.first_name, customer.last_name) == ("Augusta", "Lovelace")


def test_helpdesk_cannot_add_a_scheme_or_a_client(client, sign_in_verified):
    # Given a verified helpdesk user and a client
    sign_in_verified(staff_user(Role.HELPDESK))
    client_org = ClientFactory(code="acme")
    events_before = AuditEvent.objects.count()

    # When they post the add forms directly
    scheme_response = client.post(
        reverse("admin:rewards_scheme_add"),
        {
            "client": client_org.pk,
            "name": "Sneaky",
            "code": "sneaky",
            "kind": Scheme.Kind.LUCKY_DRAW,
            "unit": Scheme.Unit.POINTS,
            "starts_at_0": "2026-06-01",
            "starts_at_1": "09:00:00",
        },
    )
    client_response = client.post(
        reverse("admin:crm_client_add"), {"name": "Sneaky Ltd", "code": "sneaky", "is_active": "on"}
    )

    # Then both are forbidden and nothing was created or audited
    assert (scheme_response.status_code, client_response.status_code) == (403, 403)
    assert Scheme.objects.count() == 0
    assert list(Client.objects.values_list("code", flat=True)) == ["acme"]
    assert AuditEvent.objects.count() == events_before


def test_helpdesk_cannot_change_a_client_it_may_only_view(client, sign_in_verified):
    sign_in_verified(staff_user(Role.HELPDESK))
    client_org = ClientFactory(name="Acme", code="acme")

    response = client.post(
        reverse("admin:crm_client_change", args=[client_org.pk]),
        {"name": "Renamed", "code": "acme", "is_active": "on"},
    )

    assert response.status_code == 403
    client_org.refresh_from_db()
    assert client_org.name == "Acme"


@pytest.mark.parametrize(
    "role", [Role.VERIFIER, Role.CHECKER, Role.CLIENT_MANAGER, Role.CHANNEL_PARTNER]
)
def test_roles_outside_the_admin_cannot_change_a_customer(role, client, sign_in_verified):
    # Given a verified user of a role that holds view_customer or less
    sign_in_verified(staff_user(role))
    customer = CustomerFactory(first_name="Ada")
    change_url = reverse("admin:crm_customer_change", args=[customer.pk])

    # When they post a change
    response = client.post(change_url, {"first_name": "Mallory", "email": customer.email})

    # Then the admin sends them to sign in and the customer is unchanged
    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("admin:login"))
    customer.refresh_from_db()
    assert customer.first_name == "Ada"


def test_role_groups_hold_exactly_the_role_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)
    assert {role: _role_group_permissions(role) for role in Role} == {
        role: set(ROLE_PERMISSIONS[role]) for role in Role
    }


def test_migrate_brings_drifted_role_groups_back_in_line():
    # Given a helpdesk group someone edited by hand
    helpdesk = Group.objects.get(name=Role.HELPDESK)
    helpdesk.permissions.clear()
    helpdesk.permissions.add(
        *Group.objects.get(name=Role.OPERATOR).permissions.filter(codename="add_scheme")
    )

    # When the next deploy migrates
    call_command("migrate", verbosity=0)

    # Then the group holds exactly its listed permissions again
    assert _role_group_permissions(Role.HELPDESK) == set(ROLE_PERMISSIONS[Role.HELPDESK])
