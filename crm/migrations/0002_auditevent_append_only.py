from django.db import migrations

# Row triggers do not fire on TRUNCATE, which only the table owner may run: the test
# database flush relies on it, and an application role that does not own the table cannot.
APPEND_ONLY_SQL = """
CREATE FUNCTION crm_auditevent_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'crm_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER crm_auditevent_append_only
    BEFORE UPDATE OR DELETE ON crm_auditevent
    FOR EACH ROW EXECUTE FUNCTION crm_auditevent_refuse_change();
"""

DROP_APPEND_ONLY_SQL = """
DROP TRIGGER crm_auditevent_append_only ON crm_auditevent;
DROP FUNCTION crm_auditevent_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(APPEND_ONLY_SQL, reverse_sql=DROP_APPEND_ONLY_SQL),
    ]
