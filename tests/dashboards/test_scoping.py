"""dashboards.scoping case by case: who gets which scope, who is refused, and what a scope
lets through."""

import pytest
from django.contrib.auth.models import Group

from crm.models import StaffProfile
from crm.roles import Role
from dashboards.models import LedgerMonth
from dashboards.scoping import NoDashboardAccess, Scope, partner_is, scope_for_user
from dashboards.services import rollups_refresh
from rewards.models import CodeBatch, Scheme
from tests.claims.factories import InstantWinSchemeFactory, PrizeFactory, draft_claim, winning_code
from tests.crm.factories import ChannelPartnerFactory, UserFactory, staff_user
from tests.dashboards.conftest import client_manager_of
from tests.rewards.factories import SchemeFactory
from verification.models import CampaignReviewSettings

pytestmark = pytest.mark.django_db


def test_an_operator_sees_every_client(operator):
    scope = scope_for_user(operator)

    assert scope == Scope(operator.pk, None, None, may_view_loyalty_board=True)
    assert scope.is_everything


def test_a_superuser_sees_every_client():
    user = UserFactory(is_superuser=True, is_staff=True)

    assert scope_for_user(user) == Scope(user.pk, None, None, may_view_loyalty_board=True)


def test_a_client_manager_sees_their_client():
    user = staff_user(Role.CLIENT_MANAGER)
    client_id = user.staff_profile.client_id

    scope = scope_for_user(user)

    assert scope == Scope(user.pk, client_id, None, may_view_loyalty_board=True)
    assert not scope.is_everything


def test_a_channel_partner_sees_their_partner_of_their_client():
    user = staff_user(Role.CHANNEL_PARTNER)
    profile = user.staff_profile

    scope = scope_for_user(user)

    assert scope == Scope(
        user.pk, profile.client_id, profile.channel_partner_id, may_view_loyalty_board=False
    )
    assert scope.is_partner_limited


@pytest.mark.parametrize("role", [Role.HELPDESK, Role.VERIFIER, Role.CHECKER])
def test_staff_without_the_dashboard_permission_are_refused(role):
    with pytest.raises(NoDashboardAccess):
        scope_for_user(staff_user(role))


def test_a_user_who_is_not_staff_is_refused():
    user = UserFactory()
    user.groups.add(Group.objects.get(name=Role.OPERATOR))  # even holding the permission

    with pytest.raises(NoDashboardAccess):
        scope_for_user(user)


def test_an_inactive_user_is_refused(operator):
    operator.is_active = False

    with pytest.raises(NoDashboardAccess):
        scope_for_user(operator)


def test_a_client_manager_without_a_client_is_refused_not_given_everything():
    user = staff_user(Role.CLIENT_MANAGER)
    user.staff_profile.client = None
    user.staff_profile.save(update_fields=["client"])

    with pytest.raises(NoDashboardAccess):
        scope_for_user(user)


def test_a_channel_partner_without_a_partner_is_refused_not_given_the_whole_client():
    user = staff_user(Role.CHANNEL_PARTNER)
    user.staff_profile.channel_partner = None
    user.staff_profile.save(update_fields=["channel_partner"])

    with pytest.raises(NoDashboardAccess):
        scope_for_user(user)


def test_a_client_manager_tied_to_a_partner_is_limited_to_that_partner():
    partner = ChannelPartnerFactory()
    user = staff_user(Role.CLIENT_MANAGER)
    user.staff_profile.client = partner.client
    user.staff_profile.channel_partner = partner
    user.staff_profile.save(update_fields=["client", "channel_partner"])

    scope = scope_for_user(user)

    assert (scope.client_id, scope.channel_partner_id) == (partner.client_id, partner.pk)
    with pytest.raises(NoDashboardAccess):
        scope.require_loyalty_board()


def test_schemes_are_narrowed_to_the_client(ledger, operator):
    manager = client_manager_of(ledger.client_a)
    instant_win = SchemeFactory(client=ledger.client_a, kind=Scheme.Kind.INSTANT_WIN)

    assert set(scope_for_user(operator).loyalty_schemes()) == {ledger.scheme_a, ledger.scheme_b}
    assert set(scope_for_user(manager).schemes()) == {ledger.scheme_a, instant_win}
    assert list(scope_for_user(manager).loyalty_schemes()) == [ledger.scheme_a]


def test_restrict_keeps_only_the_clients_rows(ledger, operator):
    rollups_refresh()
    manager = client_manager_of(ledger.client_b)

    everything = scope_for_user(operator).restrict(LedgerMonth.objects.all())
    client_b = scope_for_user(manager).restrict(LedgerMonth.objects.all())

    assert {row.scheme_id for row in everything} == {ledger.scheme_a.pk, ledger.scheme_b.pk}
    assert {row.scheme_id for row in client_b} == {ledger.scheme_b.pk}


def test_a_partner_scope_sees_none_of_the_rows_without_a_partner(ledger):
    rollups_refresh()
    partner_user = staff_user(Role.CHANNEL_PARTNER)
    partner_user.staff_profile.client = ledger.client_a
    partner_user.staff_profile.channel_partner = ChannelPartnerFactory(client=ledger.client_a)
    partner_user.staff_profile.save(update_fields=["client", "channel_partner"])

    scope = scope_for_user(partner_user)

    assert LedgerMonth.objects.filter(scheme=ledger.scheme_a).exists()
    assert not scope.restrict(LedgerMonth.objects.all()).exists()
    assert not scope.loyalty_schemes().exists()
    with pytest.raises(NoDashboardAccess):
        scope.require_loyalty_board()


def test_restrict_follows_the_partner_path_when_rows_have_one():
    # Staff profiles name a client and a partner, like the claims rows will: a scope keeps
    # the rows of its own partner only (scheme_field here is the path to the client's id).
    partner = ChannelPartnerFactory()
    other_partner = ChannelPartnerFactory(client=partner.client)
    mine = staff_user(Role.CHANNEL_PARTNER)
    mine.staff_profile.client, mine.staff_profile.channel_partner = partner.client, partner
    mine.staff_profile.save(update_fields=["client", "channel_partner"])
    theirs = staff_user(Role.CHANNEL_PARTNER)
    theirs.staff_profile.client = partner.client
    theirs.staff_profile.channel_partner = other_partner
    theirs.staff_profile.save(update_fields=["client", "channel_partner"])
    scope = scope_for_user(mine)

    rows = scope.restrict(
        StaffProfile.objects.filter(channel_partner__isnull=False),
        scheme_field="channel_partner",
        partner_field="channel_partner",
    )

    assert list(rows) == [mine.staff_profile]


def _code_batch(scheme, partner=None):
    return CodeBatch.objects.create(
        scheme=scheme, size=1, status=CodeBatch.Status.READY, channel_partner=partner
    )


def test_a_partners_campaigns_are_those_where_something_is_theirs():
    # Review settings naming the partner; a code batch of theirs; a claim of theirs (made
    # through the campaign's partner, then the settings changed); none of these.
    partner = ChannelPartnerFactory()
    other = ChannelPartnerFactory(client=partner.client)
    by_settings, by_batch, by_claim, not_theirs, loyalty = (
        InstantWinSchemeFactory(client=partner.client),
        InstantWinSchemeFactory(client=partner.client),
        InstantWinSchemeFactory(client=partner.client),
        InstantWinSchemeFactory(client=partner.client),
        SchemeFactory(client=partner.client, kind=Scheme.Kind.LOYALTY),
    )
    CampaignReviewSettings.objects.create(scheme=by_settings, channel_partner=partner)
    _code_batch(by_batch, partner)
    _code_batch(not_theirs, other)
    CampaignReviewSettings.objects.create(scheme=not_theirs, channel_partner=other)
    settings = CampaignReviewSettings.objects.create(scheme=by_claim, channel_partner=partner)
    claim = draft_claim(code=winning_code(PrizeFactory(scheme=by_claim)), complete=False)
    settings.channel_partner = other
    settings.save(update_fields=["channel_partner"])
    assert claim.channel_partner == partner
    user = staff_user(Role.CHANNEL_PARTNER)
    user.staff_profile.client, user.staff_profile.channel_partner = partner.client, partner
    user.staff_profile.save(update_fields=["client", "channel_partner"])

    campaigns = set(scope_for_user(user).campaigns())

    assert campaigns == {by_settings, by_batch, by_claim}
    assert loyalty not in set(scope_for_user(client_manager_of(partner.client)).campaigns())


def test_a_codes_partner_is_its_batchs_else_its_campaigns():
    partner = ChannelPartnerFactory()
    other = ChannelPartnerFactory(client=partner.client)
    campaign = InstantWinSchemeFactory(client=partner.client)
    CampaignReviewSettings.objects.create(scheme=campaign, channel_partner=partner)
    unnamed, mine, theirs = (
        _code_batch(campaign),
        _code_batch(campaign, partner),
        _code_batch(campaign, other),
    )

    rows = CodeBatch.objects.filter(
        partner_is(("channel_partner", "scheme__review_settings__channel_partner"), partner.pk)
    )

    assert set(rows) == {unnamed, mine}
    assert theirs not in set(rows)
