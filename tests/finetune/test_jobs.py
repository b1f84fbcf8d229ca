"""Fine-tuning jobs on the real stack: datasets in the test database, jobs queued by the
`finetune` command through real Redis, run by real Celery worker processes (one killed mid-job),
and the adapter loaded into a real model server process."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.test import override_settings
from opacus.accountants import PRVAccountant

from assistant.agent import llm, spec
from assistant.conversations import services as conversations
from assistant.finetune import selectors, services
from assistant.finetune.models import FineTuneJob
from tests import live
from tests.conftest import ROOT, live_database_url
from tests.factories import make_customer

from .conftest import make_units

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def dataset():
    for i, unit in enumerate(make_units(14, seed=7)):
        customer = make_customer(f"Customer {i}", locale="en")
        services.consent_grant(customer=customer, notice_version="2026-12")
        for messages in unit.dialogues:
            conversations.conversation_record(customer=customer, messages=messages)
    return services.dataset_create(name="test")


@pytest.fixture
def env(redis_url, tiny_model, tmp_path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": live_database_url(),
        "CELERY_BROKER_URL": redis_url,
        # Short enough that a killed worker's task comes back within the test.
        "CELERY_VISIBILITY_TIMEOUT": "6",
        "FINETUNE_LEASE_SECONDS": "4",
        "FINETUNE_CHECKPOINT_EVERY": "1",
        "FINETUNE_EVAL_UNITS": "1",
        "FINETUNE_TORCH_THREADS": "1",
        "FINETUNE_BASE_MODEL": str(tiny_model),
        "FINETUNE_DIR": str(tmp_path / "finetune"),
    }


def start_worker(env: dict[str, str], log) -> subprocess.Popen:
    return live.start_worker(env=env, log=log, queues="finetune")


JOB = ["--epochs", "2", "--batch-customers", "4", "--lora-rank", "4"]


def queue_job(env: dict[str, str], dataset, *extra: str) -> FineTuneJob:
    before = set(FineTuneJob.objects.values_list("pk", flat=True))
    subprocess.run(
        [sys.executable, "manage.py", "finetune", "--dataset", str(dataset.pk), *JOB, *extra],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (job_id,) = set(FineTuneJob.objects.values_list("pk", flat=True)) - before
    return FineTuneJob.objects.get(pk=job_id)


def wait_for(job: FineTuneJob, done, timeout: float = 600, log=None) -> FineTuneJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if done(job):
            return job
        time.sleep(0.5)
    tail = Path(log.name).read_text()[-4000:] if log else ""
    raise AssertionError(f"job {job.pk} stuck at {job.status} step {job.step}:\n{tail}")


def finished(job: FineTuneJob) -> bool:
    return job.status in FineTuneJob.FINISHED


def test_a_job_runs_in_a_worker_reports_progress_and_never_overspends(env, dataset, tmp_path):
    with open(tmp_path / "worker.log", "w") as log:
        worker = start_worker(env, log)
        try:
            job = queue_job(env, dataset)
            running = wait_for(job, lambda j: j.step >= 1, log=log)
            assert running.status == FineTuneJob.Status.RUNNING
            job = wait_for(job, finished, log=log)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
    assert job.status == FineTuneJob.Status.SUCCEEDED, job.error
    assert job.step == job.total_steps == len(job.history)
    epsilons = [h["epsilon"] for h in job.history]
    assert epsilons == sorted(epsilons) and max(epsilons) <= job.epsilon
    assert job.epsilon_spent == pytest.approx(job.epsilon, rel=0.05)
    report = job.report
    assert report["training"]["privacy_unit"].startswith("customer")
    assert report["training"]["units"] == dataset.stats["customers"] - 1  # one held out
    assert report["before"]["tool_turns"] == report["after"]["tool_turns"] >= 1
    assert (tmp_path / "finetune" / "adapters" / job.adapter_name / "adapter_config.json").exists()


def test_a_job_whose_worker_is_killed_resumes_and_keeps_its_accounting(env, dataset, tmp_path):
    with open(tmp_path / "worker.log", "w") as log:
        first = start_worker(env, log)
        job = queue_job(env, dataset)
        wait_for(job, lambda j: j.step >= 3, log=log)
        os.killpg(first.pid, signal.SIGKILL)  # no goodbye: the task stays unacknowledged
        first.wait(timeout=30)
        killed_at = FineTuneJob.objects.get(pk=job.pk).step
        second = start_worker(env, log)
        try:
            job = wait_for(job, finished, log=log)
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=60)
    assert killed_at < job.total_steps
    assert job.status == FineTuneJob.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert killed_at - 1 <= job.report["training"]["resumed_at"] <= killed_at  # checkpoint per step
    assert [h["step"] for h in job.history] == list(range(1, job.total_steps + 1))
    training = job.report["training"]
    accountant = PRVAccountant()
    accountant.history = [(training["noise_multiplier"], training["sample_rate"], job.total_steps)]
    assert job.epsilon_spent == pytest.approx(accountant.get_epsilon(job.delta), rel=1e-3)
    assert job.epsilon_spent <= job.epsilon


def test_a_running_job_can_be_cancelled(env, dataset, tmp_path):
    with open(tmp_path / "worker.log", "w") as log:
        worker = start_worker(env, log)
        try:
            job = queue_job(env, dataset, "--epochs", "20")
            wait_for(job, lambda j: j.step >= 1, log=log)
            services.job_cancel(job=job)
            job = wait_for(job, finished, log=log)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
    assert job.status == FineTuneJob.Status.CANCELLED
    assert job.step < job.total_steps


@pytest.mark.django_db  # no commit: the job is never handed to a broker
def test_a_second_delivery_of_a_running_job_does_nothing(dataset, settings, tiny_model):
    settings.FINETUNE_BASE_MODEL = tiny_model
    job = services.job_create(dataset=dataset)
    assert services._lease_take(job.pk, "another-worker")
    assert services.job_run(job_id=job.pk) == {"job": job.pk, "skipped": "leased"}
    FineTuneJob.objects.filter(pk=job.pk).update(status=FineTuneJob.Status.SUCCEEDED)
    assert services.job_run(job_id=job.pk) == {"job": job.pk, "skipped": "succeeded"}


async def first_chunk(model: str):
    async for chunk in llm.stream_chat(
        messages=[{"role": "user", "content": "Hello"}], tools=spec.TOOLS, max_tokens=4, model=model
    ):
        return chunk


def test_a_deployed_adapter_answers_in_a_real_model_server_and_rolls_back(
    env, dataset, tiny_model, tmp_path
):
    from tests.live import ModelServer

    with open(tmp_path / "worker.log", "w") as log:
        worker = start_worker(env, log)
        try:
            job = wait_for(queue_job(env, dataset, "--epochs", "1"), finished, log=log)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
    assert job.status == FineTuneJob.Status.SUCCEEDED, job.error
    server = ModelServer(tiny_model)
    server.start()
    try:
        with override_settings(MODEL_SERVER_URL=server.url):
            services.job_deploy(job=job)
            assert selectors.serving_model().adapter == job.adapter_name
            adapters = httpx.get(f"{server.url}/adapters").json()["data"]
            assert [a["id"] for a in adapters] == [job.adapter_name]
            reply = httpx.post(
                f"{server.url}/chat/completions",
                json={
                    "model": job.adapter_name,
                    "messages": [{"role": "user", "content": "Where is my order 123456?"}],
                    "max_tokens": 8,
                },
                timeout=120,
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["model"] == job.adapter_name

            # The model server restarts and forgets it: the assistant's next call loads it again.
            assert httpx.delete(f"{server.url}/adapters/{job.adapter_name}").status_code == 200
            llm.async_client.cache_clear()
            chunk = asyncio.run(first_chunk(job.adapter_name))
            assert chunk.model == job.adapter_name
            assert [a["id"] for a in httpx.get(f"{server.url}/adapters").json()["data"]] == [
                job.adapter_name
            ]

            services.deployment_rollback()
            assert selectors.serving_model().adapter == ""
            with pytest.raises(services.InvalidTransition):
                services.deployment_rollback()
    finally:
        server.stop()
