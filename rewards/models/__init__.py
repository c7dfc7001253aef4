"""The rewards app's models, one module per concept; import them from here."""

from rewards.models.catalog import (
    ApiKey,
    Merchant,
    MerchantGroup,
    Prize,
    Product,
    ProductCategory,
    Scheme,
    SchemeMerchant,
    api_key_hash,
)
from rewards.models.codes import Code, CodeBatch
from rewards.models.draws import Draw, DrawEntry, DrawResult
from rewards.models.events import CustomerEvent
from rewards.models.ledger import SYSTEM_ACCOUNT_KINDS, Account, AwardLot, Entry, Journal
from rewards.models.offers import (
    Classification,
    Offer,
    OfferActivation,
    OfferCategory,
    OfferTemplate,
    OfferType,
)
from rewards.models.participants import Participant, ParticipantIdentifier
from rewards.models.runs import Run
from rewards.models.settlement import SettlementLine, SettlementPeriod

__all__ = [
    "SYSTEM_ACCOUNT_KINDS",
    "Account",
    "ApiKey",
    "AwardLot",
    "Classification",
    "Code",
    "CodeBatch",
    "CustomerEvent",
    "Draw",
    "DrawEntry",
    "DrawResult",
    "Entry",
    "Journal",
    "Merchant",
    "MerchantGroup",
    "Offer",
    "OfferActivation",
    "OfferCategory",
    "OfferTemplate",
    "OfferType",
    "Participant",
    "ParticipantIdentifier",
    "Prize",
    "Product",
    "ProductCategory",
    "Run",
    "Scheme",
    "SchemeMerchant",
    "SettlementLine",
    "SettlementPeriod",
    "api_key_hash",
]
