"""What the dashboards' browser tests share: screen sizes, waiting without eval, counting
drawn charts, collecting console errors and the staff sign-in with password and TOTP."""

from tests.crm.factories import STAFF_PASSWORD, totp_token

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def wait_until(page, expression: str, timeout_ms: int = 10_000) -> None:
    """Polls ``expression`` in the page (page.wait_for_function would need 'unsafe-eval',
    which the page's Content Security Policy rightly refuses)."""
    waited = 0
    while not page.evaluate(expression):
        if waited >= timeout_ms:
            raise AssertionError(f"Still false after {timeout_ms} ms: {expression}")
        page.wait_for_timeout(200)
        waited += 200


def charts_drawn(page) -> int:
    return page.evaluate(
        "Array.from(document.querySelectorAll('.chart-card canvas'))"
        ".filter(canvas => window.Chart.getChart(canvas)).length"
    )


def collect_problems(page) -> list[str]:
    """The page's console errors and uncaught exceptions, as they happen."""
    problems: list[str] = []

    def on_console(message) -> None:
        # The browser asks for /favicon.ico on its own; the site has none (not ours).
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            problems.append(f"{message.text} ({message.location['url']})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def sign_in_to_dashboards(page, live_server, user, device) -> None:
    """Opens /dashboards/, is sent to the staff sign-in, and signs in with the password and
    a code from ``device``; ends back on /dashboards/."""
    page.goto(f"{live_server.url}/dashboards/")
    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code from your authenticator app").fill(totp_token(device))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/dashboards/")
