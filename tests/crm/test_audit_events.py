"""What lands on the audit trail: sign-ins, role changes and admin edits."""

import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse

from crm.audit import audit_chain_breaks
from crm.models import AuditEvent
from crm.roles import Role
from tests.crm.admin_forms import submit_admin_form
from tests.crm.factories import (
    STAFF_PASSWORD,
    ClientFactory,
    UserFactory,
    give_totp_device,
    staff_user,
)

pytestmark = pytest.mark.django_db


def _as_json(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_a_sign_in_is_audited_with_who_where_and_which_request(client, settings):
    # Given a staff user who signs in with a password only
    settings.STAFF_OTP_REQUIRED = False
    user = staff_user(Role.HELPDESK)

    # When they sign in
    response = client.post(
        "/accounts/login/",
        {"username": user.username, "password": STAFF_PASSWORD},
        REMOTE_ADDR="198.51.100.20",
    )

    # Then one auth.login event names them, their address and the request
    assert response.status_code == 302
    (event,) = _events("auth.login")
    assert (
        event.actor,
        event.actor_label,
        event.object_type,
        event.object_id,
        event.ip_address,
        event.request_id,
    ) == (
        user,
        user.username,
        "auth.user",
        str(user.pk),
        "198.51.100.20",
        response.headers["X-Request-ID"],
    )


def test_a_failed_sign_in_is_audited_without_the_password(client):
    user = staff_user(Role.HELPDESK)

    response = client.post(
        "/accounts/login/", {"username": user.username, "password": "Guess-Number-1"}
    )

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    (event,) = _events("auth.login_failed")
    assert (event.actor, event.actor_label, event.after) == (
        None,
        "system",
        {"username": user.username},
    )
    assert "Guess-Number-1" not in json.dumps([event.before, event.after])


def test_a_sign_out_is_audited(client, sign_in_verified):
    user = staff_user(Role.HELPDESK)
    sign_in_verified(user)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert [(event.actor, event.object_id) for event in _events("auth.logout")] == [
        (user, str(user.pk))
    ]


def test_adding_a_user_to_a_role_group_is_audited():
    # Given a user with no role
    user = UserFactory()
    checker = Group.objects.get(name=Role.CHECKER)

    # When they are given the checker role (outside any request)
    user.groups.add(checker)

    # Then the trail says so, by the system
    (event,) = _events("auth.roles_added")
    assert (event.actor_label, event.object_type, event.object_id, event.after) == (
        "system",
        "auth.user",
        str(user.pk),
        {"roles": ["checker"]},
    )


def test_adding_users_from_the_group_side_audits_each_user():
    first, second = UserFactory(), UserFactory()
    verifier = Group.objects.get(name=Role.VERIFIER)

    verifier.user_set.add(first, second)

    events = _events("auth.roles_added")
    assert sorted((event.object_id, event.after["roles"][0]) for event in events) == sorted(
        [(str(first.pk), "verifier"), (str(second.pk), "verifier")]
    )


def test_adding_a_role_the_user_already_has_records_nothing():
    user = UserFactory()
    checker = Group.objects.get(name=Role.CHECKER)
    user.groups.add(checker)
    events_before = AuditEvent.objects.count()

    user.groups.add(checker)

    assert AuditEvent.objects.count() == events_before


def test_removing_and_clearing_roles_is_audited_with_the_roles_taken_away():
    # Given a user with two roles
    user = UserFactory()
    checker = Group.objects.get(name=Role.CHECKER)
    verifier = Group.objects.get(name=Role.VERIFIER)
    user.groups.add(checker, verifier)

    # When one is removed and then all are cleared
    user.groups.remove(checker)
    user.groups.clear()

    # Then both changes are on the trail with the roles that went
    assert [event.after for event in _events("auth.roles_removed")] == [{"roles": ["checker"]}]
    assert [event.after for event in _events("auth.roles_cleared")] == [{"roles": ["verifier"]}]
    assert list(user.groups.all()) == []


def test_clearing_a_group_of_its_users_audits_each_user():
    first, second = UserFactory(), UserFactory()
    verifier = Group.objects.get(name=Role.VERIFIER)
    verifier.user_set.add(first, second)

    verifier.user_set.clear()

    events = _events("auth.roles_cleared")
    assert sorted((event.object_id, event.after) for event in events) == sorted(
        [(str(first.pk), {"roles": ["verifier"]}), (str(second.pk), {"roles": ["verifier"]})]
    )


def test_changing_a_client_in_the_admin_records_before_and_after(client, sign_in_verified):
    # Given an operator and a client
    operator = staff_user(Role.OPERATOR)
    sign_in_verified(operator)
    client_org = ClientFactory(name="Acme", code="acme")
    unchanged = {"id": client_org.pk, "code": "acme", "is_active": True}
    created_at = _as_json(client_org.created_at)

    # When the operator renames it through the admin
    response = submit_admin_form(
        client, reverse("admin:crm_client_change", args=[client_org.pk]), {"name": "Acme Foods"}
    )

    # Then one admin.change event holds the row before and after, by the operator
    assert response.status_code == 302
    (event,) = _events("admin.change")
    assert (event.actor, event.object_type, event.object_id, event.object_label) == (
        operator,
        "crm.client",
        str(client_org.pk),
        "Acme Foods",
    )
    assert event.before == {**unchanged, "name": "Acme", "created_at": created_at}
    assert event.after == {**unchanged, "name": "Acme Foods", "created_at": created_at}
    assert list(audit_chain_breaks()) == []


def test_editing_a_user_in_the_admin_keeps_the_password_hash_off_the_trail(
    client, sign_in_verified
):
    # Given a superuser in the back office and a helpdesk user
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    sign_in_verified(admin_user)
    user = staff_user(Role.HELPDESK, date_joined=datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    checker = Group.objects.get(name=Role.CHECKER)
    helpdesk = Group.objects.get(name=Role.HELPDESK)

    # When the superuser changes their name and gives them the checker role as well
    response = submit_admin_form(
        client,
        reverse("admin:auth_user_change", args=[user.pk]),
        {"first_name": "Grace", "groups": [str(helpdesk.pk), str(checker.pk)]},
    )

    # Then the change is audited with before and after, and no password hash anywhere
    assert response.status_code == 302
    (event,) = [e for e in _events("admin.change") if e.object_type == "auth.user"]
    assert event.actor == admin_user
    assert (event.before["first_name"], event.after["first_name"]) == ("", "Grace")
    assert "password" not in event.before
    assert "password" not in event.after
    user.refresh_from_db()
    assert user.password not in json.dumps([event.before, event.after])
    # and the role change is audited as the superuser's doing
    role_events = _events("auth.roles_added")
    assert [(e.actor, e.object_id, e.after) for e in role_events] == [
        (None, str(user.pk), {"roles": ["helpdesk"]}),  # the factory, before the edit
        (admin_user, str(user.pk), {"roles": ["checker"]}),
    ]


def test_deleting_a_totp_device_in_the_admin_is_audited_without_its_key(client, sign_in_verified):
    # Given a superuser and a staff member's authenticator
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    sign_in_verified(admin_user)
    user = staff_user(Role.HELPDESK)
    device = give_totp_device(user)

    # When the superuser deletes the device
    response = client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}
    )

    # Then the deletion is on the trail, without the device's secret
    assert response.status_code == 302
    (event,) = _events("admin.delete")
    assert (event.actor, event.object_type, event.object_id) == (
        admin_user,
        "otp_totp.totpdevice",
        str(device.pk),
    )
    assert event.before["user_id"] == user.pk
    assert "key" not in event.before
    assert device.key not in json.dumps(event.before)
