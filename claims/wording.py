"""What the portal and the API tell a customer, in their language, about outcomes that are
not errors of the request itself."""

from django.utils import translation
from django.utils.translation import gettext as _

from claims.services import CodeOutcome, VerifyOutcome


def code_refusal_message(outcome: CodeOutcome) -> str:
    """Why a code did not start a claim, in plain words (and in the customer's language)."""
    return {
        CodeOutcome.UNKNOWN: _(
            "We cannot find that code. Check each character on your card and try again."
        ),
        CodeOutcome.INVALID_FORMAT: _(
            "That is not a valid code. A code has 13 letters and digits, like "
            "ABCD-EFGH-JKLM-N, and never contains 0, 1, I or O. Check each character."
        ),
        CodeOutcome.VOID: _("This code has been cancelled and can no longer be used."),
        CodeOutcome.ALREADY_CLAIMED: _("This code has already been used."),
        CodeOutcome.NOT_STARTED: _("This campaign has not started yet. Try again later."),
        CodeOutcome.CAMPAIGN_ENDED: _(
            "This campaign has ended, so its codes can no longer be entered."
        ),
        CodeOutcome.DEADLINE_PASSED: _(
            "The deadline for claiming prizes in this campaign has passed."
        ),
        CodeOutcome.NOT_WINNING: _(
            "Sorry, this code did not win a prize. Thank you for taking part!"
        ),
        CodeOutcome.DRAW_ENTERED: _(
            "Your code is entered in the prize draw. We will tell you if you win. Good luck!"
        ),
        CodeOutcome.ALREADY_IN_DRAW: _("You have already entered this code in the prize draw."),
        CodeOutcome.NO_OPEN_DRAW: _(
            "No prize draw is open for entries right now. Your code has not been used: "
            "try again later."
        ),
        CodeOutcome.OUT_OF_STOCK: _(
            "This code wins a prize that is no longer in stock. Please contact customer "
            "service; your code has not been used."
        ),
    }.get(outcome, _("We could not use that code. Check it and try again."))


def verify_error_message(outcome: VerifyOutcome, tries_left: int) -> str:
    """Why a sign-in code was not accepted, and what to do."""
    if outcome == VerifyOutcome.WRONG_CODE:
        return (
            _("That code is not right. Check it and try again.")
            + " "
            + (
                translation.ngettext(
                    "You have %(count)d try left.", "You have %(count)d tries left.", tries_left
                )
                % {"count": tries_left}
            )
        )
    if outcome == VerifyOutcome.TOO_MANY_FAILURES:
        return _(
            "The code was entered wrongly too many times and no longer works. Ask for a new code."
        )
    if outcome == VerifyOutcome.WAIT:
        return _("Wait a few seconds, then try the code again.")
    if outcome == VerifyOutcome.ACCOUNT_CLOSED:
        return _("This account is closed. Please contact customer service.")
    return _("This code has expired or has already been used. Ask for a new code.")
