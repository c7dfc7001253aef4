"""Settings for the test suite: production settings (DEBUG off) with test-only defaults.

Only what a test run cannot supply is defaulted here; everything else comes from the
environment exactly as in production (DATABASE_URL and REDIS_URL default to the local
servers on 127.0.0.1).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # the test client and live server speak HTTP
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
os.environ.setdefault("SMS_BACKEND", "logged")

from config.settings import *  # noqa: F403

# Hashing passwords with PBKDF2's full work factor would dominate the suite's run time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The manifest storage needs collectstatic first; tests render templates without it.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
