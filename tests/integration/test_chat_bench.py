"""The chat benchmark command against the real stack (tiny random checkpoint): it must drive
real turns and account for each turn's time. Its figures are read by people, not asserted."""

import io
import json

import pytest
from django.core.management import call_command

from tests.factories import make_customer, make_recent_delivery

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_benchmark_splits_each_turn_into_model_time_and_djangos_overhead(web, model_server):
    for n in range(2):
        make_recent_delivery(make_customer(f"Bench Customer {n}"), f"10010{n}", days_ago=2)
    out = io.StringIO()
    call_command(
        "chat_bench",
        web=web.base,
        model_url=model_server.url,
        concurrency="1,2",
        turns=2,
        as_json=True,
        stdout=out,
    )
    rows = json.loads(out.getvalue())["results"]
    assert [row["concurrency"] for row in rows] == [1, 2]
    for row in rows:
        django = row["django"]
        assert django["turns"] == 2 * row["concurrency"]
        assert django["model_s_per_turn"]["p50"] > 0  # read back from the stored messages
        assert 0 < django["overhead_share_of_turn"] < 1
        assert django["latency_s"]["p50"] >= django["model_s_per_turn"]["p50"]
        assert row["model_server_direct"]["requests_per_s"] > 0
