"""Every response carries a request id; a well-formed incoming one is kept."""

import re

import pytest

from crm.models import AuditEvent
from crm.roles import Role
from tests.crm.factories import STAFF_PASSWORD, staff_user

pytestmark = pytest.mark.django_db

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def test_a_response_gets_a_fresh_request_id(client):
    first = client.get("/accounts/login/")
    second = client.get("/accounts/login/")

    assert GENERATED_ID.match(first.headers["X-Request-ID"])
    assert GENERATED_ID.match(second.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "incoming",
    ["abcd1234", "req-2026.11.23_0001", "0f8fad5b-d9cb-469f-a165-70867728950e", "a" * 64],
)
def test_a_well_formed_incoming_request_id_is_kept(client, incoming):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=incoming)

    assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "short",
        "a" * 65,
        "has spaces in it",
        "<script>alert(1)</script>",
        "id\r\nSet-Cookie: x",
        "abcdefgh\n",
    ],
)
def test_a_malformed_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=incoming)

    assert GENERATED_ID.match(response.headers["X-Request-ID"])


def test_the_request_id_reaches_the_audit_trail(client, settings):
    settings.STAFF_OTP_REQUIRED = False
    user = staff_user(Role.HELPDESK)

    response = client.post(
        "/accounts/login/",
        {"username": user.username, "password": STAFF_PASSWORD},
        HTTP_X_REQUEST_ID="support-ticket-4711",
    )

    assert response.headers["X-Request-ID"] == "support-ticket-4711"
    assert AuditEvent.objects.get(action="auth.login").request_id == "support-ticket-4711"
