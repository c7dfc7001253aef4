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
