"""The customer portal's pages: sign-in (``sign_in``) and claims (``portal``)."""

from claims.views.portal import (
    claim_details,
    claim_document,
    claim_documents,
    claim_draw_win,
    claim_resubmit_view,
    claim_review,
    claim_status,
    enter_code,
    home,
)
from claims.views.sign_in import sign_in, sign_in_code, sign_in_resend, sign_out

__all__ = [
    "claim_details",
    "claim_document",
    "claim_documents",
    "claim_draw_win",
    "claim_resubmit_view",
    "claim_review",
    "claim_status",
    "enter_code",
    "home",
    "sign_in",
    "sign_in_code",
    "sign_in_resend",
    "sign_out",
]
