"""Fine-tuning the assistant on the shop's own dialogues, with differential privacy.

Customers opt in (`TrainingConsent`); a `Dataset` is a frozen, hashed snapshot of the consenting
customers' PII-redacted dialogues, one `DatasetUnit` per customer (the privacy unit); a
`FineTuneJob` trains a LoRA adapter on it with DP-SGD in a Celery worker; a `Deployment` records
which adapter the assistant answers with (none: the base model), so a rollback is one more row.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from assistant.shop.models import Customer


class TrainingConsent(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="training_consents"
    )
    notice_version = models.CharField(
        max_length=32, help_text="The version of the notice the customer agreed to."
    )
    granted_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-granted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(revoked_at__isnull=True),
                name="one_active_training_consent_per_customer",
            )
        ]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.customer} consent {self.notice_version} ({state})"


class Dataset(models.Model):
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    content_sha256 = models.CharField(max_length=64, help_text="Of every unit.")
    stats = models.JSONField(default=dict)
    # A customer in it revoked consent: their unit is deleted and no new job may use it.
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"


class DatasetUnit(models.Model):
    """One customer's dialogues: the unit of sampling and of the privacy guarantee."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="units")
    # Only to find the unit when the customer revokes consent; never given to training.
    customer = models.ForeignKey(Customer, null=True, on_delete=models.SET_NULL, related_name="+")
    unit = models.CharField(max_length=32, help_text="Pseudonymous id (keyed hash).")
    # The shop's system prompt in the customer's language, with no name in it.
    system_prompt = models.TextField()
    # OpenAI-style messages per dialogue, without the system prompt, PII redacted.
    dialogues = models.JSONField()
    held_out = models.BooleanField(default=False, help_text="Evaluation only, never trained on.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "unit"], name="one_unit_per_customer")
        ]

    def __str__(self) -> str:
        return f"unit {self.unit} of dataset #{self.dataset_id}"


class FineTuneJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The privacy budget and the recipe.
    epsilon = models.FloatField(default=3.0)
    delta = models.FloatField(help_text="Below 1 / number of customers.")
    epochs = models.PositiveSmallIntegerField(default=3)
    learning_rate = models.FloatField(default=2e-3)
    lora_rank = models.PositiveSmallIntegerField(default=8)
    batch_customers = models.PositiveSmallIntegerField(
        default=16, help_text="Expected customers per step (Poisson sampling)."
    )
    base_model = models.CharField(max_length=500)
    # Progress, written by the worker.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(null=True, blank=True)
    loss = models.FloatField(null=True, blank=True)
    epsilon_spent = models.FloatField(null=True, blank=True)
    history = models.JSONField(default=list, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # One worker at a time: whoever holds an unexpired lease runs the job (redeliveries skip).
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The result.
    adapter_name = models.CharField(max_length=100, blank=True)
    adapter_path = models.CharField(max_length=500, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(epsilon__gt=0) & Q(delta__gt=0) & Q(delta__lt=1),
                name="finetune_privacy_budget_valid",
            )
        ]

    def __str__(self) -> str:
        return f"Fine-tuning job #{self.pk} ({self.status})"


class Deployment(models.Model):
    """Which model the assistant answers with from `created_at` on: the latest row wins.
    `replaces` chains each deployment to the one it replaced, so rollbacks walk back in order."""

    job = models.ForeignKey(
        FineTuneJob,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deployments",
        help_text="Empty: the base model.",
    )
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.job.adapter_name if self.job else 'base model'} since {self.created_at:%Y-%m-%d %H:%M}"
