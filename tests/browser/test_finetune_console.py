"""The fine-tuning pages in a real browser: an admin snapshots the consenting customers'
conversations, starts a DP job that a real Celery worker (over real Redis) trains on the demo
model, watches its progress and ε update live, deploys the adapter into the real model server
and rolls it back."""

import os
import re
import signal
import time

import pytest

from assistant.conversations.services import conversation_record
from assistant.finetune.models import FineTuneJob, TrainingConsent
from assistant.finetune.services import consent_grant
from tests import live as stack
from tests.browser.conftest import console_login, open_shop, screenshot, staff_user
from tests.browser.widget import Widget
from tests.conftest import live_database_url
from tests.factories import make_customer
from tests.finetune.conftest import make_units

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def finetune_stack(demo_model, redis_url, tmp_path):
    """A web process and a worker sharing a Redis broker and a fine-tuning folder that the
    model server reads adapters from."""
    env = {
        "CELERY_BROKER_URL": redis_url,
        "FINETUNE_DIR": str(tmp_path / "finetune"),
        "FINETUNE_TORCH_THREADS": "1",
        "FINETUNE_EVAL_UNITS": "1",
    }
    (tmp_path / "web").mkdir()
    (tmp_path / "worker").mkdir()
    web, web_process = stack.start_web(model_url=demo_model.url, var_dir=tmp_path / "web", **env)
    worker_env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path / "worker"),
        "DATABASE_URL": live_database_url(),
        **env,
    }
    with open(tmp_path / "worker.log", "w") as log:
        worker = stack.start_worker(env=worker_env, log=log, queues="finetune")
        yield web
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    stack.stop(web_process)


def test_a_job_started_in_the_console_shows_live_progress_and_deploys(browser, finetune_stack):
    for i, unit in enumerate(make_units(8, seed=11)):
        customer = make_customer(f"Consenting Customer {i}")
        consent_grant(customer=customer, notice_version="2026-12")
        for messages in unit.dialogues:
            conversation_record(customer=customer, messages=messages)
    web = finetune_stack
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    console_login(page, web, staff_user("ada", admin=True), next_url="/console/finetune/")

    page.get_by_label("Snapshot the consenting customers' conversations as").fill("December")
    page.get_by_role("button", name="New dataset").click()
    page.locator("table.finetune-datasets", has_text="December").wait_for()
    page.get_by_label("Epochs").fill("2")
    page.get_by_label("Customers per step (expected)").fill("4")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"/console/finetune/jobs/\d+/$"))
    job = FineTuneJob.objects.get()

    # The page was rendered before the first step; only its polling can show steps advance.
    step = page.locator('[data-field="step"]')
    step.filter(has_text=re.compile(r"^[1-9]\d* / \d+$")).wait_for(timeout=240_000)
    page.locator('[data-chart="loss"] polyline').wait_for()
    assert page.locator('[data-field="epsilon"]').inner_text() != "—"
    screenshot(page, "console-finetune-job-running")

    page.get_by_text("Held-out customers, before and after").wait_for(timeout=300_000)
    job.refresh_from_db()
    assert job.status == FineTuneJob.Status.SUCCEEDED, job.error
    assert (
        page.locator('[data-field="step"]').inner_text() == f"{job.total_steps} / {job.total_steps}"
    )
    assert float(page.locator('[data-field="epsilon"]').inner_text()) <= job.epsilon
    page.get_by_role("button", name=f"Approve and deploy {job.adapter_name}").click()
    page.get_by_text(f"{job.adapter_name} answers customers now.").wait_for()
    page.locator('[data-chart="epsilon"] polyline').wait_for()
    screenshot(page, "console-finetune-job")

    page.goto(f"{web.base}/console/finetune/")
    page.locator(".serving", has_text=job.adapter_name).wait_for()
    screenshot(page, "console-finetune")
    page.get_by_role("button", name="Roll back to what answered before").click()
    page.locator(".serving", has_text="base model").wait_for()
    assert not errors, errors
    context.close()


def test_a_signed_in_customer_gives_and_withdraws_training_consent_in_the_widget(page, live, shop):
    customer = make_customer("Grace Hopper")
    open_shop(page, live, shop, customer=customer)
    widget = Widget(page)
    widget.open()
    box = widget.root.locator(".consent input[type=checkbox]")
    assert not box.is_checked()
    box.check()
    widget.root.locator(".consent input:checked").wait_for()
    consent = _wait_for_consent(customer, active=True)
    assert consent.notice_version == "2026-12"

    page.reload()  # the choice is read back from the server
    widget.open()
    assert widget.root.locator(".consent input[type=checkbox]").is_checked()
    widget.root.locator(".consent input[type=checkbox]").uncheck()
    _wait_for_consent(customer, active=False)


def _wait_for_consent(customer, *, active: bool, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        consent = TrainingConsent.objects.filter(customer=customer).order_by("-id").first()
        if consent and (consent.revoked_at is None) == active:
            return consent
        time.sleep(0.2)
    raise AssertionError(f"consent never became {'active' if active else 'revoked'}")
