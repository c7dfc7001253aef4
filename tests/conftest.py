"""Shared fixtures. The suite runs against the real PostgreSQL and Redis named by
DATABASE_URL and REDIS_URL (defaults: the local servers on 127.0.0.1).

Browser tests use Playwright for Python driving Debian's chromium (Playwright cannot
download its own browser here); one browser serves the whole session, and screenshots go
to test-artifacts/ for a person to look at."""

import os
from importlib import import_module
from pathlib import Path

import pytest
from django.core.cache import cache


@pytest.fixture
def celery_eager():
    """Runs tasks in the calling thread, for tests where the broker is not the point."""
    from config.celery import app as celery_app

    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def default_message_templates(db):
    """crm's default message templates, as every installation has them (data migrations
    crm/0004 and crm/0007; they only add what is missing). A transactional test needs this:
    the flush after an earlier one emptied every table, the migrations' rows included."""
    from django.apps import apps

    import_module("crm.migrations.0004_default_message_templates").add_default_templates(apps, None)
    import_module("crm.migrations.0007_default_draw_message_templates").add_default_draw_templates(
        apps, None
    )


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters and cached sessions live in Redis: start every test clean."""
    cache.clear()
    yield
    cache.clear()


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
