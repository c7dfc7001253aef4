"""config.settings read from the environment, imported fresh in a child process per case."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
PRODUCTION_SECRET_KEY = "p8#Zt2@qLm5!vR9^xK1&wN4*cB7%hJ3$dF6(gS0)yU-eI+oA=Tz"
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": PRODUCTION_SECRET_KEY,
    "ALLOWED_HOSTS": "example.com",
}

# Prints, as JSON, the settings a test looks at.
PROBE = """
import json
from config import settings

names = [
    "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "TRUSTED_PROXIES",
    "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "STAFF_OTP_REQUIRED", "SECURE_CSP",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
]
values = {name: getattr(settings, name, None) for name in names}
database = settings.DATABASES["default"]
values["DATABASE"] = {key: database[key] for key in (
    "ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS"
)}
values["DATABASE_OPTIONS"] = database.get("OPTIONS", {})
values["CACHE_LOCATION"] = settings.CACHES["default"]["LOCATION"]
print(json.dumps(values, default=str))
"""


def _child_env(variables: dict[str, str]) -> dict[str, str]:
    """Only what a fresh process needs, so this test run's own settings do not leak in."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **variables}


def _run(arguments: list[str], variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, *arguments],
        cwd=BASE_DIR,
        env=_child_env(variables),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _settings_with(variables: dict[str, str]) -> dict[str, object]:
    result = _run(["-c", PROBE], variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_without_secret_key_refuses_to_start_with_a_clear_message():
    # Given DEBUG off and no SECRET_KEY, when the settings are imported
    result = _run(["-c", "import config.settings"], {"DEBUG": "false"})

    # Then the import fails and says what to set
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: "
        "Set SECRET_KEY (or DEBUG=true for a local run)."
    )


def test_an_empty_secret_key_is_refused_too():
    result = _run(["-c", "import config.settings"], {"DEBUG": "false", "SECRET_KEY": ""})

    assert result.returncode == 1
    assert "Set SECRET_KEY (or DEBUG=true for a local run)." in result.stderr


def test_debug_run_gets_local_defaults():
    values = _settings_with({"DEBUG": "true"})

    assert values["DEBUG"] is True
    assert values["SECRET_KEY"].startswith("django-insecure-")
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]
    assert values["STAFF_OTP_REQUIRED"] is False
    assert values["DATABASE"]["NAME"] == "campaigns"
    assert values["DATABASE"]["HOST"] == "127.0.0.1"
    assert values["CACHE_LOCATION"] == "redis://127.0.0.1:6379/0"


def test_database_url_is_parsed_into_the_default_connection():
    values = _settings_with(
        {**PRODUCTION_ENV, "DATABASE_URL": "postgres://app:s3cret@db.internal:6543/campaigns_prod"}
    )

    assert values["DATABASE"] == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "campaigns_prod",
        "USER": "app",
        "PASSWORD": "s3cret",
        "HOST": "db.internal",
        "PORT": 6543,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def test_database_url_with_a_socket_directory_in_the_query():
    values = _settings_with(
        {**PRODUCTION_ENV, "DATABASE_URL": "postgres://postgres@/app?host=/var/run/postgresql"}
    )

    assert values["DATABASE"]["NAME"] == "app"
    assert values["DATABASE"]["HOST"] == ""
    assert values["DATABASE_OPTIONS"] == {
        "host": "/var/run/postgresql",
        "options": "-c jit=off -c plan_cache_mode=force_generic_plan",
        "prepare_threshold": 2**31 - 1,
    }


def test_jit_is_off_plans_are_generic_and_a_urls_own_server_options_are_kept():
    values = _settings_with(
        {
            **PRODUCTION_ENV,
            "DATABASE_URL": "postgres://postgres@db/app?options=-c%20statement_timeout%3D5000",
        }
    )

    assert values["DATABASE_OPTIONS"] == {
        "options": "-c statement_timeout=5000 -c jit=off -c plan_cache_mode=force_generic_plan",
        "prepare_threshold": 2**31 - 1,
    }


def test_redis_url_feeds_the_cache_and_celery_unless_a_broker_is_named():
    values = _settings_with({**PRODUCTION_ENV, "REDIS_URL": "redis://cache.internal:6380/2"})

    assert values["CACHE_LOCATION"] == "redis://cache.internal:6380/2"
    assert values["CELERY_BROKER_URL"] == "redis://cache.internal:6380/2"
    assert values["CELERY_RESULT_BACKEND"] == "redis://cache.internal:6380/2"

    values = _settings_with(
        {
            **PRODUCTION_ENV,
            "REDIS_URL": "redis://cache.internal:6380/2",
            "CELERY_BROKER_URL": "amqp://guest:guest@rabbitmq:5672//",
        }
    )

    assert values["CACHE_LOCATION"] == "redis://cache.internal:6380/2"
    assert values["CELERY_BROKER_URL"] == "amqp://guest:guest@rabbitmq:5672//"


def test_comma_separated_lists_are_parsed_with_or_without_spaces():
    values = _settings_with(
        {
            **PRODUCTION_ENV,
            "ALLOWED_HOSTS": "rewards.example.com, admin.example.com",
            "CSRF_TRUSTED_ORIGINS": "https://rewards.example.com,https://admin.example.com",
            "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
        }
    )

    assert values["ALLOWED_HOSTS"] == ["rewards.example.com", "admin.example.com"]
    assert values["CSRF_TRUSTED_ORIGINS"] == [
        "https://rewards.example.com",
        "https://admin.example.com",
    ]
    assert values["TRUSTED_PROXIES"] == ["10.0.0.0/8", "192.168.1.1"]


def test_production_defaults_are_strict():
    values = _settings_with(PRODUCTION_ENV)

    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == ["example.com"]
    assert values["TRUSTED_PROXIES"] == []
    assert values["STAFF_OTP_REQUIRED"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True


def test_production_content_security_policy_allows_no_inline_script():
    policy = _settings_with(PRODUCTION_ENV)["SECURE_CSP"]

    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert all(
        "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
        for directive, sources in policy.items()
        if directive.startswith(("script-src", "default-src"))
    )


def test_production_settings_pass_the_deploy_check():
    # Given production settings, when Django's deployment checklist runs
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)

    # Then it finds nothing, not even a warning
    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"


def test_the_deploy_check_refuses_the_logged_sms_backend():
    # The logged backend writes sign-in codes to the log: never in production
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {**PRODUCTION_ENV, "SMS_BACKEND": "logged"},
    )

    assert result.returncode == 1
    assert "crm.W001" in result.stderr
    assert "sign-in codes included, go to the log" in result.stderr


@pytest.mark.django_db
def test_responses_carry_the_content_security_policy(client, settings):
    # The manifest storage needs collectstatic; serve the stylesheet under its own name.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    response = client.get("/accounts/login/")

    assert response.status_code == 200
    directives = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["Content-Security-Policy"].split(";")
    )
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
