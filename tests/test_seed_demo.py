"""seed_demo: the demo data loads, loads again without changing anything, and is refused on
production settings."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from crm.models import AuditEvent, ChannelPartner, Client, Customer
from rewards.models import Code, Draw, Journal, Participant, Prize, Scheme

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Client,
            ChannelPartner,
            Customer,
            User,
            Scheme,
            Prize,
            Code,
            Draw,
            Participant,
            Journal,
        )
    }


def _balances() -> list[tuple[int, int]]:
    return sorted(
        Participant.objects.values_list("pk", "wallet__balance_minor")  # type: ignore[arg-type]
    )


def test_seed_demo_builds_every_role_and_campaign(settings):
    settings.DEBUG = True

    call_command("seed_demo", stdout=io.StringIO())

    assert Client.objects.get(code="nordic-snacks").channel_partners.count() == 2
    assert Code.objects.filter(scheme__code="summer-scratch").count() == 1000
    assert Code.objects.filter(scheme__code="summer-scratch", prize__isnull=False).exists()
    assert Scheme.objects.filter(kind=Scheme.Kind.LOYALTY).count() == 1
    assert Draw.objects.count() == 1
    assert sorted(User.objects.values_list("groups__name", flat=True)) == sorted(
        ["operator", "helpdesk", "verifier", "checker", "client_manager", "channel_partner"]
    )
    assert Journal.objects.filter(kind="award").exists()
    assert Journal.objects.filter(kind="spend").count() == Participant.objects.count()


def test_seed_demo_twice_changes_nothing(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    counts, balances = _counts(), _balances()

    call_command("seed_demo", stdout=io.StringIO())

    assert _counts() == counts
    assert _balances() == balances


def test_seed_demo_is_refused_on_production_settings(settings):
    settings.DEBUG = False
    settings.EMBEDDED = False
    events_before = AuditEvent.objects.count()

    with pytest.raises(CommandError, match="Refusing on production settings"):
        call_command("seed_demo", stdout=io.StringIO())

    assert User.objects.count() == 0
    assert Client.objects.count() == 0
    assert AuditEvent.objects.count() == events_before
