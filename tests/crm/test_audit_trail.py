"""The audit trail is append-only in the database and tamper-evident through its hash chain."""

import hashlib
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import ProgrammingError, connection, transaction

from crm import context
from crm.audit import GENESIS_HASH, audit_chain_breaks, audit_record
from crm.models import AuditEvent
from tests.crm.factories import ClientFactory

pytestmark = pytest.mark.django_db

APPEND_ONLY_ERROR = "crm_auditevent is append-only"


_ALL_COLUMNS = [field.attname for field in AuditEvent._meta.concrete_fields]


def _event_rows() -> list[tuple]:
    return list(AuditEvent.objects.order_by("id").values_list(*_ALL_COLUMNS))


def _record_three_events() -> list[AuditEvent]:
    client = ClientFactory(name="Acme")
    return [
        audit_record(action="test.created", target=client, after={"name": "Acme"}),
        audit_record(
            action="test.renamed",
            target=client,
            before={"name": "Acme"},
            after={"name": "Acme Foods"},
        ),
        audit_record(action="test.note", object_type="crm.client", object_id=client.pk),
    ]


def _with_trigger_disabled(sql: str, params: list[object]) -> None:
    """Runs ``sql`` as the table owner with the append-only trigger off, as an attacker with
    database superuser rights could."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE crm_auditevent DISABLE TRIGGER crm_auditevent_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE crm_auditevent ENABLE TRIGGER crm_auditevent_append_only")


def test_audit_record_links_each_event_to_the_hash_of_the_one_before():
    # Given an empty trail
    assert AuditEvent.objects.count() == 0

    # When three events are recorded
    first, second, third = _record_three_events()

    # Then each points at the previous one's hash, starting from the genesis hash
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.hash
    assert third.previous_hash == second.hash
    # and each hash covers its own content and the previous hash
    stored = AuditEvent.objects.get(pk=second.pk)
    content = {
        "occurred_at": stored.occurred_at.isoformat(),
        "actor_id": None,
        "actor_label": "system",
        "action": "test.renamed",
        "object_type": "crm.client",
        "object_id": str(stored.object_id),
        "object_label": "Acme",
        "before": {"name": "Acme"},
        "after": {"name": "Acme Foods"},
        "request_id": "",
        "ip_address": None,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stored.hash == hashlib.sha256((first.hash + canonical).encode()).hexdigest()
    assert list(audit_chain_breaks()) == []


def test_verify_audit_chain_passes_an_intact_chain(capsys):
    # Given an intact trail of three events
    _record_three_events()

    # When the chain is verified
    call_command("verify_audit_chain")

    # Then it reports success
    assert capsys.readouterr().out == "The audit chain is intact (3 events).\n"


def _execute(sql: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_raw_sql_update_and_delete_are_refused_and_change_nothing():
    # Given a trail
    events = _record_three_events()
    rows_before = _event_rows()

    # When someone updates or deletes a row with SQL
    with pytest.raises(ProgrammingError, match=APPEND_ONLY_ERROR), transaction.atomic():
        _execute("UPDATE crm_auditevent SET action = 'test.forged' WHERE id = %s", [events[1].pk])
    with pytest.raises(ProgrammingError, match=APPEND_ONLY_ERROR), transaction.atomic():
        _execute("DELETE FROM crm_auditevent WHERE id = %s", [events[1].pk])

    # Then the database refused both and the trail is unchanged
    assert _event_rows() == rows_before


def test_orm_update_delete_and_save_are_refused_and_change_nothing():
    # Given a trail
    events = _record_three_events()
    rows_before = _event_rows()

    # When the ORM tries every way of changing or removing rows
    with pytest.raises(ProgrammingError, match=APPEND_ONLY_ERROR), transaction.atomic():
        AuditEvent.objects.filter(pk=events[0].pk).update(action="test.forged")
    with pytest.raises(ProgrammingError, match=APPEND_ONLY_ERROR), transaction.atomic():
        AuditEvent.objects.all().delete()
    events[2].action = "test.forged"
    with pytest.raises(ProgrammingError, match=APPEND_ONLY_ERROR), transaction.atomic():
        events[2].save()
    with pytest.raises(ProgrammingError, match=APPEND_ONLY_ERROR), transaction.atomic():
        events[2].delete()

    # Then nothing changed
    assert _event_rows() == rows_before


def test_verify_audit_chain_names_the_row_whose_content_was_edited():
    # Given a trail where someone with superuser rights edited the middle row's content
    second = _record_three_events()[1]
    _with_trigger_disabled(
        "UPDATE crm_auditevent SET after = %s WHERE id = %s",
        ['{"name": "Someone Else"}', second.pk],
    )

    # When the chain is verified
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit_chain")

    # Then exactly that row is reported
    assert str(raised.value) == (
        f"The audit chain is broken at 1 place(s), first at audit event {second.pk}: "
        "content does not match its hash."
    )
    assert [(b.event_id, b.reason) for b in audit_chain_breaks()] == [
        (second.pk, "content does not match its hash")
    ]


def test_verify_audit_chain_finds_a_removed_row_at_the_row_after_it():
    # Given a trail whose middle row was deleted behind the trigger's back
    _first, second, third = _record_three_events()
    _with_trigger_disabled("DELETE FROM crm_auditevent WHERE id = %s", [second.pk])

    # When the chain is verified
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit_chain")

    # Then the row that followed it no longer links to its predecessor
    assert str(raised.value) == (
        f"The audit chain is broken at 1 place(s), first at audit event {third.pk}: "
        "previous hash does not match the row before it."
    )


def test_the_trigger_is_back_after_the_tampering_helper():
    # Given a row edited with the trigger disabled and enabled again
    event = _record_three_events()[0]
    _with_trigger_disabled(
        "UPDATE crm_auditevent SET action = 'test.forged' WHERE id = %s", [event.pk]
    )

    # When the row is updated again, then the database refuses once more
    with pytest.raises(ProgrammingError, match=APPEND_ONLY_ERROR), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="test.forged-again")
    assert AuditEvent.objects.get(pk=event.pk).action == "test.forged"


def test_an_ipv6_address_in_any_spelling_keeps_the_chain_valid():
    # Given a request from an IPv6 client whose address arrives uppercase and uncompressed
    token = context.client_ip.set("2001:DB8:0:0:0:0:0:1")
    try:
        # When an event is recorded
        event = audit_record(action="test.ipv6")
    finally:
        context.client_ip.reset(token)

    # Then it is stored in PostgreSQL's canonical form and the chain still verifies
    assert AuditEvent.objects.get(pk=event.pk).ip_address == "2001:db8::1"
    assert list(audit_chain_breaks()) == []
