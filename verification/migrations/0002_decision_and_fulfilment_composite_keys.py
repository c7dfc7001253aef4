"""Cross-row guards Django cannot declare: composite foreign keys.

- A decision's (proposal_id, maker_id) must be its proposal's (id, maker_id), so the
  ``decision_checker_is_not_maker`` check compares the checker with the real maker, even for
  a row inserted by hand.
- A fulfilment item's (approval_id, approval_result) must be a decision's (id, result), and
  ``fulfilment_item_is_approved`` fixes approval_result to 'approved': nothing is released
  without a checker's approval.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("verification", "0001_review_queue_decisions_fulfilment")]

    operations = [
        migrations.RunSQL(
            sql="""
            ALTER TABLE verification_checkerdecision
              ADD CONSTRAINT decision_maker_is_proposal_maker
              FOREIGN KEY (proposal_id, maker_id)
              REFERENCES verification_proposal (id, maker_id);
            ALTER TABLE verification_fulfilmentitem
              ADD CONSTRAINT fulfilment_item_approval_is_approved
              FOREIGN KEY (approval_id, approval_result)
              REFERENCES verification_checkerdecision (id, result);
            """,
            reverse_sql="""
            ALTER TABLE verification_fulfilmentitem
              DROP CONSTRAINT fulfilment_item_approval_is_approved;
            ALTER TABLE verification_checkerdecision
              DROP CONSTRAINT decision_maker_is_proposal_maker;
            """,
        ),
    ]
