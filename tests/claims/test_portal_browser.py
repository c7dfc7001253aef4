"""A customer signs in to the portal with a code sent by text message, in a real browser at a
phone's size. Screenshots of each page (phone and desktop width) go to test-artifacts/."""

import pytest

from crm.models import Customer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def desktop_screenshot(page, screenshot, name):
    phone = page.viewport_size
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(name)
    page.set_viewport_size(phone)


def test_a_customer_signs_in_with_a_code_on_a_phone(live_server, page, screenshot, sent_codes):
    # Given a winner who opens "My claims" before signing in
    page.goto(f"{live_server.url}/claim/")
    page.wait_for_url("**/claim/sign-in/?next=%2Fclaim%2F")
    assert page.get_by_role("heading", name="Sign in to claim your prize").is_visible()
    screenshot("portal-sign-in-phone")
    desktop_screenshot(page, screenshot, "portal-sign-in-desktop")

    # When they give their mobile number the way they would write it
    page.get_by_label("Mobile number or email address").fill("070-123 45 67")
    page.get_by_role("button", name="Send me a code").click()

    # Then they are asked for the code sent to that number
    page.wait_for_url("**/claim/sign-in/code/")
    assert "by text message to +4670•••67" in page.locator("main").inner_text()
    screenshot("portal-code-phone")

    # When they mistype it once, they are told plainly, and may try again
    code = sent_codes("+46701234567")
    page.get_by_label("Six-digit code").fill(f"{(int(code) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert (
        alert.inner_text()
        == "That code is not right. Check it and try again. You have 4 tries left."
    )
    screenshot("portal-code-wrong-phone")
    desktop_screenshot(page, screenshot, "portal-code-desktop")
    page.wait_for_timeout(1100)  # django-otp's back-off after one wrong code is one second

    # When they type the right code
    page.get_by_label("Six-digit code").fill(code)
    page.get_by_role("button", name="Sign in").click()

    # Then "My claims" opens, honest about being empty, with their number
    page.wait_for_url(f"{live_server.url}/claim/")
    assert page.get_by_role("heading", name="My claims").is_visible()
    assert page.get_by_role("heading", name="You have no claims yet").is_visible()
    assert "+46701234567" in page.locator(".portal-details").inner_text()
    # Nothing overflows the phone's width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("portal-my-claims-phone")
    desktop_screenshot(page, screenshot, "portal-my-claims-desktop")
    assert Customer.objects.filter(phone="+46701234567").count() == 1

    # When they sign out, the portal is closed to this browser again
    page.locator("main").get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/claim/sign-in/")
    assert page.get_by_role("status").inner_text() == "You are signed out."
    page.goto(f"{live_server.url}/claim/")
    page.wait_for_url("**/claim/sign-in/?next=%2Fclaim%2F")
