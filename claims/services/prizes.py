"""The claims side of prize inventory and draws.

A prize is counted as won before its claim exists: an instant-win prize when its code is
entered (rewards.services.codes.code_enter), a draw prize when the draw runs. When a claim
ends without delivery (finally rejected, or forfeited at its deadline) the prize goes back:
an instant-win prize to stock, a draw prize to the draw's next reserve (rewards promotes and
notifies them; back to stock only when no reserve is left).
"""

from typing import Any

from django.utils.translation import gettext as _

from claims.models import Claim
from claims.services.errors import ClaimTransitionError
from rewards.models import DrawResult
from rewards.services.draws import draw_result_claim, draw_result_forfeit
from rewards.services.errors import InvalidTransition
from rewards.services.prizes import prize_release


def claim_prize_give_back(*, claim: Claim, actor: Any, reason: str) -> None:
    """Call inside the transaction that rejects or forfeits ``claim`` (holding its lock)."""
    if claim.draw_result_id is not None:
        # Forfeiting a result rewards has already forfeited (its own deadline run) is a no-op.
        draw_result_forfeit(result=DrawResult(pk=claim.draw_result_id), reason=reason, actor=actor)
        return
    prize_release(prize_id=claim.prize_id)


def claim_draw_result_record_claimed(*, claim: Claim, actor: Any) -> None:
    """Tells rewards that a draw winner has claimed in time (call when the claim is
    submitted, inside its transaction). Raises ClaimTransitionError when the draw result can
    no longer be claimed (forfeited, or its deadline passed)."""
    if claim.draw_result_id is None:
        return
    try:
        draw_result_claim(result=DrawResult(pk=claim.draw_result_id), actor=actor)
    except InvalidTransition as error:
        raise ClaimTransitionError(
            _("This prize can no longer be claimed: the time to claim it has ended."),
            code="draw_result_closed",
        ) from error
