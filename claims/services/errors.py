"""The one domain exception of the claim services, and its permission flavour."""


class ClaimTransitionError(Exception):
    """A claim move that is not allowed: wrong status, wrong actor, or the claim is not
    ready for it. ``str(error)`` is a sentence a person can act on; ``code`` is for code."""

    def __init__(self, message: str, *, code: str = "not_allowed") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ClaimPermissionError(ClaimTransitionError):
    """The actor may not make this move."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="permission_denied")
