"""Settings for every environment, read from environment variables (12-factor).

Safe local defaults apply when a variable is unset; production sets DEBUG=false and
passes ``manage.py check --deploy --fail-level WARNING``. See .env.example for every
variable and docs/OPERATIONS.md for how they are used.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Embedded mode is `make run` on a machine without PostgreSQL or Redis: it may seed demo data.
EMBEDDED = env.bool("EMBEDDED", default=False)

_INSECURE_LOCAL_KEY = "django-insecure-local-only-key-never-used-in-production-0123456789"
SECRET_KEY = env.str("SECRET_KEY", default=_INSECURE_LOCAL_KEY if DEBUG else "")
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for a local run).")

# Lists are comma separated; spaces after the commas are allowed (cast=str.strip).
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", cast=str.strip, default=["127.0.0.1", "localhost"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", cast=str.strip, default=[])

INSTALLED_APPS = [
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "anymail",
    "crm",
    "rewards",
    "claims",
    "verification",
    "dashboards",
]

MIDDLEWARE = [
    "crm.middleware.RequestIdMiddleware",
    "crm.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "crm.middleware.StaffSessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL, e.g. postgres://user:password@host:5432/name.
# A Unix socket directory goes in the query: postgres://user@/name?host=/run/postgresql.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/campaigns"),
}
# A fresh connection per request costs 8x on our hardware (STYLE.md): keep them open.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# No JIT: the application's queries are short OLTP reads and writes, and the few whose
# estimated cost crosses jit_above_cost (the dashboards' aggregates) spent more time
# compiling than running (docs/BENCHMARKS.md, Dashboards). Keeps any options the URL gave.
# Prepared statements only for the statements the ledger and event services run on every
# request, which ask for it (rewards.services.ledger.prepared_execute): Django binds its own
# queries on the client, so they are never prepared, and psycopg's automatic preparing after
# prepare_threshold runs is kept out of reach. Those statements get one generic plan per
# connection instead of a plan per run (PostgreSQL kept choosing per-run plans, a third of
# its time per event). plan_cache_mode concerns only statements with server-side parameters:
# those, and PL/pgSQL's (the ledger triggers' key look-ups). A pooler in between must pool
# sessions, not transactions.
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options["options"] = " ".join(
    filter(
        None,
        [_db_options.get("options", ""), "-c jit=off", "-c plan_cache_mode=force_generic_plan"],
    )
)
_db_options.setdefault("prepare_threshold", 2**31 - 1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# django-ratelimit needs a shared cache with atomic increments: Redis, never local memory.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="campaigns"),
    }
}
RATELIMIT_USE_CACHE = "default"

# Celery: the broker and result backend are Redis unless CELERY_BROKER_URL says otherwise.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "crm.tasks.*": {"queue": "notifications"},
    "rewards.tasks.*": {"queue": "runs"},
}
# A task is redelivered when its worker dies; the visibility timeout must outlast the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int(
        "CELERY_BROKER_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 60
    )
}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "staff-login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Staff sign in with password plus TOTP; enforced everywhere but a DEBUG run unless set.
STAFF_OTP_REQUIRED = env.bool("STAFF_OTP_REQUIRED", default=not DEBUG)
STAFF_LOGIN_RATE = env.str("STAFF_LOGIN_RATE", default="10/5m")
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Reward campaigns")
# Staff sessions end after 30 minutes idle and 12 hours in all.
STAFF_SESSION_IDLE_TIMEOUT = timedelta(minutes=env.int("STAFF_SESSION_IDLE_MINUTES", default=30))
STAFF_SESSION_MAX_AGE = timedelta(hours=env.int("STAFF_SESSION_MAX_HOURS", default=12))
SESSION_COOKIE_AGE = int(STAFF_SESSION_MAX_AGE.total_seconds())
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("sv", _("Swedish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Stockholm")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "staticfiles")
STORAGES = {
    # Uploaded documents are private: outside the web root, served only by authorising views.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "private")},
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
if env.str("MEDIA_S3_BUCKET", default=""):
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": env.str("MEDIA_S3_BUCKET"), "default_acl": "private"},
    }

# Email: django-anymail in production (EMAIL_BACKEND and ANYMAIL from the environment);
# a file backend for local runs so messages can be read under var/mail.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.filebased.EmailBackend"
    if DEBUG
    else "anymail.backends.amazon_ses.EmailBackend",
)
EMAIL_FILE_PATH = BASE_DIR / "var" / "mail"
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="rewards@example.com")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ANYMAIL = {
    "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default=""),
}

# SMS: "logged" writes messages to the log (local runs); "twilio" sends through Twilio.
SMS_BACKEND = env.str("SMS_BACKEND", default="logged" if DEBUG else "twilio")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_BASE_URL = env.str("TWILIO_BASE_URL", default="")

# Notifications (crm/notifications, docs/NOTIFICATIONS.md). Quiet hours hold back marketing
# messages only ("" turns them off); transactional ones always go out at once.
NOTIFICATION_QUIET_HOURS = env.str("NOTIFICATION_QUIET_HOURS", default="21:00-08:00")
NOTIFICATION_TIME_ZONE = env.str("NOTIFICATION_TIME_ZONE", default=TIME_ZONE)
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=5)
NOTIFICATION_RETRY_BASE_SECONDS = env.int("NOTIFICATION_RETRY_BASE_SECONDS", default=60)
NOTIFICATION_RETRY_MAX_SECONDS = env.int("NOTIFICATION_RETRY_MAX_SECONDS", default=3600)
NOTIFICATION_PROVIDER_TIMEOUT_SECONDS = env.int("NOTIFICATION_PROVIDER_TIMEOUT_SECONDS", default=15)
# Domain events (crm/events.py): an event still undelivered this long after it was published
# (or last tried) is delivered again by crm.tasks.domain_events_redeliver, up to this many
# attempts in all; then it stays failed in the admin.
DOMAIN_EVENT_REDELIVER_AFTER_SECONDS = env.int("DOMAIN_EVENT_REDELIVER_AFTER_SECONDS", default=60)
DOMAIN_EVENT_MAX_ATTEMPTS = env.int("DOMAIN_EVENT_MAX_ATTEMPTS", default=5)
# A message still "sending" after this long lost its worker mid-send: it is marked failed
# (outcome unknown) instead of being sent again. Must exceed the send task's time limit.
NOTIFICATION_SENDING_STALE_SECONDS = env.int("NOTIFICATION_SENDING_STALE_SECONDS", default=180)
# The public address of this site: links in messages and Twilio's status callback URL.
NOTIFICATION_PUBLIC_BASE_URL = env.str(
    "NOTIFICATION_PUBLIC_BASE_URL", default="http://127.0.0.1:8000" if DEBUG else ""
)
NOTIFICATION_SITE_NAME = env.str("NOTIFICATION_SITE_NAME", default="Reward campaigns")

# Customer portal (claims): one-time-password sign-in and document uploads. See docs/PORTAL.md.
CLAIM_OTP_VALIDITY_SECONDS = env.int("CLAIM_OTP_VALIDITY_SECONDS", default=600)
CLAIM_OTP_MAX_FAILURES = env.int("CLAIM_OTP_MAX_FAILURES", default=5)
# django-otp's back-off between wrong codes: factor * 2^(failures - 1) seconds; 0 turns it off.
CLAIM_OTP_THROTTLE_FACTOR = env.int("CLAIM_OTP_THROTTLE_FACTOR", default=1)
# django-ratelimit rates ("N/h", "N/15m"); mobile carriers put many customers behind one IP.
CLAIM_OTP_SEND_RATE_PER_DESTINATION = env.str("CLAIM_OTP_SEND_RATE_PER_DESTINATION", default="5/h")
CLAIM_OTP_SEND_RATE_PER_IP = env.str("CLAIM_OTP_SEND_RATE_PER_IP", default="30/h")
CLAIM_OTP_VERIFY_RATE_PER_DESTINATION = env.str(
    "CLAIM_OTP_VERIFY_RATE_PER_DESTINATION", default="20/h"
)
CLAIM_OTP_VERIFY_RATE_PER_IP = env.str("CLAIM_OTP_VERIFY_RATE_PER_IP", default="60/h")
# Days a sign-in address nobody proved (its device, its sign-in messages) is kept.
CLAIM_SIGN_IN_RETENTION_DAYS = env.int("CLAIM_SIGN_IN_RETENTION_DAYS", default=30)
CLAIM_UPLOAD_MAX_BYTES = env.int("CLAIM_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
# Code entry and uploads in the portal, per customer and per client IP (django-ratelimit).
CLAIM_CODE_ENTER_RATE_PER_CUSTOMER = env.str("CLAIM_CODE_ENTER_RATE_PER_CUSTOMER", default="20/h")
CLAIM_CODE_ENTER_RATE_PER_IP = env.str("CLAIM_CODE_ENTER_RATE_PER_IP", default="100/h")
CLAIM_UPLOAD_RATE_PER_CUSTOMER = env.str("CLAIM_UPLOAD_RATE_PER_CUSTOMER", default="60/h")
CLAIM_UPLOAD_RATE_PER_IP = env.str("CLAIM_UPLOAD_RATE_PER_IP", default="300/h")
# Bearer tokens the claims API issues after a verified one-time code (seconds).
CLAIM_API_TOKEN_SECONDS = env.int("CLAIM_API_TOKEN_SECONDS", default=3600)
# Well below Pillow's own 89.5 million pixel guard: decoding costs about 4 bytes a pixel.
CLAIM_UPLOAD_MAX_PIXELS = env.int("CLAIM_UPLOAD_MAX_PIXELS", default=40_000_000)
CLAIM_UPLOAD_MAX_PDF_PAGES = env.int("CLAIM_UPLOAD_MAX_PDF_PAGES", default=50)
# ClamAV: uploads are scanned when either is set (a Unix socket path, or host and port).
CLAMD_SOCKET = env.str("CLAMD_SOCKET", default="")
CLAMD_HOST = env.str("CLAMD_HOST", default="")
CLAMD_PORT = env.int("CLAMD_PORT", default=3310)
CLAMD_TIMEOUT_SECONDS = env.float("CLAMD_TIMEOUT_SECONDS", default=30.0)

# Review queue: how long a verifier's hold on a claim lasts before another may take it.
VERIFICATION_LOCK_MINUTES = env.int("VERIFICATION_LOCK_MINUTES", default=30)

# Integrators' API keys: a key that authenticated is trusted by each process for this long
# without a query, so a revoked key may still work that long in other processes (0: never).
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=5.0)

# Customer import (crm/imports): files above the inline limit run as a Celery task.
CRM_IMPORT_INLINE_MAX_BYTES = env.int("CRM_IMPORT_INLINE_MAX_BYTES", default=256 * 1024)
CRM_IMPORT_MAX_BYTES = env.int("CRM_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
# Phone numbers typed with a leading 0 are read as numbers in this country (without the +).
CRM_DEFAULT_COUNTRY_CALLING_CODE = env.str("CRM_DEFAULT_COUNTRY_CALLING_CODE", default="46")

# Client IP: REMOTE_ADDR, unless the direct peer is a trusted proxy, in which case the
# address that proxy saw (the rightmost untrusted X-Forwarded-For entry).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", cast=str.strip, default=[])

HEALTHZ_TIMEOUT_SECONDS = env.float("HEALTHZ_TIMEOUT_SECONDS", default=2.0)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Reward campaigns API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI is served from our own static files (no CDN at run time).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Content Security Policy through Django's own middleware: no inline script anywhere.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=63_072_000)  # two years
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "crm.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
    },
}
