"""Database guards of the ledger (docs/LEDGER.md):

- entries and journals are immutable: UPDATE and DELETE are refused (TRUNCATE stays possible
  for test databases);
- at commit, every journal that received entries sums to zero, and every journal has entries
  (deferred constraint triggers, so a journal can be written row by row in one transaction);
- the award lot table keeps free space in each page so counter updates stay heap-only.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION rewards_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable: post a reversing journal instead', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER rewards_entry_immutable
    BEFORE UPDATE OR DELETE ON rewards_entry
    FOR EACH ROW EXECUTE FUNCTION rewards_refuse_change();

CREATE TRIGGER rewards_journal_immutable
    BEFORE UPDATE OR DELETE ON rewards_journal
    FOR EACH ROW EXECUTE FUNCTION rewards_refuse_change();

CREATE FUNCTION rewards_check_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
BEGIN
    SELECT sum(amount_minor) INTO total FROM rewards_entry WHERE journal_id = NEW.journal_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'journal % does not balance: its entries sum to %', NEW.journal_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER rewards_entry_journal_balanced
    AFTER INSERT ON rewards_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rewards_check_journal_balanced();

CREATE FUNCTION rewards_check_journal_has_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rewards_entry WHERE journal_id = NEW.id) THEN
        RAISE EXCEPTION 'journal % has no entries', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER rewards_journal_has_entries
    AFTER INSERT ON rewards_journal
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rewards_check_journal_has_entries();

ALTER TABLE rewards_awardlot SET (fillfactor = 70);
"""

BACKWARD = """
ALTER TABLE rewards_awardlot RESET (fillfactor);
DROP TRIGGER rewards_journal_has_entries ON rewards_journal;
DROP FUNCTION rewards_check_journal_has_entries();
DROP TRIGGER rewards_entry_journal_balanced ON rewards_entry;
DROP FUNCTION rewards_check_journal_balanced();
DROP TRIGGER rewards_journal_immutable ON rewards_journal;
DROP TRIGGER rewards_entry_immutable ON rewards_entry;
DROP FUNCTION rewards_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0002_ledger_participants_offers_events"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
