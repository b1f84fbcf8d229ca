"""Conversations between a customer (or an anonymous visitor), the assistant and operators.

Every message is stored before anything acts on it; the assistant's reasoning is kept apart
from what the customer sees; every tool call is audited.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from assistant.shop.models import Customer, Locale


class Conversation(models.Model):
    class Status(models.TextChoices):
        BOT = "bot", "With the assistant"
        WAITING = "waiting_for_human", "Waiting for a human"
        HUMAN = "with_human", "With a human"
        CLOSED = "closed", "Closed"

    TRANSITIONS: dict[str, set[str]] = {
        Status.BOT: {Status.WAITING, Status.HUMAN, Status.CLOSED},
        Status.WAITING: {Status.HUMAN, Status.BOT, Status.CLOSED},
        Status.HUMAN: {Status.BOT, Status.CLOSED},
        Status.CLOSED: set(),
    }

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    # Anonymous visitors are known only by the id in their signed session token.
    visitor_id = models.UUIDField(db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BOT)
    locale = models.CharField(max_length=8, choices=Locale.choices, default=Locale.EN)
    labels = models.JSONField(default=list, blank=True)
    flagged = models.BooleanField(default=False, help_text="A safety verdict asked for review.")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    csat_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    csat_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["status", "-updated_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(csat_rating__isnull=True) | Q(csat_rating__gte=1, csat_rating__lte=5),
                name="csat_rating_1_to_5",
            )
        ]

    def __str__(self) -> str:
        return f"Conversation {self.public_id}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "Customer"
        ASSISTANT = "assistant", "Assistant"
        TOOL = "tool", "Tool result"
        OPERATOR = "operator", "Operator"
        SYSTEM = "system", "System notice"

    class Status(models.TextChoices):
        COMPLETE = "complete", "Complete"
        STREAMING = "streaming", "Being written"
        FAILED = "failed", "Failed (can be retried)"
        INTERRUPTED = "interrupted", "Interrupted"
        BLOCKED = "blocked", "Blocked by the safety layer"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    # The model's reasoning (R1 <think>): for audit and operators, never sent to customers.
    reasoning = models.TextField(blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    tool_call_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    error = models.TextField(blank=True)
    # The widget's own id for a message it sent: a retried POST does not store it twice.
    client_id = models.CharField(max_length=64, blank=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    adapter = models.CharField(max_length=200, blank=True)
    safety_verdict_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~Q(client_id=""),
                name="client_id_once_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class ToolCall(models.Model):
    """Audit of one tool run: what the model asked, what ran, what came back."""

    class Outcome(models.TextChoices):
        OK = "ok", "Succeeded"
        INVALID_ARGUMENTS = "invalid_arguments", "Invalid arguments"
        DENIED = "denied", "Refused by the domain"
        ERROR = "error", "Failed"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="tool_runs"
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="tool_runs")
    call_id = models.CharField(max_length=64)
    name = models.CharField(max_length=64)
    arguments = models.TextField(help_text="As the model wrote them.")
    result = models.JSONField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    latency_ms = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} → {self.outcome}"


class Note(models.Model):
    """An operator's private note on a conversation: never shown to the customer or the model."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:40]


class CannedResponse(models.Model):
    """A reply operators insert with one click; admins keep the list."""

    title = models.CharField(max_length=100)
    text = models.TextField()
    locale = models.CharField(max_length=8, choices=Locale.choices, default=Locale.EN)

    class Meta:
        ordering = ["locale", "title"]
        constraints = [
            models.UniqueConstraint(fields=["locale", "title"], name="canned_title_per_locale")
        ]

    def __str__(self) -> str:
        return self.title
