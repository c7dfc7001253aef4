"""The verification app's one domain exception, with a code for callers that branch on it."""


class VerificationError(Exception):
    """A review, decision or fulfilment step that is not allowed. ``str(error)`` is a
    sentence a person can act on; ``code`` is for code (the API returns it)."""

    def __init__(self, message: str, *, code: str = "not_allowed") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class VerificationPermissionError(VerificationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="permission_denied")
