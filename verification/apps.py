from django.apps import AppConfig


class VerificationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "verification"

    def ready(self) -> None:
        from claims.selectors import claim_voucher_code_reader_set
        from claims.services.transitions import Transition, transition_rule_add
        from verification import rules
        from verification.services.fulfilment import claim_issued_voucher_code

        for transition in rules.DECISIONS:
            transition_rule_add(transition, rules.checker_is_not_maker)
        transition_rule_add(Transition.RELEASE, rules.release_needs_a_checked_approval)
        transition_rule_add(Transition.SUBMIT, rules.record_submission_origin)
        transition_rule_add(Transition.RESUBMIT, rules.record_submission_origin)
        claim_voucher_code_reader_set(claim_issued_voucher_code)
