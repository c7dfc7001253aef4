"""/healthz answers 200 when the database, the cache and the broker answer, else 503."""

import pytest
from django.db import connection

from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_reports_every_check_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok"},
    }
    assert "no-cache" in response.headers["Cache-Control"]


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_the_database_down(client):
    # Given the database connection points at a port nothing listens on
    original_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = 1
    try:
        # When the health check runs
        response = client.get("/healthz")
    finally:
        connection.settings_dict["PORT"] = original_port
        connection.close()

    # Then it answers (no exception) that the database is unavailable
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "unavailable", "cache": "ok", "broker": "ok"},
    }


def test_healthz_reports_the_broker_down(client, monkeypatch):
    # Given Celery's broker at a port nothing listens on
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.setitem(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")

    # When the health check runs
    response = client.get("/healthz")

    # Then it says the broker is unavailable
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "cache": "ok", "broker": "unavailable"},
    }


def test_healthz_reports_the_cache_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "cache": "unavailable", "broker": "ok"},
    }


@pytest.mark.django_db
def test_healthz_answers_head_for_load_balancers(client):
    response = client.head("/healthz")

    assert response.status_code == 200
    assert response.content == b""
