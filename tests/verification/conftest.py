"""Fixtures for verification: private storage and plain static files (shared with the claims
tests), and staff signed in the way the staff sign-in leaves them (TOTP verified)."""

import pytest
from django_otp import DEVICE_ID_SESSION_KEY

from tests.claims.conftest import _plain_static_files, private_storage, sent_codes  # noqa: F401
from tests.crm.factories import give_totp_device


@pytest.fixture(autouse=True)
def _storage(private_storage):  # noqa: F811
    """Every claim here has documents: keep them in this test's own folder."""
    return private_storage


@pytest.fixture(autouse=True)
def _otp_required(settings):
    settings.STAFF_OTP_REQUIRED = True


@pytest.fixture
def sign_in(client):
    """Signs ``user`` in on the test client with a verified TOTP device."""

    def sign_in_user(user, on=None):
        target = on or client
        device = give_totp_device(user)
        target.force_login(user)
        session = target.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return target

    return sign_in_user


@pytest.fixture
def points_prize(db):
    """A 500-point prize of an instant-win campaign whose wallet prizes go to a loyalty
    scheme of the same client."""
    from rewards.models import Prize, Scheme
    from tests.claims.factories import PrizeFactory
    from tests.rewards.factories import SchemeFactory
    from verification.models import CampaignReviewSettings

    prize = PrizeFactory(name="500 bonus points", kind=Prize.Kind.POINTS, value_minor=500)
    loyalty = SchemeFactory(
        client=prize.scheme.client, kind=Scheme.Kind.LOYALTY, unit=Scheme.Unit.POINTS
    )
    CampaignReviewSettings.objects.create(scheme=prize.scheme, wallet_scheme=loyalty)
    return prize
