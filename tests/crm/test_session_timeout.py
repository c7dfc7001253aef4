"""Staff sessions end after 30 minutes idle or 12 hours in all."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm.roles import Role
from tests.crm.factories import STAFF_PASSWORD, UserFactory, staff_user

pytestmark = pytest.mark.django_db

SIGNED_IN_AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CUSTOMER_LIST = "/admin/crm/customer/"
EXPIRED_SIGN_IN = "/accounts/login/?next=%2Fadmin%2Fcrm%2Fcustomer%2F&expired=1"


def _signed_in_user_id(client):
    return client.session.get("_auth_user_id")


def test_a_staff_session_idle_for_31_minutes_is_signed_out(client, sign_in_verified):
    with time_machine.travel(SIGNED_IN_AT, tick=False) as traveller:
        # Given a helpdesk user who last did something 31 minutes ago
        user = staff_user(Role.HELPDESK)
        sign_in_verified(user)
        assert client.get(CUSTOMER_LIST).status_code == 200
        traveller.shift(timedelta(minutes=31))

        # When they open the next page
        response = client.get(CUSTOMER_LIST)

        # Then they are signed out and sent to sign in again, with a notice
        assert response.status_code == 302
        assert response.headers["Location"] == EXPIRED_SIGN_IN
        assert _signed_in_user_id(client) is None
        sign_in_page = client.get(response.headers["Location"])
        assert sign_in_page.context["notice"] == "Your session ended. Please sign in again."


def test_a_staff_session_idle_for_29_minutes_goes_on(client, sign_in_verified):
    with time_machine.travel(SIGNED_IN_AT, tick=False) as traveller:
        user = staff_user(Role.HELPDESK)
        sign_in_verified(user)
        assert client.get(CUSTOMER_LIST).status_code == 200
        traveller.shift(timedelta(minutes=29))

        response = client.get(CUSTOMER_LIST)

        assert response.status_code == 200
        assert _signed_in_user_id(client) == str(user.pk)


def test_activity_every_20_minutes_keeps_a_session_for_12_hours_and_no_longer(
    client, sign_in_verified
):
    with time_machine.travel(SIGNED_IN_AT, tick=False) as traveller:
        # Given a helpdesk user who opens a page every 20 minutes from sign-in
        user = staff_user(Role.HELPDESK)
        sign_in_verified(user)
        statuses = [client.get(CUSTOMER_LIST).status_code]
        for _ in range(36):  # 36 x 20 minutes = 12 hours
            traveller.shift(timedelta(minutes=20))
            statuses.append(client.get(CUSTOMER_LIST).status_code)

        # Then every page opened up to and including 12 hours after sign-in
        assert statuses == [200] * 37
        assert _signed_in_user_id(client) == str(user.pk)

        # When they go on 20 minutes later, past 12 hours
        traveller.shift(timedelta(minutes=20))
        response = client.get(CUSTOMER_LIST)

        # Then the session ends anyway
        assert response.status_code == 302
        assert response.headers["Location"] == EXPIRED_SIGN_IN
        assert _signed_in_user_id(client) is None


def test_a_non_staff_account_is_not_timed_out(client):
    with time_machine.travel(SIGNED_IN_AT, tick=False) as traveller:
        user = UserFactory()
        client.force_login(user)
        assert client.get("/").status_code == 200
        traveller.shift(timedelta(hours=2))

        response = client.get("/")

        assert response.status_code == 200
        assert _signed_in_user_id(client) == str(user.pk)


def test_the_idle_clock_starts_at_sign_in(client, settings):
    settings.STAFF_OTP_REQUIRED = False
    with time_machine.travel(SIGNED_IN_AT, tick=False) as traveller:
        # Given a helpdesk user who signed in and then did nothing for 31 minutes
        user = staff_user(Role.HELPDESK)
        client.post("/accounts/login/", {"username": user.username, "password": STAFF_PASSWORD})
        assert _signed_in_user_id(client) == str(user.pk)
        traveller.shift(timedelta(minutes=31))

        # When they open their first page
        response = client.get(CUSTOMER_LIST)

        # Then the session has already ended
        assert response.status_code == 302
        assert response.headers["Location"] == EXPIRED_SIGN_IN
        assert _signed_in_user_id(client) is None
