"""The client address: REMOTE_ADDR, or behind our own proxies the address they saw."""

import pytest

from crm.middleware import _TrustedNetworks, client_ip_from
from crm.models import AuditEvent
from crm.roles import Role
from tests.crm.factories import STAFF_PASSWORD, staff_user

LOGIN = "/accounts/login/"


def _trusted(settings, networks):
    settings.TRUSTED_PROXIES = networks
    return _TrustedNetworks()


def _sign_in(client, user, **headers):
    return client.post(
        LOGIN, {"username": user.username, "password": STAFF_PASSWORD, "next": "/"}, **headers
    )


@pytest.mark.django_db
def test_a_forged_forwarded_for_changes_nothing_without_trusted_proxies(client, settings):
    # Given no trusted proxies and a staff user who can sign in with a password
    settings.TRUSTED_PROXIES = []
    settings.STAFF_OTP_REQUIRED = False
    user = staff_user(Role.HELPDESK)

    # When they sign in claiming another address in X-Forwarded-For
    response = _sign_in(
        client, user, REMOTE_ADDR="198.51.100.20", HTTP_X_FORWARDED_FOR="203.0.113.66"
    )

    # Then the audit trail has the address that connected
    assert response.status_code == 302
    assert AuditEvent.objects.get(action="auth.login").ip_address == "198.51.100.20"


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client(client, settings):
    # Given our load balancers in 10.0.0.0/8
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.STAFF_OTP_REQUIRED = False
    user = staff_user(Role.HELPDESK)

    # When a sign-in arrives through two of them, with a forged entry on the left
    response = _sign_in(
        client,
        user,
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_FORWARDED_FOR="203.0.113.66, 198.51.100.7, 10.0.0.2",
    )

    # Then the client is the address our outermost proxy saw
    assert response.status_code == 302
    assert AuditEvent.objects.get(action="auth.login").ip_address == "198.51.100.7"


@pytest.mark.django_db
def test_a_forged_forwarded_for_does_not_escape_the_rate_limit(client, settings):
    # Given ten failed sign-ins from one address, each claiming a different forwarded address
    settings.TRUSTED_PROXIES = []
    user = staff_user(Role.HELPDESK)
    statuses = [
        client.post(
            LOGIN,
            {"username": f"nobody{attempt}", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}",
        ).status_code
        for attempt in range(10)
    ]
    assert statuses == [200] * 10

    # When the eleventh comes with yet another forwarded address and a real account
    response = _sign_in(client, user, HTTP_X_FORWARDED_FOR="203.0.113.99")

    # Then the per-address limit still applies
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("remote_addr", "forwarded_for", "expected"),
    [
        # The peer is not ours: whatever it wrote is ignored.
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),
        # Ours: read from the right, skipping our own hops.
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "192.0.2.9, 198.51.100.1, 10.1.2.3", "198.51.100.1"),
        # Empty entries and spaces are skipped.
        ("10.0.0.5", " , 198.51.100.1 ,, ", "198.51.100.1"),
        # No header: the proxy itself is all we know.
        ("10.0.0.5", "", "10.0.0.5"),
        # Every hop is ours (an internal caller): the peer.
        ("10.0.0.5", "10.0.0.9, 10.0.0.2", "10.0.0.5"),
        # Garbage where the client should be: never trusted, fall back to the peer.
        ("10.0.0.5", "198.51.100.1, not-an-address", "10.0.0.5"),
        ("10.0.0.5", "198.51.100.1:4711", "10.0.0.5"),
        ("10.0.0.5", "unknown, 10.0.0.2", "10.0.0.5"),
        # Garbage further left than the client was written by the client: ignored.
        ("10.0.0.5", "<script>, 198.51.100.1", "198.51.100.1"),
        # IPv6 proxies and clients.
        ("fd00::5", "2001:db8::42, fd00::1", "2001:db8::42"),
        ("2001:db8::42", "198.51.100.1", "2001:db8::42"),
    ],
)
def test_client_ip_from(settings, remote_addr, forwarded_for, expected):
    trusted = _trusted(settings, ["10.0.0.0/8", "fd00::/8"])

    assert client_ip_from(remote_addr, forwarded_for, trusted) == expected


def test_client_ip_from_without_trusted_proxies_always_takes_the_peer(settings):
    trusted = _trusted(settings, [])

    assert client_ip_from("10.0.0.5", "198.51.100.1", trusted) == "10.0.0.5"


def test_a_trusted_proxy_may_be_a_single_address(settings):
    trusted = _trusted(settings, ["192.0.2.10"])

    assert client_ip_from("192.0.2.10", "198.51.100.1", trusted) == "198.51.100.1"
    assert client_ip_from("192.0.2.11", "198.51.100.1", trusted) == "192.0.2.11"


def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(rf, settings):
    # Given production's proxy SSL header and one trusted proxy network
    from crm.middleware import TrustedProxyMiddleware

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    seen = {}

    def view(request):
        seen["secure"] = request.is_secure()
        return None

    middleware = TrustedProxyMiddleware(view)

    # When a client connects directly claiming HTTPS, and when our proxy says so
    middleware(rf.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_PROTO="https"))
    direct = seen["secure"]
    middleware(rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_PROTO="https"))

    # Then only the proxy is believed
    assert direct is False
    assert seen["secure"] is True
