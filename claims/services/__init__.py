"""Every write the claims app makes, one function per use case (see docs/CLAIMS.md).

- ``sign_in``: one-time-code sign-in for customers.
- ``claiming``: entering a code, the claim form, documents.
- ``transitions``: the claim state machine, one service per move.
- ``forfeiture``: claims whose deadline passed.
"""

from claims.services.claiming import (
    CodeEntry,
    CodeOutcome,
    claim_details_update,
    claim_document_add,
    claim_document_kinds_open,
    claim_start_from_code,
    claim_start_from_draw_result,
)
from claims.services.forfeiture import claims_forfeit_overdue
from claims.services.sign_in import (
    SignInPurge,
    VerifyOutcome,
    VerifyResult,
    sign_in_code_issue,
    sign_in_code_verify,
    sign_in_data_purge,
)
from claims.services.transitions import (
    ALLOWED_MOVES,
    TRANSITIONS,
    ClaimPermissionError,
    ClaimTransitionError,
    Transition,
    claim_approve,
    claim_deliver,
    claim_dispatch,
    claim_documents_still_requested,
    claim_forfeit,
    claim_lock,
    claim_mark_returned,
    claim_missing_items,
    claim_propose,
    claim_reject,
    claim_release,
    claim_request_resubmission,
    claim_resubmit,
    claim_send_back,
    claim_start_review,
    claim_submit,
    transition_rule_add,
    transition_rule_remove,
)

__all__ = [
    "ALLOWED_MOVES",
    "TRANSITIONS",
    "ClaimPermissionError",
    "ClaimTransitionError",
    "CodeEntry",
    "CodeOutcome",
    "SignInPurge",
    "Transition",
    "VerifyOutcome",
    "VerifyResult",
    "claim_approve",
    "claim_deliver",
    "claim_details_update",
    "claim_dispatch",
    "claim_document_add",
    "claim_document_kinds_open",
    "claim_documents_still_requested",
    "claim_forfeit",
    "claim_lock",
    "claim_mark_returned",
    "claim_missing_items",
    "claim_propose",
    "claim_reject",
    "claim_release",
    "claim_request_resubmission",
    "claim_resubmit",
    "claim_send_back",
    "claim_start_from_code",
    "claim_start_from_draw_result",
    "claim_start_review",
    "claim_submit",
    "claims_forfeit_overdue",
    "sign_in_code_issue",
    "sign_in_code_verify",
    "sign_in_data_purge",
    "transition_rule_add",
    "transition_rule_remove",
]
