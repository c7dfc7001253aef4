import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from rewards.models import Account, AwardLot, Journal
from tests.rewards.factories import SchemeFactory, make_api_key, make_participant, merchant_in


@pytest.fixture
def scheme(db):
    return SchemeFactory()


@pytest.fixture
def merchant(scheme):
    return merchant_in(scheme, area="north")


@pytest.fixture
def participant(scheme):
    return make_participant(scheme)


@pytest.fixture
def api(client, merchant):
    """Calls the integrators' API with a key of ``merchant``: ``api(method, url, body)``."""
    key = make_api_key(merchant)

    def call(method, url, body=None, key=key):
        headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"} if key else {}
        if method == "get":
            return client.get(url, body or {}, **headers)
        return client.post(url, json.dumps(body), content_type="application/json", **headers)

    return call


def wallet_of(participant) -> Account:
    return Account.objects.get(participant=participant)


def balance_of(participant) -> int:
    return wallet_of(participant).balance_minor


def lots_of(participant) -> list[AwardLot]:
    return list(AwardLot.objects.filter(account__participant=participant).order_by("pk"))


def assert_ledger_consistent() -> None:
    """Every journal sums to zero, every wallet's cached balance is the sum of its entries,
    no lot is over-consumed, and a wallet's open lots hold exactly its positive balance."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT journal_id, sum(amount_minor) FROM rewards_entry GROUP BY journal_id "
            "HAVING sum(amount_minor) <> 0"
        )
        assert cursor.fetchall() == []
        cursor.execute("SELECT COALESCE(sum(amount_minor), 0) FROM rewards_entry")
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            """
            SELECT a.id, a.balance_minor, COALESCE(e.total, 0), COALESCE(l.open, 0)
              FROM rewards_account a
              LEFT JOIN (SELECT account_id, sum(amount_minor) AS total FROM rewards_entry
                          GROUP BY account_id) e ON e.account_id = a.id
              LEFT JOIN (SELECT account_id,
                                sum(amount_minor - consumed_minor - expired_minor
                                    - reversed_minor) AS open
                           FROM rewards_awardlot GROUP BY account_id) l ON l.account_id = a.id
             WHERE a.kind = 'wallet'
            """
        )
        for account_id, cached, summed, open_lots in cursor.fetchall():
            assert cached == summed, f"wallet {account_id}: cached {cached} != entries {summed}"
            assert open_lots == max(cached, 0), f"wallet {account_id}: lots {open_lots}"
        cursor.execute(
            "SELECT count(*) FROM rewards_awardlot WHERE consumed_minor + expired_minor "
            "+ reversed_minor > amount_minor OR consumed_minor < 0 OR expired_minor < 0 "
            "OR reversed_minor < 0"
        )
        assert cursor.fetchone()[0] == 0


def award(participant, amount_minor, *, available_in_days=0, expires_in_days=None, offer=None):
    """Posts a plain award journal for tests (what an event's award posts)."""

    with transaction.atomic():
        return _award(participant, amount_minor, available_in_days, expires_in_days, offer)


def _award(participant, amount_minor, available_in_days, expires_in_days, offer):
    from rewards.services.ledger import NewLot, Posting, ledger_post, wallet_lock

    now = timezone.now()
    wallet = wallet_lock(participant_id=participant.pk)
    posting = Posting(
        scheme_id=wallet.scheme_id,
        kind=Journal.Kind.AWARD,
        idempotency_key=f"test-award:{participant.pk}:{Journal.objects.count()}:{now.timestamp()}",
        posted_at=now,
        participant_id=participant.pk,
    )
    posting.new_lots.append(
        NewLot(
            account_id=wallet.account_id,
            amount_minor=amount_minor,
            available_from=now + timedelta(days=available_in_days),
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
            offer_id=offer.pk if offer else None,
        )
    )
    posting.add_wallet_entry(wallet.account_id, amount_minor, ("new", 0))
    posting.add_entry(wallet.system_accounts["points_issued"], -amount_minor)
    return ledger_post(posting=posting)


_external_ids = iter(range(1, 10**9))


def purchase(participant, merchant, total_minor, *, external_id=None, occurred_at=None, lines=()):
    from rewards.services.events import EventInput, LineInput, event_submit

    response, _created = event_submit(
        event=EventInput(
            source="pos",
            external_id=external_id or f"p-{next(_external_ids)}",
            type="purchase",
            participant_id=participant.pk,
            occurred_at=occurred_at or timezone.now(),
            merchant=merchant,
            lines=tuple(LineInput(*line) for line in lines),
            total_minor=total_minor,
        )
    )
    return response


def refund(participant, merchant, total_minor, *, original_external_id, external_id=None):
    from rewards.services.events import EventInput, event_submit

    response, _created = event_submit(
        event=EventInput(
            source="pos",
            external_id=external_id or f"r-{next(_external_ids)}",
            type="refund",
            participant_id=participant.pk,
            occurred_at=timezone.now(),
            merchant=merchant,
            total_minor=total_minor,
            original_external_id=original_external_id,
        )
    )
    return response
