"""A code batch's channel partner: a partner of the campaign's client only (service, model
and admin add form), shown in the admin without a query per row; and the claims data
migration that gives older claims their campaign's partner."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from claims.models import Claim
from rewards.models import CodeBatch
from rewards.services.codes import CodeBatchError, code_batch_generate
from tests.claims.factories import draft_claim, winning_code
from tests.crm.factories import ChannelPartnerFactory, UserFactory
from tests.rewards.factories import InstantWinSchemeFactory, PrizeFactory
from verification.models import CampaignReviewSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, settings):
    settings.STAFF_OTP_REQUIRED = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_a_batch_is_generated_for_a_partner_of_the_campaigns_client():
    scheme = InstantWinSchemeFactory()
    partner = ChannelPartnerFactory(client=scheme.client)

    batch = code_batch_generate(
        scheme=scheme, size=3, actor="tests", inline=True, channel_partner=partner
    )

    assert CodeBatch.objects.get(pk=batch.pk).channel_partner == partner


def test_another_clients_partner_is_refused_and_nothing_is_created():
    scheme = InstantWinSchemeFactory()
    foreign = ChannelPartnerFactory()

    with pytest.raises(CodeBatchError, match="channel partner of the campaign's client"):
        code_batch_generate(scheme=scheme, size=3, actor="tests", channel_partner=foreign)

    assert not CodeBatch.objects.filter(scheme=scheme).exists()
    batch = CodeBatch(scheme=scheme, size=1, channel_partner=foreign)
    with pytest.raises(ValidationError) as error:
        batch.clean()
    assert error.value.message_dict == {
        "channel_partner": [f"Choose a channel partner of the campaign's client, {scheme.client}."]
    }


def test_the_admin_add_form_takes_the_partner_and_refuses_another_clients(admin_client):
    scheme = InstantWinSchemeFactory()
    partner = ChannelPartnerFactory(client=scheme.client, name="North region")
    foreign = ChannelPartnerFactory(name="Elsewhere")
    url = reverse("admin:rewards_codebatch_add")

    refused = admin_client.post(
        url, {"scheme": scheme.pk, "channel_partner": foreign.pk, "size": 5}
    )
    saved = admin_client.post(url, {"scheme": scheme.pk, "channel_partner": partner.pk, "size": 5})

    assert refused.status_code == 200
    assert "Choose a channel partner of the campaign&#x27;s client" in refused.content.decode()
    assert saved.status_code == 302
    batch = CodeBatch.objects.get(scheme=scheme)
    assert batch.channel_partner == partner
    page = admin_client.get(reverse("admin:rewards_codebatch_change", args=[batch.pk]))
    assert "North region" in page.content.decode()


def _queries(client, url: str) -> int:
    client.get(url)
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


def test_the_batch_list_shows_partners_without_a_query_per_row(admin_client):
    url = reverse("admin:rewards_codebatch_changelist")
    scheme = InstantWinSchemeFactory()

    def batch() -> None:
        partner = ChannelPartnerFactory(client=scheme.client)
        code_batch_generate(
            scheme=scheme, size=1, actor="tests", inline=True, channel_partner=partner
        )

    for _ in range(2):
        batch()
    few = _queries(admin_client, url)
    for _ in range(4):
        batch()

    assert _queries(admin_client, url) == few


def test_the_backfill_gives_older_claims_their_campaigns_partner_and_can_run_twice():
    prize = PrizeFactory(scheme=InstantWinSchemeFactory())
    partner = ChannelPartnerFactory(client=prize.scheme.client)
    claim = draft_claim(code=winning_code(prize), complete=False)
    CampaignReviewSettings.objects.create(scheme=prize.scheme, channel_partner=partner)
    kept = draft_claim(code=winning_code(prize), complete=False)
    other = ChannelPartnerFactory(client=prize.scheme.client)
    Claim.objects.filter(pk=kept.pk).update(channel_partner=other)
    assert Claim.objects.get(pk=claim.pk).channel_partner is None
    migration = importlib.import_module("claims.migrations.0005_backfill_claim_channel_partner")

    for _ in range(2):
        migration.backfill_channel_partner(django_apps, None)

    assert Claim.objects.get(pk=claim.pk).channel_partner == partner
    assert Claim.objects.get(pk=kept.pk).channel_partner == other
