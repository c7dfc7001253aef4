"""The fingerprint that binds a proposal to the claim as the maker reviewed it.

It covers everything a decision rests on: the claim form, what won it, its customer's
identity and contact details, and its current documents (by content hash). Any change to
these after a proposal gives another fingerprint, and the proposal can no longer be
confirmed.
"""

import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from claims.models import Claim, ClaimDocument
from crm.models import Customer

CLAIM_FIELDS = (
    "number",
    "customer_id",
    "code_id",
    "draw_result_id",
    "scheme_id",
    "prize_id",
    "full_name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "national_id",
    "reference",
)
CUSTOMER_FIELDS = ("first_name", "last_name", "phone", "email", "merged_into_id")


def claim_fingerprint_content(claim_id: int) -> dict[str, Any]:
    """What the fingerprint hashes, read fresh from the database."""
    claim = Claim.objects.values(*CLAIM_FIELDS).get(pk=claim_id)
    customer = Customer.objects.values(*CUSTOMER_FIELDS).get(pk=claim["customer_id"])
    documents = [
        list(row)
        for row in ClaimDocument.objects.filter(claim_id=claim_id, superseded_at__isnull=True)
        .order_by("kind", "pk")
        .values_list("pk", "kind", "sha256", "size_bytes")
    ]
    return {"claim": claim, "customer": customer, "documents": documents}


def claim_fingerprint(claim_id: int) -> str:
    content = claim_fingerprint_content(claim_id)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()
