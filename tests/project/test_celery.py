"""Celery round trips through a real worker process: over real Redis, and over the embedded
SQLite broker that a first run uses. The task is queued before the worker starts, so it
must survive in the broker until a worker exists."""

import os
import secrets
import subprocess
import sys

import pytest

from assistant.celery import app as celery_app
from assistant.health.tasks import ping
from tests.conftest import ROOT, live_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def start_worker(*, broker_url: str, queue: str, var_dir) -> subprocess.Popen:
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "1",
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": live_database_url(),
        "CELERY_BROKER_URL": broker_url,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "assistant",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def round_trip(broker_url: str, tmp_path) -> None:
    queue, nonce = f"test-{secrets.token_hex(4)}", secrets.token_hex(8)
    with celery_app.connection_for_write(broker_url) as connection:
        result = ping.apply_async(args=[nonce], queue=queue, connection=connection)
    worker = start_worker(broker_url=broker_url, queue=queue, var_dir=tmp_path)
    try:
        answer = result.get(timeout=120)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert answer["nonce"] == nonce, output
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
