"""Staff sign-in: password, then a TOTP code (or enrolment of a first authenticator)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import AuditEvent
from crm.roles import Role
from crm.staff_auth import PENDING_USER
from tests.crm.factories import STAFF_PASSWORD, give_totp_device, staff_user, totp_token

pytestmark = pytest.mark.django_db

ADMIN_INDEX = "/admin/"
LOGIN = "/accounts/login/"
# Mid-way through a 30-second TOTP step and far from any rate-limit window edge.
SOME_MOMENT = datetime(2026, 11, 23, 9, 0, 10, tzinfo=UTC)


@pytest.fixture
def frozen_time():
    with time_machine.travel(SOME_MOMENT, tick=False) as traveller:
        yield traveller


def _submit_password(client, user, password=STAFF_PASSWORD, next_url=ADMIN_INDEX):
    return client.post(LOGIN, {"username": user.username, "password": password, "next": next_url})


def _signed_in_user_id(client):
    return client.session.get("_auth_user_id")


def _admin_outcome(client):
    """'open' if the admin index opens, 'sign-in' if it sends the user to the staff sign-in."""
    response = client.get(ADMIN_INDEX, follow=True)
    if response.redirect_chain and response.request["PATH_INFO"] == LOGIN:
        return "sign-in"
    return "open" if response.status_code == 200 else str(response.status_code)


def _wrong_token(device):
    right = totp_token(device)
    return next(code for code in ("123456", "654321") if code != right)


@pytest.mark.usefixtures("otp_required", "frozen_time")
def test_password_alone_does_not_sign_in_a_staff_user(client):
    # Given a helpdesk user with an authenticator app
    user = staff_user(Role.HELPDESK)
    give_totp_device(user)

    # When they give only the right password
    response = _submit_password(client, user)

    # Then they are asked for the code and are not signed in
    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/login/verify/?next=%2Fadmin%2F"
    assert _signed_in_user_id(client) is None
    assert client.session[PENDING_USER] == user.pk
    assert _admin_outcome(client) == "sign-in"


@pytest.mark.usefixtures("otp_required", "frozen_time")
def test_the_right_code_signs_in_and_opens_the_admin(client):
    # Given a helpdesk user past the password step
    user = staff_user(Role.HELPDESK)
    device = give_totp_device(user)
    _submit_password(client, user)

    # When they enter the code their app shows
    response = client.post(
        "/accounts/login/verify/", {"otp_token": totp_token(device), "next": ADMIN_INDEX}
    )

    # Then they are signed in with the device verified, and the admin opens
    assert response.status_code == 302
    assert response.headers["Location"] == ADMIN_INDEX
    assert _signed_in_user_id(client) == str(user.pk)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert PENDING_USER not in client.session
    assert _admin_outcome(client) == "open"


@pytest.mark.usefixtures("otp_required", "frozen_time")
def test_a_wrong_code_does_not_sign_in(client):
    # Given a helpdesk user past the password step
    user = staff_user(Role.HELPDESK)
    device = give_totp_device(user)
    _submit_password(client, user)

    # When they enter a wrong code
    response = client.post(
        "/accounts/login/verify/", {"otp_token": _wrong_token(device), "next": ADMIN_INDEX}
    )

    # Then the form says so, they stay signed out, and the failure is audited
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "otp_token": ["That code is not right or has expired. Try the next one."]
    }
    assert _signed_in_user_id(client) is None
    assert _admin_outcome(client) == "sign-in"
    assert AuditEvent.objects.filter(action="auth.totp_failed", object_id=str(user.pk)).count() == 1


@pytest.mark.usefixtures("otp_required", "frozen_time")
def test_the_code_step_without_the_password_step_goes_back_to_the_password(client):
    user = staff_user(Role.HELPDESK)
    device = give_totp_device(user)

    response = client.post("/accounts/login/verify/", {"otp_token": totp_token(device)})

    assert response.status_code == 302
    assert response.headers["Location"] == LOGIN
    assert _signed_in_user_id(client) is None


@pytest.mark.usefixtures("otp_required")
def test_the_code_step_expires_five_minutes_after_the_password(client):
    # Given a helpdesk user who gave their password
    with time_machine.travel(SOME_MOMENT, tick=False) as traveller:
        user = staff_user(Role.HELPDESK)
        device = give_totp_device(user)
        _submit_password(client, user)

        # When they enter a right code six minutes later
        traveller.shift(timedelta(minutes=6))
        response = client.post("/accounts/login/verify/", {"otp_token": totp_token(device)})

    # Then they must start again
    assert response.status_code == 302
    assert response.headers["Location"] == LOGIN
    assert _signed_in_user_id(client) is None


@pytest.mark.usefixtures("otp_required", "frozen_time")
def test_a_user_without_a_device_enrols_one_and_is_signed_in(client):
    # Given an operator with no authenticator yet, past the password step
    user = staff_user(Role.OPERATOR)
    response = _submit_password(client, user)
    assert response.headers["Location"] == "/accounts/login/enrol/?next=%2Fadmin%2F"
    assert _signed_in_user_id(client) is None

    # When they open the enrolment page and confirm with the code their new app shows
    page = client.get(response.headers["Location"])
    device = TOTPDevice.objects.get(user=user)
    assert (page.status_code, device.confirmed) == (200, False)
    response = client.post(
        "/accounts/login/enrol/", {"otp_token": totp_token(device), "next": ADMIN_INDEX}
    )

    # Then the device is confirmed, they are signed in and verified, and it is audited
    assert response.status_code == 302
    assert response.headers["Location"] == ADMIN_INDEX
    device.refresh_from_db()
    assert device.confirmed is True
    assert _signed_in_user_id(client) == str(user.pk)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert _admin_outcome(client) == "open"
    assert AuditEvent.objects.filter(action="auth.totp_enrolled", actor=user).count() == 1


@pytest.mark.usefixtures("otp_required", "frozen_time")
def test_enrolment_with_a_wrong_code_confirms_nothing(client):
    user = staff_user(Role.OPERATOR)
    _submit_password(client, user)
    client.get("/accounts/login/enrol/")
    device = TOTPDevice.objects.get(user=user)

    response = client.post("/accounts/login/enrol/", {"otp_token": _wrong_token(device)})

    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed is False
    assert _signed_in_user_id(client) is None


@pytest.mark.usefixtures("otp_required")
def test_admin_refuses_a_signed_in_staff_user_without_a_verified_device(client):
    # Given a helpdesk user signed in by password only (no second factor in the session)
    user = staff_user(Role.HELPDESK)
    give_totp_device(user)
    client.force_login(user)

    # When they open the admin, then they are sent to the staff sign-in
    assert _admin_outcome(client) == "sign-in"


def test_without_the_requirement_the_same_session_opens_the_admin(client, settings):
    settings.STAFF_OTP_REQUIRED = False
    user = staff_user(Role.HELPDESK)
    client.force_login(user)

    assert _admin_outcome(client) == "open"


@pytest.mark.usefixtures("frozen_time")
def test_without_the_requirement_and_without_a_device_the_password_signs_in(client, settings):
    # Given the second factor is not required and the user has no device
    settings.STAFF_OTP_REQUIRED = False
    user = staff_user(Role.HELPDESK)

    # When they give the right password
    response = _submit_password(client, user)

    # Then they are signed in straight away
    assert response.status_code == 302
    assert response.headers["Location"] == ADMIN_INDEX
    assert _signed_in_user_id(client) == str(user.pk)
    assert TOTPDevice.objects.filter(user=user).count() == 0
    assert _admin_outcome(client) == "open"


@pytest.mark.usefixtures("otp_required", "frozen_time")
def test_a_next_address_with_a_query_string_survives_the_code_step(client):
    # Given a helpdesk user sent to sign in from a filtered admin list
    user = staff_user(Role.HELPDESK)
    device = give_totp_device(user)
    next_url = "/admin/crm/customer/?preferred_language=sv&o=1"

    # When they give the password and the code
    response = _submit_password(client, user, next_url=next_url)
    assert response.headers["Location"] == (
        "/accounts/login/verify/?next=%2Fadmin%2Fcrm%2Fcustomer%2F%3Fpreferred_language%3Dsv%26o%3D1"
    )
    page = client.get(response.headers["Location"])
    response = client.post(
        "/accounts/login/verify/", {"otp_token": totp_token(device), "next": page.context["next"]}
    )

    # Then they land on the same filtered list
    assert response.headers["Location"] == next_url


@pytest.mark.usefixtures("otp_required", "frozen_time")
def test_the_eleventh_password_attempt_in_five_minutes_is_refused(client):
    # Given ten wrong passwords for a helpdesk user within five minutes
    user = staff_user(Role.HELPDESK)
    give_totp_device(user)
    statuses = [_submit_password(client, user, password="wrong").status_code for _ in range(10)]
    assert statuses == [200] * 10

    # When the eleventh attempt comes, even with the right password
    response = _submit_password(client, user)

    # Then it is refused with 429 and the password step did not pass
    assert response.status_code == 429
    assert response.context["error"] == "Too many attempts. Wait a few minutes and try again."
    assert PENDING_USER not in client.session
    assert _signed_in_user_id(client) is None


@pytest.mark.usefixtures("otp_required")
def test_password_attempts_are_allowed_again_after_the_window(client):
    # Given a helpdesk user locked out by eleven attempts
    with time_machine.travel(SOME_MOMENT, tick=False) as traveller:
        user = staff_user(Role.HELPDESK)
        give_totp_device(user)
        for _ in range(11):
            _submit_password(client, user, password="wrong")

        # When ten minutes have passed (two windows), then the right password works again
        traveller.shift(timedelta(minutes=10))
        response = _submit_password(client, user)

    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/login/verify/?next=%2Fadmin%2F"
