"""Every write the verification app makes, one function per use case (docs/VERIFICATION.md).

- ``review``: locks, invoice details, the maker's proposal, the checker's decision.
- ``fulfilment``: release in batches, courier export, dispatch, issue, post, deliver.
"""

from verification.services.fulfilment import (
    courier_csv,
    fulfilment_item_complete,
    fulfilment_release,
    parcel_deliver,
    parcel_dispatch,
    prize_wallet_post,
    tracking_import,
)
from verification.services.review import (
    ProposalVoidedError,
    invoice_details_record,
    proposal_decide,
    proposal_make,
    proposals_decide_bulk,
    review_lock_release,
    review_lock_take,
)

__all__ = [
    "ProposalVoidedError",
    "courier_csv",
    "fulfilment_item_complete",
    "fulfilment_release",
    "invoice_details_record",
    "parcel_deliver",
    "parcel_dispatch",
    "prize_wallet_post",
    "proposal_decide",
    "proposal_make",
    "proposals_decide_bulk",
    "review_lock_release",
    "review_lock_take",
    "tracking_import",
]
