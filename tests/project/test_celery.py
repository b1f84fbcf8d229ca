"""Celery round trips through a real worker process: over real Redis, and over the embedded
SQLite broker that a first run uses. The task is queued before the worker starts, so it
must survive in the broker until a worker exists."""

import os
import secrets

import pytest

from assistant.celery import app as celery_app
from assistant.health.tasks import ping
from tests.conftest import live_database_url
from tests.live import start_worker

pytestmark = pytest.mark.django_db(transaction=True)


def round_trip(broker_url: str, tmp_path) -> None:
    queue, nonce = f"test-{secrets.token_hex(4)}", secrets.token_hex(8)
    with celery_app.connection_for_write(broker_url) as connection:
        result = ping.apply_async(args=[nonce], queue=queue, connection=connection)
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": live_database_url(),
        "CELERY_BROKER_URL": broker_url,
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = start_worker(env=env, log=log, queues=queue)
        try:
            answer = result.get(timeout=120)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    assert answer["nonce"] == nonce, log_path.read_text()
    assert answer["database"] is True
    assert result.status == "SUCCESS"


@pytest.mark.redis
def test_a_task_queued_in_redis_is_run_by_a_worker_started_later(redis_url, tmp_path):
    round_trip(redis_url, tmp_path)


def test_a_task_queued_in_the_embedded_broker_is_run_by_a_worker_started_later(tmp_path):
    round_trip(f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}", tmp_path)


def test_task_results_are_stored_in_the_database(tmp_path):
    from django_celery_results.models import TaskResult

    round_trip(f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}", tmp_path)
    assert TaskResult.objects.filter(task_name="health.ping", status="SUCCESS").count() == 1
