"""Domain errors of the rewards services. Each carries a stable ``code`` (integrators
depend on it) and a message for people; rewards.api turns them into JSON responses."""


class RewardsError(Exception):
    code = "rewards_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(RewardsError):
    code = "invalid"


class InsufficientFunds(RewardsError):
    code = "insufficient_funds"


class SpendNotAllowed(RewardsError):
    code = "spend_not_allowed"


class IdempotencyConflict(RewardsError):
    code = "idempotency_conflict"


class ParticipantNotEffective(RewardsError):
    code = "participant_not_effective"


class AlreadyParticipant(RewardsError):
    code = "already_participant"


class ReversalNotAllowed(RewardsError):
    code = "reversal_not_allowed"


class UnbalancedJournal(RewardsError):
    code = "unbalanced_journal"


class InvalidTransition(RewardsError):
    code = "invalid_transition"


class MakerCheckerViolation(RewardsError):
    code = "maker_checker"


class IdentifierTaken(RewardsError):
    code = "identifier_taken"
