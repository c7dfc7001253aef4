"""A demo operator signs in to the back office with password and TOTP, in a real browser."""

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from dashboards.management.commands.seed_demo import DEMO_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@override_settings(DEBUG=True, STAFF_OTP_REQUIRED=True)
def test_demo_operator_enrols_totp_and_opens_the_admin(live_server, page, screenshot):
    # Given the demo data, whose operator has no authenticator yet
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    # When the operator opens the admin, signs in with the password and enrols a device
    page.goto(f"{live_server.url}/admin/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/accounts/login/enrol/**")
    screenshot("staff-totp-enrolment")
    assert page.get_by_alt_text("QR code for your authenticator app").is_visible()
    device = TOTPDevice.objects.get(user__username="operator", confirmed=False)
    page.get_by_label("Six-digit code from your authenticator app").fill(
        f"{totp(device.bin_key):06d}"
    )
    page.get_by_role("button", name="Confirm and sign in").click()

    # Then the back office opens, with the operator's models
    page.wait_for_url(f"{live_server.url}/admin/")
    assert page.get_by_role("heading", name="Helpdesk and operations").is_visible()
    assert page.get_by_role("link", name="Schemes").first.is_visible()
    screenshot("admin-index-operator")
    device.refresh_from_db()
    assert device.confirmed is True


@override_settings(DEBUG=True, STAFF_OTP_REQUIRED=True)
def test_wrong_password_is_refused_with_a_clear_message(live_server, page):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("alert").inner_text().startswith("Please enter a correct username")
    assert "/accounts/login/" in page.url
