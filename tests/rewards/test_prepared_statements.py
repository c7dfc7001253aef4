"""rewards.services.ledger's prepared statements sent together (pipelined), as wallet_lock
sends its lock and its read."""

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from rewards.services.ledger import prepared_execute_pipelined

pytestmark = pytest.mark.django_db


def test_pipelined_statements_run_in_order_and_each_answers_on_its_own_cursor():
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        first, second, third = prepared_execute_pipelined(
            ("SELECT set_config('probe.step', %(value)s, true)", {"value": "one"}),
            ("SELECT current_setting('probe.step'), %(n)s::int", {"n": 2}),
            ("SELECT %(n)s::int * 3", {"n": 3}),
        )
        assert first.fetchone() == ("one",)
        assert second.fetchone() == ("one", 2)  # ran after the first
        assert third.fetchone() == (9,)
    assert len(queries) == 3


def test_a_failing_statement_raises_djangos_error_and_the_next_ones_do_not_run():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY SEQUENCE pipelined_probe")
    with pytest.raises(DataError), transaction.atomic():
        prepared_execute_pipelined(
            ("SELECT 1 / %(zero)s::int", {"zero": 0}),
            ("SELECT nextval('pipelined_probe') + %(n)s::int", {"n": 0}),
        )
    with connection.cursor() as cursor:
        # A sequence is not transactional: had the second statement run, it would show.
        cursor.execute("SELECT is_called FROM pipelined_probe")
        assert cursor.fetchone() == (False,)
