import pytest
from django_otp import DEVICE_ID_SESSION_KEY

from tests.crm.factories import give_totp_device

PLAIN_STATIC_FILES = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Pages link their CSS through the manifest storage, which only works after
    collectstatic; the tests serve the files under their own names instead."""
    settings.STORAGES = {**settings.STORAGES, "staticfiles": PLAIN_STATIC_FILES}


@pytest.fixture
def otp_required(settings):
    settings.STAFF_OTP_REQUIRED = True


@pytest.fixture
def sign_in_verified(client):
    """Signs ``user`` in on the test client with a verified TOTP device, as the staff sign-in
    leaves them (tests/crm/test_staff_auth.py drives that flow itself)."""

    def sign_in(user):
        device = give_totp_device(user)
        client.force_login(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return device

    return sign_in
