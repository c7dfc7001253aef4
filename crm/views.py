import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe

from config.celery import app as celery_app

logger = logging.getLogger(__name__)

# The parts of the product, in the order a visitor meets them. A part is linked from the home
# page only once its URL exists, so nothing unfinished is ever shown.
PRODUCT_PARTS = [
    ("portal:home", _("Claim a prize"), _("Enter your code, claim your prize and follow it.")),
    ("verification:queue", _("Review queue"), _("Verifiers and checkers review claims.")),
    ("dashboards:home", _("Dashboards"), _("Client managers follow their campaigns live.")),
    ("admin:index", _("Back office"), _("Helpdesk and operators work in the admin.")),
    ("swagger-ui", _("API documentation"), _("For integrators: events, spends and wallets.")),
]


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    parts = []
    for url_name, title, description in PRODUCT_PARTS:
        try:
            parts.append({"url": reverse(url_name), "title": title, "description": description})
        except NoReverseMatch:
            continue
    return render(request, "home.html", {"parts": parts})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    cache.set("healthz", "ok", timeout=10)
    if cache.get("healthz") != "ok":
        raise RuntimeError("cache did not return what was written")


def _check_broker() -> None:
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=settings.HEALTHZ_TIMEOUT_SECONDS)


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Reports whether the database, the cache and the Celery broker answer (200 or 503)."""
    checks: dict[str, Any] = {}
    for name, check in (
        ("database", _check_database),
        ("cache", _check_cache),
        ("broker", _check_broker),
    ):
        try:
            check()
        except Exception as error:  # every failure means "unavailable", whatever its kind
            logger.warning("healthz check failed", extra={"check": name, "error": repr(error)})
            checks[name] = "unavailable"
        else:
            checks[name] = "ok"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
