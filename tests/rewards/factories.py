"""Factories for rewards: schemes with merchants, products, offers, participants (through
the join service, so each has its wallet) and integrator API keys."""

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone

from rewards.models import (
    Merchant,
    MerchantGroup,
    Offer,
    Product,
    ProductCategory,
    Scheme,
    SchemeMerchant,
)
from rewards.services.api_keys import api_key_create
from rewards.services.participants import participant_join
from tests.crm.factories import ClientFactory, CustomerFactory


class SchemeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scheme

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Loyalty {n}")
    code = factory.Sequence(lambda n: f"loyalty-{n}")
    kind = Scheme.Kind.LOYALTY
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    time_zone = "Europe/Stockholm"


class MerchantGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MerchantGroup

    name = factory.Sequence(lambda n: f"Chain {n}")
    code = factory.Sequence(lambda n: f"chain-{n}")


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Shop {n}")
    code = factory.Sequence(lambda n: f"shop-{n}")


def merchant_in(scheme: Scheme, **fields: Any) -> Merchant:
    merchant = MerchantFactory(**fields)
    SchemeMerchant.objects.create(scheme=scheme, merchant=merchant)
    return merchant


class ProductCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductCategory

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Category {n}")
    code = factory.Sequence(lambda n: f"category-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    code = factory.Sequence(lambda n: f"SKU{n:05d}")


PERCENT_10 = {"award": {"type": "percentage", "basis_points": 1000}}


class OfferFactory(factory.django.DjangoModelFactory):
    """An effective purchase offer awarding 10% of the total, available at once, never
    expiring, unless told otherwise."""

    class Meta:
        model = Offer

    scheme = factory.SubFactory(SchemeFactory)
    name = factory.Sequence(lambda n: f"Offer {n}")
    code = factory.Sequence(lambda n: f"offer-{n}")
    classification = "purchase_amount"
    status = Offer.Status.EFFECTIVE
    rules = factory.LazyFunction(lambda: dict(PERCENT_10))


def make_participant(scheme: Scheme, **fields: Any):
    """A participant with its wallet, through the join service."""
    customer = fields.pop("customer", None) or CustomerFactory()
    return participant_join(scheme=scheme, customer=customer, actor="tests", **fields)


def make_api_key(merchant: Merchant) -> str:
    _api_key, key = api_key_create(merchant=merchant, actor="tests")
    return key


# --- codes, prizes and draws ----------------------------------------------------------------

from rewards.models import Prize  # noqa: E402  (appended section)


class InstantWinSchemeFactory(SchemeFactory):
    """An instant-win campaign that started yesterday, ends in 30 days and takes claims
    for 60."""

    name = factory.Sequence(lambda n: f"Scratch card {n}")
    code = factory.Sequence(lambda n: f"scratch-{n}")
    kind = Scheme.Kind.INSTANT_WIN
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    claim_deadline_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=60))


class LuckyDrawSchemeFactory(InstantWinSchemeFactory):
    name = factory.Sequence(lambda n: f"Lucky draw {n}")
    code = factory.Sequence(lambda n: f"lucky-{n}")
    kind = Scheme.Kind.LUCKY_DRAW


class PrizeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prize

    scheme = factory.SubFactory(InstantWinSchemeFactory)
    name = factory.Sequence(lambda n: f"Prize {n}")
    kind = Prize.Kind.PHYSICAL
    quantity_total = 100


def make_code_batch(scheme: Scheme, size: int, prize_plan: dict[int, int] | None = None):
    """A ready batch of ``size`` codes, generated inline through the service."""
    from rewards.services.codes import code_batch_generate

    return code_batch_generate(
        scheme=scheme, size=size, actor="tests", prize_plan=prize_plan, inline=True
    )


def make_draw(
    scheme: Scheme,
    prize: Prize | None = None,
    *,
    winners: int = 1,
    reserves: int = 0,
    closes_in: timedelta = timedelta(days=1),
    **fields: Any,
):
    """A draw scheduled through the service (so its seed hash is published and audited)."""
    from rewards.services.draws import draw_schedule

    return draw_schedule(
        scheme=scheme,
        prize=prize or PrizeFactory(scheme=scheme),
        winners_count=winners,
        reserves_count=reserves,
        entries_close_at=timezone.now() + closes_in,
        actor="tests",
        **fields,
    )


def queued_purchases(
    scheme: Scheme,
    merchant: Merchant,
    participants: list[Any],
    count: int,
    *,
    total_minor: int = 1000,
    occurred_at: Any = None,
    source: str = "pos",
    prefix: str = "q",
) -> list[int]:
    """``count`` purchase events queued for the evaluation run, spread round-robin over
    ``participants``, inserted in bulk exactly as event_submit stores a queued event."""
    from rewards.models import CustomerEvent
    from rewards.services.events import EventInput
    from rewards.services.ledger import canonical_hash

    now = timezone.now()
    occurred_at = occurred_at or now
    rows = []
    for index in range(count):
        participant = participants[index % len(participants)]
        event = EventInput(
            source=source,
            external_id=f"{prefix}-{index}",
            type="purchase",
            participant_id=participant.pk,
            occurred_at=occurred_at,
            merchant=merchant,
            total_minor=total_minor,
        )
        payload = event.canonical()
        rows.append(
            CustomerEvent(
                scheme=scheme,
                participant_id=participant.pk,
                merchant=merchant,
                source=source,
                external_id=event.external_id,
                type="purchase",
                occurred_at=occurred_at,
                received_at=now,
                total_minor=total_minor,
                payload=payload,
                payload_hash=canonical_hash(payload),
                status=CustomerEvent.Status.QUEUED,
                response={"status": "queued", "awards": []},
            )
        )
    return [event.pk for event in CustomerEvent.objects.bulk_create(rows, batch_size=1000)]
