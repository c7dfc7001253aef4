"""The ledger's referential and balance checks, per statement and per journal instead of
per row (docs/LEDGER.md, docs/BENCHMARKS.md).

The foreign keys of the ledger's bulk tables (entry -> journal, account, lot; lot -> journal,
account, offer; journal -> scheme, participant, merchant, event) were deferred constraints:
every row queued one check per key, run at commit, about 60 µs per evaluated event. They are
replaced by statement-level AFTER INSERT triggers with transition tables: one anti-join per
statement refuses any row naming an id that does not exist (COPY fires them too). What a
foreign key also prevents, a referenced row going away or changing its id, is refused by
triggers on the referenced tables:

- journals, entries (0003), lots and accounts are never deleted;
- a scheme, participant, merchant or customer event named by a journal, and an offer named
  by a lot, cannot be deleted; nor can any of these change its id; a lot cannot change its
  wallet, journal or offer. (A statement inserting lots locks their offers ``FOR KEY SHARE``,
  as a foreign key would, so a concurrent delete of the offer waits and then sees the lot.)

The journal balance was checked once per entry row at commit; now once per journal: a
deferred constraint trigger on the journal row checks at commit that it has entries and that
they sum to zero, and the entry trigger refuses entries for a journal not posted by the same
transaction, so no later transaction can unbalance a journal already checked.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
DROP TRIGGER rewards_entry_journal_balanced ON rewards_entry;
DROP FUNCTION rewards_check_journal_balanced();
DROP TRIGGER rewards_journal_has_entries ON rewards_journal;
DROP FUNCTION rewards_check_journal_has_entries();

-- Whether a row's xmin is this transaction or one of its subtransactions (savepoints).
CREATE FUNCTION rewards_xid_is_current(x xid) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    top bigint := pg_current_xact_id()::text::bigint;
    ahead bigint := (x::text::bigint - top % 4294967296 + 4294967296) % 4294967296;
BEGIN
    IF ahead >= 2147483648 THEN
        RETURN false;  -- assigned before this transaction began
    END IF;
    RETURN pg_xact_status((top + ahead)::text::xid8) = 'in progress';
END;
$$;

CREATE FUNCTION rewards_journal_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    total bigint;
BEGIN
    SELECT count(*), COALESCE(sum(amount_minor), 0) INTO n, total
      FROM rewards_entry WHERE journal_id = NEW.id;
    IF n = 0 THEN
        RAISE EXCEPTION 'journal % has no entries', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION 'journal % does not balance: its entries sum to %', NEW.id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER rewards_journal_balanced
    AFTER INSERT ON rewards_journal
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rewards_journal_check_balanced();

CREATE FUNCTION rewards_missing_reference(table_name text, column_name text, id bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert into %: % = % does not exist', table_name, column_name, id
        USING ERRCODE = 'foreign_key_violation';
END;
$$;

CREATE FUNCTION rewards_entry_check_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    top xid := pg_current_xact_id()::xid;
    bad record;
BEGIN
    FOR bad IN
        SELECT n.journal_id, j.id IS NULL AS missing
          FROM (SELECT DISTINCT journal_id FROM new_rows) n
          LEFT JOIN rewards_journal j ON j.id = n.journal_id
         WHERE j.id IS NULL OR NOT (j.xmin = top OR rewards_xid_is_current(j.xmin))
         LIMIT 1
    LOOP
        IF bad.missing THEN
            PERFORM rewards_missing_reference('rewards_entry', 'journal_id', bad.journal_id);
        END IF;
        RAISE EXCEPTION 'journal % was posted by another transaction: entries are written '
                        'only with their journal', bad.journal_id
            USING ERRCODE = 'check_violation';
    END LOOP;
    FOR bad IN
        SELECT n.account_id FROM (SELECT DISTINCT account_id FROM new_rows) n
         WHERE NOT EXISTS (SELECT 1 FROM rewards_account a WHERE a.id = n.account_id)
         LIMIT 1
    LOOP
        PERFORM rewards_missing_reference('rewards_entry', 'account_id', bad.account_id);
    END LOOP;
    FOR bad IN
        SELECT n.lot_id FROM (SELECT DISTINCT lot_id FROM new_rows WHERE lot_id IS NOT NULL) n
         WHERE NOT EXISTS (SELECT 1 FROM rewards_awardlot l WHERE l.id = n.lot_id)
         LIMIT 1
    LOOP
        PERFORM rewards_missing_reference('rewards_entry', 'lot_id', bad.lot_id);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER rewards_entry_references
    AFTER INSERT ON rewards_entry
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rewards_entry_check_rows();

CREATE FUNCTION rewards_awardlot_check_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    wanted bigint;
    locked bigint;
BEGIN
    FOR bad IN
        SELECT n.journal_id FROM (SELECT DISTINCT journal_id FROM new_rows) n
         WHERE NOT EXISTS (SELECT 1 FROM rewards_journal j WHERE j.id = n.journal_id)
         LIMIT 1
    LOOP
        PERFORM rewards_missing_reference('rewards_awardlot', 'journal_id', bad.journal_id);
    END LOOP;
    FOR bad IN
        SELECT n.account_id FROM (SELECT DISTINCT account_id FROM new_rows) n
         WHERE NOT EXISTS (SELECT 1 FROM rewards_account a WHERE a.id = n.account_id)
         LIMIT 1
    LOOP
        PERFORM rewards_missing_reference('rewards_awardlot', 'account_id', bad.account_id);
    END LOOP;
    -- Offers can be deleted when no lot names them: lock them as a foreign key would.
    SELECT count(DISTINCT offer_id) INTO wanted FROM new_rows;
    IF wanted > 0 THEN
        SELECT count(*) INTO locked FROM (
            SELECT 1 FROM rewards_offer o
             WHERE o.id IN (SELECT offer_id FROM new_rows) FOR KEY SHARE
        ) l;
        IF locked < wanted THEN
            FOR bad IN
                SELECT n.offer_id FROM (SELECT DISTINCT offer_id FROM new_rows) n
                 WHERE n.offer_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM rewards_offer o WHERE o.id = n.offer_id)
                 LIMIT 1
            LOOP
                PERFORM rewards_missing_reference('rewards_awardlot', 'offer_id', bad.offer_id);
            END LOOP;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER rewards_awardlot_references
    AFTER INSERT ON rewards_awardlot
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rewards_awardlot_check_rows();

CREATE FUNCTION rewards_journal_check_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    wanted bigint;
    locked bigint;
BEGIN
    FOR bad IN
        SELECT n.scheme_id FROM (SELECT DISTINCT scheme_id FROM new_rows) n
         WHERE NOT EXISTS (SELECT 1 FROM rewards_scheme s WHERE s.id = n.scheme_id)
         LIMIT 1
    LOOP
        PERFORM rewards_missing_reference('rewards_journal', 'scheme_id', bad.scheme_id);
    END LOOP;
    FOR bad IN
        SELECT n.participant_id
          FROM (SELECT DISTINCT participant_id FROM new_rows WHERE participant_id IS NOT NULL) n
         WHERE NOT EXISTS (SELECT 1 FROM rewards_participant p WHERE p.id = n.participant_id)
         LIMIT 1
    LOOP
        PERFORM rewards_missing_reference('rewards_journal', 'participant_id', bad.participant_id);
    END LOOP;
    FOR bad IN
        SELECT n.event_id
          FROM (SELECT DISTINCT event_id FROM new_rows WHERE event_id IS NOT NULL) n
         WHERE NOT EXISTS (SELECT 1 FROM rewards_customerevent e WHERE e.id = n.event_id)
         LIMIT 1
    LOOP
        PERFORM rewards_missing_reference('rewards_journal', 'event_id', bad.event_id);
    END LOOP;
    -- Merchants can be deleted when nothing names them: lock them as a foreign key would.
    SELECT count(DISTINCT merchant_id) INTO wanted FROM new_rows;
    IF wanted > 0 THEN
        SELECT count(*) INTO locked FROM (
            SELECT 1 FROM rewards_merchant m
             WHERE m.id IN (SELECT merchant_id FROM new_rows) FOR KEY SHARE
        ) l;
        IF locked < wanted THEN
            FOR bad IN
                SELECT n.merchant_id FROM (SELECT DISTINCT merchant_id FROM new_rows) n
                 WHERE n.merchant_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM rewards_merchant m WHERE m.id = n.merchant_id)
                 LIMIT 1
            LOOP
                PERFORM rewards_missing_reference('rewards_journal', 'merchant_id',
                                                  bad.merchant_id);
            END LOOP;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER rewards_journal_references
    AFTER INSERT ON rewards_journal
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rewards_journal_check_rows();

-- What a foreign key also prevents: the referenced row going away or changing its id.
CREATE FUNCTION rewards_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows belong to the ledger and are never deleted', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER rewards_awardlot_not_deleted
    BEFORE DELETE ON rewards_awardlot
    FOR EACH ROW EXECUTE FUNCTION rewards_refuse_delete();

CREATE TRIGGER rewards_account_not_deleted
    BEFORE DELETE ON rewards_account
    FOR EACH ROW EXECUTE FUNCTION rewards_refuse_delete();

-- TG_ARGV: the referencing table and column. The referencing column is indexed (but
-- rewards_awardlot.offer_id: deleting an offer scans the lots, as Django's PROTECT does).
CREATE FUNCTION rewards_refuse_delete_if_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referenced boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', TG_ARGV[0], TG_ARGV[1])
       INTO referenced USING OLD.id;
    IF referenced THEN
        RAISE EXCEPTION 'delete from %: id % is still named by %.%', TG_TABLE_NAME, OLD.id,
                        TG_ARGV[0], TG_ARGV[1]
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER rewards_scheme_journals_kept
    BEFORE DELETE ON rewards_scheme
    FOR EACH ROW
    EXECUTE FUNCTION rewards_refuse_delete_if_referenced('rewards_journal', 'scheme_id');
CREATE TRIGGER rewards_participant_journals_kept
    BEFORE DELETE ON rewards_participant
    FOR EACH ROW
    EXECUTE FUNCTION rewards_refuse_delete_if_referenced('rewards_journal', 'participant_id');
CREATE TRIGGER rewards_merchant_journals_kept
    BEFORE DELETE ON rewards_merchant
    FOR EACH ROW
    EXECUTE FUNCTION rewards_refuse_delete_if_referenced('rewards_journal', 'merchant_id');
CREATE TRIGGER rewards_customerevent_journals_kept
    BEFORE DELETE ON rewards_customerevent
    FOR EACH ROW
    EXECUTE FUNCTION rewards_refuse_delete_if_referenced('rewards_journal', 'event_id');
CREATE TRIGGER rewards_offer_lots_kept
    BEFORE DELETE ON rewards_offer
    FOR EACH ROW
    EXECUTE FUNCTION rewards_refuse_delete_if_referenced('rewards_awardlot', 'offer_id');

CREATE FUNCTION rewards_refuse_reference_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ids naming and named by ledger rows never change (%)', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER rewards_awardlot_references_fixed
    BEFORE UPDATE OF id, account_id, journal_id, offer_id ON rewards_awardlot
    FOR EACH ROW
    WHEN (OLD.id <> NEW.id OR OLD.account_id <> NEW.account_id
          OR OLD.journal_id <> NEW.journal_id OR OLD.offer_id IS DISTINCT FROM NEW.offer_id)
    EXECUTE FUNCTION rewards_refuse_reference_change();
CREATE TRIGGER rewards_account_id_fixed
    BEFORE UPDATE OF id ON rewards_account
    FOR EACH ROW WHEN (OLD.id <> NEW.id) EXECUTE FUNCTION rewards_refuse_reference_change();
CREATE TRIGGER rewards_scheme_id_fixed
    BEFORE UPDATE OF id ON rewards_scheme
    FOR EACH ROW WHEN (OLD.id <> NEW.id) EXECUTE FUNCTION rewards_refuse_reference_change();
CREATE TRIGGER rewards_participant_id_fixed
    BEFORE UPDATE OF id ON rewards_participant
    FOR EACH ROW WHEN (OLD.id <> NEW.id) EXECUTE FUNCTION rewards_refuse_reference_change();
CREATE TRIGGER rewards_merchant_id_fixed
    BEFORE UPDATE OF id ON rewards_merchant
    FOR EACH ROW WHEN (OLD.id <> NEW.id) EXECUTE FUNCTION rewards_refuse_reference_change();
CREATE TRIGGER rewards_customerevent_id_fixed
    BEFORE UPDATE OF id ON rewards_customerevent
    FOR EACH ROW WHEN (OLD.id <> NEW.id) EXECUTE FUNCTION rewards_refuse_reference_change();
CREATE TRIGGER rewards_offer_id_fixed
    BEFORE UPDATE OF id ON rewards_offer
    FOR EACH ROW WHEN (OLD.id <> NEW.id) EXECUTE FUNCTION rewards_refuse_reference_change();
"""

BACKWARD = """
DROP TRIGGER rewards_offer_id_fixed ON rewards_offer;
DROP TRIGGER rewards_customerevent_id_fixed ON rewards_customerevent;
DROP TRIGGER rewards_merchant_id_fixed ON rewards_merchant;
DROP TRIGGER rewards_participant_id_fixed ON rewards_participant;
DROP TRIGGER rewards_scheme_id_fixed ON rewards_scheme;
DROP TRIGGER rewards_account_id_fixed ON rewards_account;
DROP TRIGGER rewards_awardlot_references_fixed ON rewards_awardlot;
DROP FUNCTION rewards_refuse_reference_change();
DROP TRIGGER rewards_offer_lots_kept ON rewards_offer;
DROP TRIGGER rewards_customerevent_journals_kept ON rewards_customerevent;
DROP TRIGGER rewards_merchant_journals_kept ON rewards_merchant;
DROP TRIGGER rewards_participant_journals_kept ON rewards_participant;
DROP TRIGGER rewards_scheme_journals_kept ON rewards_scheme;
DROP FUNCTION rewards_refuse_delete_if_referenced();
DROP TRIGGER rewards_account_not_deleted ON rewards_account;
DROP TRIGGER rewards_awardlot_not_deleted ON rewards_awardlot;
DROP FUNCTION rewards_refuse_delete();
DROP TRIGGER rewards_journal_references ON rewards_journal;
DROP FUNCTION rewards_journal_check_rows();
DROP TRIGGER rewards_awardlot_references ON rewards_awardlot;
DROP FUNCTION rewards_awardlot_check_rows();
DROP TRIGGER rewards_entry_references ON rewards_entry;
DROP FUNCTION rewards_entry_check_rows();
DROP FUNCTION rewards_missing_reference(text, text, bigint);
DROP TRIGGER rewards_journal_balanced ON rewards_journal;
DROP FUNCTION rewards_journal_check_balanced();
DROP FUNCTION rewards_xid_is_current(xid);

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
"""


def _without_constraint(model_name, name, **kwargs):
    return migrations.AlterField(
        model_name=model_name,
        name=name,
        field=models.ForeignKey(
            db_constraint=False, on_delete=django.db.models.deletion.PROTECT, **kwargs
        ),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0010_code_batch_channel_partner_and_prize_budget"),
    ]

    operations = [
        _without_constraint(
            "awardlot",
            "account",
            db_index=False,
            related_name="lots",
            to="rewards.account",
            verbose_name="wallet",
        ),
        _without_constraint(
            "awardlot",
            "journal",
            related_name="lots",
            to="rewards.journal",
            verbose_name="award journal",
        ),
        _without_constraint(
            "awardlot",
            "offer",
            blank=True,
            db_index=False,
            null=True,
            related_name="lots",
            to="rewards.offer",
            verbose_name="offer",
        ),
        _without_constraint(
            "entry",
            "account",
            db_index=False,
            related_name="entries",
            to="rewards.account",
            verbose_name="account",
        ),
        _without_constraint(
            "entry", "journal", related_name="entries", to="rewards.journal", verbose_name="journal"
        ),
        _without_constraint(
            "entry",
            "lot",
            blank=True,
            null=True,
            related_name="entries",
            to="rewards.awardlot",
            verbose_name="lot",
        ),
        _without_constraint(
            "journal",
            "event",
            blank=True,
            null=True,
            related_name="journals",
            to="rewards.customerevent",
            verbose_name="customer event",
        ),
        _without_constraint(
            "journal",
            "merchant",
            blank=True,
            null=True,
            related_name="journals",
            to="rewards.merchant",
            verbose_name="merchant",
        ),
        _without_constraint(
            "journal",
            "participant",
            blank=True,
            null=True,
            related_name="journals",
            to="rewards.participant",
            verbose_name="participant",
        ),
        _without_constraint(
            "journal", "scheme", related_name="journals", to="rewards.scheme", verbose_name="scheme"
        ),
        migrations.AlterField(
            model_name="customerevent",
            name="participant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="rewards.participant",
                verbose_name="participant",
            ),
        ),
        migrations.AlterField(
            model_name="customerevent",
            name="scheme",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="rewards.scheme",
                verbose_name="scheme",
            ),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
        # Wallet balances and purchase counts are updated by every award: room in each page
        # lets PostgreSQL update them in place (heap-only tuples, no index writes).
        migrations.RunSQL(
            "ALTER TABLE rewards_account SET (fillfactor = 80); "
            "ALTER TABLE rewards_participant SET (fillfactor = 80);",
            "ALTER TABLE rewards_account RESET (fillfactor); "
            "ALTER TABLE rewards_participant RESET (fillfactor);",
        ),
    ]
