"""A small loyalty ledger built through the rewards services, with its figures computed by
hand, and staff of every role signed in the way the staff sign-in leaves them."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django_otp import DEVICE_ID_SESSION_KEY

from crm.roles import Role
from rewards.models import Journal, Offer, Participant, Scheme
from rewards.services.ledger import journal_reverse, lots_expire
from rewards.services.participants import participant_terminate
from rewards.services.spends import spend_create
from tests.crm.factories import ClientFactory, UserFactory, give_totp_device, staff_user
from tests.rewards.conftest import purchase
from tests.rewards.factories import OfferFactory, SchemeFactory, make_participant, merchant_in

PLAIN_STATIC_FILES = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

AUG, SEP, OCT = date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Pages link their assets through the manifest storage, which needs collectstatic;
    the tests serve the files under their own names instead."""
    settings.STORAGES = {**settings.STORAGES, "staticfiles": PLAIN_STATIC_FILES}


@pytest.fixture(autouse=True)
def _otp_required(settings):
    settings.STAFF_OTP_REQUIRED = True


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def spend(participant, merchant, amount_minor: int, key: str) -> int:
    result, _created = spend_create(
        participant_id=participant.pk,
        amount_minor=amount_minor,
        merchant=merchant,
        idempotency_key=key,
    )
    return result["id"]


@dataclass
class Ledger:
    """Scheme A of client A (points, Europe/Stockholm) with four participants, and scheme B
    of client B with one; ``expected`` holds scheme A's figures worked out by hand."""

    client_a: Any
    client_b: Any
    scheme_a: Scheme
    scheme_b: Scheme
    merchants: dict[str, Any]
    offers: dict[str, Offer]
    participants: dict[str, Participant] = field(default_factory=dict)


def build_ledger(operator) -> Ledger:
    """Postings, by time (UTC); O1 awards 10 % expiring after 30 days, O2 a fixed 5:

    Aug 3   P1 joins at M1, P2 at M2, P3 at no unit
    Aug 5   P1 buys 1000 at M1: award 100 (O1) + 5 (O2)
    Aug 6   P2 buys 400 at M2: award 40 + 5
    Aug 31 23:30 UTC (Sep 1 in Stockholm)  P3 buys 200 at M1: award 20 + 5
    Sep 2   P1 spends 60 (from the O1 lot)
    Sep 10  expiration run: P1's 40 and P2's 40 left on their O1 lots (two journals)
    Sep 15  P2 terminated (fraud)
    Sep 20  P3 spends 10; Sep 21 that spend is reversed
    Oct 5   P4 joins at M1 and buys 300 at M2: award 30 + 5
    Oct 6   P1 buys 100 at M1: award 10 + 5
    Oct 20  P3 terminated (inactivity)
    Scheme B: Aug 4 Q1 joins, Aug 7 buys 5000: award 500 (its own 10 % offer).
    """
    with time_machine.travel(at("2026-07-01"), tick=False):
        client_a, client_b = ClientFactory(), ClientFactory()
        scheme_a = SchemeFactory(client=client_a, starts_at=at("2026-07-01"))
        scheme_b = SchemeFactory(client=client_b, starts_at=at("2026-07-01"))
        merchants = {
            "M1": merchant_in(scheme_a, name="Shop North"),
            "M2": merchant_in(scheme_a, name="Shop South"),
            "MB": merchant_in(scheme_b, name="Shop B"),
        }
        offers = {
            "O1": OfferFactory(
                scheme=scheme_a,
                name="Ten percent back",
                rules={
                    "award": {"type": "percentage", "basis_points": 1000},
                    "award_validity": {"expires_after_days": 30},
                },
            ),
            "O2": OfferFactory(
                scheme=scheme_a,
                name="Five for a visit",
                rules={"award": {"type": "fixed", "amount_minor": 5}},
            ),
            "OB": OfferFactory(scheme=scheme_b, name="B's ten percent"),
        }
    ledger = Ledger(client_a, client_b, scheme_a, scheme_b, merchants, offers)
    people = ledger.participants
    m1, m2 = merchants["M1"], merchants["M2"]

    def travel(moment: datetime):
        return time_machine.travel(moment, tick=False)

    with travel(at("2026-08-03")):
        people["P1"] = make_participant(scheme_a, sign_up_merchant=m1)
        people["P2"] = make_participant(scheme_a, sign_up_merchant=m2)
        people["P3"] = make_participant(scheme_a)
    with travel(at("2026-08-04")):
        people["Q1"] = make_participant(scheme_b, sign_up_merchant=merchants["MB"])
    with travel(at("2026-08-05")):
        purchase(people["P1"], m1, 1000)
    with travel(at("2026-08-06")):
        purchase(people["P2"], m2, 400)
    with travel(at("2026-08-07")):
        purchase(people["Q1"], merchants["MB"], 5000)
    with travel(at("2026-08-31", 23, 30)):
        purchase(people["P3"], m1, 200)
    with travel(at("2026-09-02")):
        spend(people["P1"], m1, 60, "sep-2")
    with travel(at("2026-09-10")):
        lots_expire(scheme_id=scheme_a.pk, at=at("2026-09-10"))
    with travel(at("2026-09-15")):
        participant_terminate(participant=people["P2"], reason="fraud", actor=operator)
    with travel(at("2026-09-20")):
        spent = spend(people["P3"], m1, 10, "sep-20")
    with travel(at("2026-09-21")):
        journal_reverse(journal=Journal.objects.get(pk=spent), actor=operator, reason="Till error")
    with travel(at("2026-10-05")):
        people["P4"] = make_participant(scheme_a, sign_up_merchant=m1)
        purchase(people["P4"], m2, 300)
    with travel(at("2026-10-06")):
        purchase(people["P1"], m1, 100)
    with travel(at("2026-10-20")):
        participant_terminate(participant=people["P3"], reason="inactivity", actor=operator)
    return ledger


# Scheme A by hand (see build_ledger), month by month:
EXPECTED_MONTHS = {
    AUG: {
        "participants": 3,
        "sign_ups": 3,
        "terminations": 0,
        "awards": 2,
        "spends": 0,
        "expirations": 0,
        "awarded_minor": 150,
        "spent_minor": 0,
        "expired_minor": 0,
        "clawed_back_minor": 0,
        "awarded_not_spent_minor": 150,
        "liability_minor": 150,
    },
    SEP: {
        "participants": 2,
        "sign_ups": 0,
        "terminations": 1,
        "awards": 1,
        "spends": 1,  # two spends, one of them reversed
        "expirations": 2,
        "awarded_minor": 25,
        "spent_minor": 60,
        "expired_minor": 80,
        "clawed_back_minor": 0,
        "awarded_not_spent_minor": 115,  # 175 awarded - 60 spent
        "liability_minor": 35,  # 150 + 25 - 60 - 10 + 10 - 80
    },
    OCT: {
        "participants": 2,
        "sign_ups": 1,
        "terminations": 1,
        "awards": 2,
        "spends": 0,
        "expirations": 0,
        "awarded_minor": 50,
        "spent_minor": 0,
        "expired_minor": 0,
        "clawed_back_minor": 0,
        "awarded_not_spent_minor": 165,
        "liability_minor": 85,  # wallets: P1 20, P2 5, P3 25, P4 35
    },
}


@pytest.fixture
def operator(db):
    return staff_user(Role.OPERATOR)


@pytest.fixture
def ledger(operator) -> Ledger:
    return build_ledger(operator)


@pytest.fixture
def sign_in(client):
    """Signs ``user`` in on the test client with a verified TOTP device, as the staff
    sign-in leaves them."""

    def sign_in_user(user):
        device = give_totp_device(user)
        client.force_login(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return client

    return sign_in_user


def client_manager_of(client_record):
    """A client manager of ``client_record`` (staff_user makes a client of its own)."""
    user = staff_user(Role.CLIENT_MANAGER)
    user.staff_profile.client = client_record
    user.staff_profile.save(update_fields=["client"])
    return user


def plain_user():
    return UserFactory()
