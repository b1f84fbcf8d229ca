"""Consent, datasets, fine-tuning jobs and deployments. Views, the admin, commands and the
Celery task call these; each write happens in a transaction and raises a `DomainError` with a
message an operator can act on."""

import hashlib
import hmac
import json
import os
import re
import socket
import statistics
import threading
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from assistant.conversations.models import Conversation, Message
from assistant.conversations.selectors import history_for_model, system_prompt_for
from assistant.shop.errors import DomainError, InvalidInput, InvalidTransition
from assistant.shop.models import Customer
from safety.pii import redact_pii

from .models import Dataset, DatasetUnit, Deployment, FineTuneJob, TrainingConsent

# What stands for the customer's name in the system prompt and in their own words.
NAME_PLACEHOLDER = "the customer"
NAME_TOKEN = "[NAME]"


class ModelServerError(DomainError):
    code = "model_server_error"


# --- consent ---


def consent_grant(*, customer: Customer, notice_version: str) -> TrainingConsent:
    """Record the customer's opt-in to the current notice; agreeing again changes nothing,
    agreeing to a newer notice replaces the old consent."""
    if not isinstance(notice_version, str) or not notice_version.strip():
        raise InvalidInput(
            "notice_version must name the version of the notice shown to the customer "
            f"(the current notice is {settings.FINETUNE_NOTICE_VERSION!r})."
        )
    if notice_version != settings.FINETUNE_NOTICE_VERSION:
        raise InvalidInput(
            f"The current notice is version {settings.FINETUNE_NOTICE_VERSION!r}, "
            f"not {notice_version!r}: show it to the customer again."
        )
    with transaction.atomic():
        active = (
            TrainingConsent.objects.select_for_update()
            .filter(customer=customer, revoked_at__isnull=True)
            .first()
        )
        if active and active.notice_version == notice_version:
            return active
        now = timezone.now()
        if active:
            active.revoked_at = now
            active.save(update_fields=["revoked_at"])
        return TrainingConsent.objects.create(
            customer=customer, notice_version=notice_version, granted_at=now
        )


def consent_revoke(*, customer: Customer) -> int:
    """Withdraw consent: no future dataset has this customer's dialogues, and every dataset
    that has them loses their unit and is retired (no new job can start on it). Adapters
    already trained stay: differential privacy bounds what they reveal about any one customer.
    Returns the number of datasets retired."""
    with transaction.atomic():
        now = timezone.now()
        TrainingConsent.objects.filter(customer=customer, revoked_at__isnull=True).update(
            revoked_at=now
        )
        holding = DatasetUnit.objects.filter(customer=customer).values_list("dataset_id")
        count = Dataset.objects.filter(pk__in=holding, retired_at__isnull=True).update(
            retired_at=now, retired_reason="A customer in it withdrew consent."
        )
        DatasetUnit.objects.filter(customer=customer).delete()
    return count


# --- datasets ---


def _redact(text: str, names: list[str], counts: Counter) -> str:
    # Structured data first: a name inside an email address must not break its detection.
    text, found = redact_pii(text)
    counts.update(m.kind for m in found)
    for name in names:
        # Latin names as whole words ("Ann" is not in "Annual"); Chinese has no word breaks.
        pattern = (
            re.escape(name) if re.search(r"[\u4e00-\u9fff]", name) else rf"\b{re.escape(name)}\b"
        )
        text, n = re.subn(pattern, NAME_TOKEN, text, flags=re.IGNORECASE)
        counts["name"] += n
    return text


def _customer_names(customer: Customer) -> list[str]:
    """The full name and its parts (3+ characters, or any Chinese name), longest first."""
    parts = {customer.name, *customer.name.split()}
    return sorted((p for p in parts if len(p) >= 3 or re.search(r"[\u4e00-\u9fff]", p)), key=len)[
        ::-1
    ]


def _dialogue(conversation: Conversation, names: list[str], counts: Counter) -> list[dict]:
    # The unit's system prompt follows the customer's language, whatever this one's was.
    conversation.locale = conversation.customer.locale
    messages = history_for_model(conversation=conversation, customer_name=NAME_PLACEHOLDER)[1:]
    for m in messages:
        m["content"] = _redact(m.get("content") or "", names, counts)
        for call in m.get("tool_calls") or []:
            call["function"]["arguments"] = _redact(call["function"]["arguments"], names, counts)
    return messages


def _unit_id(dataset: Dataset, customer: Customer) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"dataset:{dataset.pk}:{customer.pk}".encode(), "sha256").hexdigest()[:16]


def dataset_content_hash(*, units: list[dict]) -> str:
    canonical = json.dumps(
        sorted(units, key=lambda u: u["unit"]),
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def dataset_create(
    *,
    name: str,
    created_by=None,
    max_dialogues_per_customer: int = 20,
    held_out_share: float = 0.1,
) -> Dataset:
    """Snapshot the dialogues of every customer with an active consent, from the conversations
    they had since consenting: PII redacted, one unit per customer (at most
    `max_dialogues_per_customer` dialogues, the most recent), a share of customers held out for
    evaluation. The snapshot never changes afterwards (its hash is checked before training)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InvalidInput("A dataset needs a name of 1 to 100 characters.")
    if not 1 <= max_dialogues_per_customer <= 1000:
        raise InvalidInput("max_dialogues_per_customer must be between 1 and 1000.")
    consents = TrainingConsent.objects.filter(revoked_at__isnull=True).select_related("customer")
    with transaction.atomic():
        dataset = Dataset.objects.create(name=name.strip(), created_by=created_by)
        counts: Counter = Counter()
        rows, capped, versions = [], 0, Counter()
        for consent in consents:
            customer = consent.customer
            conversations = (
                Conversation.objects.filter(customer=customer, created_at__gte=consent.granted_at)
                .filter(
                    messages__role=Message.Role.ASSISTANT,
                    messages__status=Message.Status.COMPLETE,
                )
                .distinct()
                .order_by("-created_at")
            )
            names = _customer_names(customer)
            dialogues = []
            for conversation in conversations:
                if len(dialogues) == max_dialogues_per_customer:
                    capped += 1
                    break
                messages = _dialogue(conversation, names, counts)
                if any(m["role"] == "assistant" for m in messages):
                    dialogues.append(messages)
            if dialogues:
                dialogues.reverse()  # oldest first, as they happened
                system = system_prompt_for(locale=customer.locale, customer_name=NAME_PLACEHOLDER)
                rows.append((customer, _unit_id(dataset, customer), system, dialogues))
                versions[consent.notice_version] += 1
        rows.sort(key=lambda r: r[1])  # by keyed hash: a random order nobody can steer
        held = max(1, round(len(rows) * held_out_share)) if len(rows) >= 5 else 0
        DatasetUnit.objects.bulk_create(
            DatasetUnit(
                dataset=dataset,
                customer=c,
                unit=u,
                system_prompt=system,
                dialogues=d,
                held_out=i < held,
            )
            for i, (c, u, system, d) in enumerate(rows)
        )
        sizes = [len(d) for *_, d in rows] or [0]
        dataset.content_sha256 = dataset_content_hash(units=_unit_payloads(dataset))
        dataset.stats = {
            "customers": len(rows),
            "held_out_customers": held,
            "dialogues": sum(len(d) for *_, d in rows),
            "messages": sum(len(m) for *_, d in rows for m in d),
            "dialogues_per_customer": {
                "min": min(sizes),
                "max": max(sizes),
                "mean": round(statistics.mean(sizes), 2),
            },
            "customers_capped": capped,
            "max_dialogues_per_customer": max_dialogues_per_customer,
            "redactions": dict(counts),
            "notice_versions": dict(versions),
            "privacy_unit": "customer",
        }
        dataset.save()
    return dataset


def _unit_payloads(dataset: Dataset) -> list[dict]:
    return [
        {
            "unit": u.unit,
            "held_out": u.held_out,
            "system": u.system_prompt,
            "dialogues": u.dialogues,
        }
        for u in dataset.units.order_by("unit")
    ]


# --- jobs ---


def job_create(
    *,
    dataset: Dataset,
    created_by=None,
    epsilon: float = 3.0,
    delta: float | None = None,
    epochs: int = 3,
    learning_rate: float = 2e-3,
    lora_rank: int = 8,
    batch_customers: int = 16,
) -> FineTuneJob:
    """Queue a job (the worker starts it once the transaction commits)."""
    if dataset.retired_at:
        raise InvalidInput(
            f"Dataset #{dataset.pk} is retired ({dataset.retired_reason}); create a new one."
        )
    n = dataset.units.filter(held_out=False).count()
    if n < 2:
        raise InvalidInput(
            f"Dataset #{dataset.pk} has {n} training customer(s); DP-SGD needs at least 2."
        )
    for label, value, low, high in (
        ("epsilon", epsilon, 0.1, 20),
        ("epochs", epochs, 1, 50),
        ("learning_rate", learning_rate, 1e-6, 1e-1),
        ("lora_rank", lora_rank, 1, 64),
        ("batch_customers", batch_customers, 1, 4096),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise InvalidInput(f"{label} must be a number from {low} to {high}, not {value!r}.")
    if delta is None:
        delta = min(1e-5, 1 / (10 * n))
    elif not 0 < delta < 1 / n:
        raise InvalidInput(f"delta must be above 0 and below 1/{n} (1 / customers), not {delta}.")
    with transaction.atomic():
        job = FineTuneJob.objects.create(
            dataset=dataset,
            created_by=created_by,
            epsilon=float(epsilon),
            delta=float(delta),
            epochs=int(epochs),
            learning_rate=float(learning_rate),
            lora_rank=int(lora_rank),
            batch_customers=int(batch_customers),
            base_model=str(settings.FINETUNE_BASE_MODEL),
        )
        job.adapter_name = f"ft-{job.pk}"
        job.adapter_path = str(Path(settings.FINETUNE_DIR) / "adapters" / job.adapter_name)
        job.save(update_fields=["adapter_name", "adapter_path"])
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from .tasks import run_job

    run_job.delay(job_id)


def job_cancel(*, job: FineTuneJob) -> FineTuneJob:
    """A queued job is cancelled at once; a running one stops at its next step."""
    with transaction.atomic():
        job = FineTuneJob.objects.select_for_update().get(pk=job.pk)
        if job.status in FineTuneJob.FINISHED:
            raise InvalidTransition(f"Job #{job.pk} has already {job.status}.")
        if job.status == FineTuneJob.Status.QUEUED and not job.lease_owner:
            job.status, job.finished_at = FineTuneJob.Status.CANCELLED, timezone.now()
        job.cancel_requested = True
        job.save(update_fields=["status", "finished_at", "cancel_requested"])
    return job


def _lease_take(job_id: int, owner: str) -> bool:
    now = timezone.now()
    taken = (
        FineTuneJob.objects.filter(
            pk=job_id, status__in=[FineTuneJob.Status.QUEUED, FineTuneJob.Status.RUNNING]
        )
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=settings.FINETUNE_LEASE_SECONDS),
            status=FineTuneJob.Status.RUNNING,
        )
    )
    return taken == 1


def _lease_renew(job_id: int, owner: str) -> bool:
    expires = timezone.now() + timedelta(seconds=settings.FINETUNE_LEASE_SECONDS)
    return (
        FineTuneJob.objects.filter(pk=job_id, lease_owner=owner).update(lease_expires_at=expires)
        == 1
    )


class _Heartbeat(threading.Thread):
    """Renews the job's lease while training runs, however long one step takes."""

    def __init__(self, job_id: int, owner: str) -> None:
        super().__init__(daemon=True)
        self.job_id, self.owner = job_id, owner
        self.stopped, self.lost = threading.Event(), False

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.FINETUNE_LEASE_SECONDS / 3):
                if not _lease_renew(self.job_id, self.owner):
                    self.lost = True
                    return
        finally:
            connection.close()


class LeaseLost(Exception):
    pass


def job_run(*, job_id: int) -> dict:
    """Run (or resume) a job in this worker; called by the Celery task. A redelivered task
    whose job another worker holds, or that has finished, does nothing."""
    import torch

    from modelserver.finetune.data import Unit
    from modelserver.finetune.trainer import FinetuneConfig, evaluate_units, train_adapter

    if settings.FINETUNE_TORCH_THREADS:
        torch.set_num_threads(settings.FINETUNE_TORCH_THREADS)

    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if not _lease_take(job_id, owner):
        job = FineTuneJob.objects.filter(pk=job_id).first()
        if job is None:
            return {"job": job_id, "skipped": "no such job"}
        return {"job": job_id, "skipped": job.status if job.status in job.FINISHED else "leased"}
    heartbeat = _Heartbeat(job_id, owner)
    heartbeat.start()
    job = FineTuneJob.objects.select_related("dataset").get(pk=job_id)
    FineTuneJob.objects.filter(pk=job_id).update(
        attempts=job.attempts + 1, started_at=job.started_at or timezone.now()
    )
    try:
        dataset = job.dataset
        payloads = _unit_payloads(dataset)
        if dataset_content_hash(units=payloads) != dataset.content_sha256:
            raise DomainError(f"Dataset #{dataset.pk} changed since it was snapshotted.")
        units = {u["unit"]: Unit(u["unit"], u["system"], u["dialogues"]) for u in payloads}
        train_units = [units[u["unit"]] for u in payloads if not u["held_out"]]
        eval_units = [units[u["unit"]] for u in payloads if u["held_out"]]
        eval_units = eval_units[: settings.FINETUNE_EVAL_UNITS]
        base, adapter = Path(job.base_model), Path(job.adapter_path)
        state_dir = Path(settings.FINETUNE_DIR) / "state" / f"job-{job.pk}"
        report = dict(job.report)
        if eval_units and "before" not in report:
            report["before"] = evaluate_units(base, eval_units)
            FineTuneJob.objects.filter(pk=job_id).update(report=report)
        history = list(job.history)

        def on_progress(p) -> None:
            # A resumed run repeats the steps after its last checkpoint: they replace the old.
            history[:] = [h for h in history if h["step"] < p.step]
            history.append({"step": p.step, "loss": p.loss, "epsilon": p.epsilon})
            FineTuneJob.objects.filter(pk=job_id, lease_owner=owner).update(
                step=p.step,
                total_steps=p.total_steps,
                loss=p.loss,
                epsilon_spent=p.epsilon,
                history=history,
            )

        def should_stop() -> bool:
            if heartbeat.lost:
                raise LeaseLost(f"job {job_id}: another worker took the lease")
            return FineTuneJob.objects.filter(pk=job_id, cancel_requested=True).exists()

        config = FinetuneConfig(
            epsilon=job.epsilon,
            delta=job.delta,
            epochs=job.epochs,
            lr=job.learning_rate,
            rank=job.lora_rank,
            alpha=2.0 * job.lora_rank,
            batch_units=job.batch_customers,
            checkpoint_every=settings.FINETUNE_CHECKPOINT_EVERY,
            seed=job.pk,
        )
        result = train_adapter(
            model_dir=base,
            units=train_units,
            out_dir=adapter,
            state_dir=state_dir,
            config=config,
            on_progress=on_progress,
            should_stop=should_stop,
        )
        report["training"] = {k: v for k, v in result.to_json().items() if k != "history"}
        status = FineTuneJob.Status.SUCCEEDED
        if result.status == "cancelled":
            status = FineTuneJob.Status.CANCELLED
        elif eval_units:
            report["after"] = evaluate_units(base, eval_units, adapter)
        FineTuneJob.objects.filter(pk=job_id, lease_owner=owner).update(
            status=status,
            report=report,
            step=result.steps,
            epsilon_spent=result.epsilon,
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
        )
        return {"job": job_id, "status": status, "epsilon": result.epsilon}
    except LeaseLost:
        return {"job": job_id, "skipped": "lease lost"}
    except Exception as error:
        from celery.exceptions import SoftTimeLimitExceeded

        if isinstance(error, SoftTimeLimitExceeded):
            # Out of time for this delivery: let the lease go; the task requeues itself and
            # the next delivery resumes from the last checkpoint.
            FineTuneJob.objects.filter(pk=job_id, lease_owner=owner).update(
                lease_owner="", lease_expires_at=None
            )
            raise
        FineTuneJob.objects.filter(pk=job_id, lease_owner=owner).update(
            status=FineTuneJob.Status.FAILED,
            error=f"{type(error).__name__}: {error}"[:2000],
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
        )
        raise
    finally:
        heartbeat.stopped.set()
        heartbeat.join(timeout=5)
        close_old_connections()


# --- deployment ---


def _admin_url() -> str:
    """The model server's base (`…/v1`): our server and vLLM both load adapters there."""
    return settings.MODEL_SERVER_URL.rstrip("/")


def adapter_load(*, job: FineTuneJob) -> None:
    """Load the job's adapter into the model server (already loaded is fine): ours at
    `POST /v1/adapters`, or `vllm serve` (run with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) at
    `POST /v1/load_lora_adapter`."""
    headers = (
        {"Authorization": f"Bearer {settings.MODEL_SERVER_API_KEY}"}
        if settings.MODEL_SERVER_API_KEY
        else {}
    )
    try:
        response = httpx.post(
            f"{_admin_url()}/adapters",
            json={"name": job.adapter_name, "path": job.adapter_path},
            headers=headers,
            timeout=60,
        )
        if response.status_code == 404:
            response = httpx.post(
                f"{_admin_url()}/load_lora_adapter",
                json={"lora_name": job.adapter_name, "lora_path": job.adapter_path},
                headers=headers,
                timeout=60,
            )
    except httpx.HTTPError as error:
        raise ModelServerError(f"The model server did not answer: {error}") from error
    if response.status_code == 409 or "already been loaded" in response.text:
        return
    if response.status_code != 200:
        raise ModelServerError(
            f"The model server refused the adapter ({response.status_code}): {response.text[:300]}"
        )


def adapter_reload(*, name: str) -> None:
    """Load a deployed adapter again by name (the model server restarted and lost it)."""
    job = FineTuneJob.objects.filter(adapter_name=name, status=FineTuneJob.Status.SUCCEEDED).first()
    if job is None:
        raise InvalidInput(f"No finished fine-tuning job has the adapter {name!r}.")
    adapter_load(job=job)


def job_deploy(*, job: FineTuneJob, by=None) -> Deployment:
    """Approve a finished job: load its adapter and answer customers with it from now on."""
    if job.status != FineTuneJob.Status.SUCCEEDED:
        raise InvalidTransition(f"Job #{job.pk} is {job.status}; only a succeeded job deploys.")
    adapter_load(job=job)
    with transaction.atomic():
        if not job.approved_at:
            FineTuneJob.objects.filter(pk=job.pk).update(approved_by=by, approved_at=timezone.now())
        current = Deployment.objects.select_for_update().order_by("-id").first()
        return Deployment.objects.create(job=job, replaces=current, created_by=by, note="deploy")


def deployment_rollback(*, by=None) -> Deployment:
    """Go back to what answered before the current deployment (an earlier adapter, or the
    base model); rolling back again goes further back."""
    current = Deployment.objects.order_by("-id").first()
    if current is None or (current.job is None and current.replaces is None):
        raise InvalidTransition("Nothing is deployed: the base model already answers.")
    previous = current.replaces
    if previous is not None and previous.job is not None:
        adapter_load(job=previous.job)
    return Deployment.objects.create(
        job=previous.job if previous else None,
        replaces=previous.replaces if previous else None,
        created_by=by,
        note="rollback",
    )
