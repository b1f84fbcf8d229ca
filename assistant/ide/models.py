from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A bearer token for IDE plugins. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=16, help_text="The token's first characters, to tell tokens apart."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Completion(models.Model):
    """One completion served to an IDE (Tabby API), for acceptance-rate reporting."""

    public_id = models.CharField(max_length=64, unique=True)  # "cmpl-<uuid>", echoed in events
    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="completions")
    language = models.CharField(max_length=32, blank=True)
    prompt_chars = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    redactions = models.PositiveIntegerField(
        default=0, help_text="Secrets removed from the prompt."
    )
    latency_ms = models.PositiveIntegerField()
    failed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["token", "-created_at"])]

    def __str__(self) -> str:
        return self.public_id


class CompletionEvent(models.Model):
    class Type(models.TextChoices):
        VIEW = "view", "Shown"
        SELECT = "select", "Accepted"
        DISMISS = "dismiss", "Dismissed"

    completion = models.ForeignKey(Completion, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=16, choices=Type.choices)
    choice_index = models.PositiveSmallIntegerField(default=0)
    view_id = models.CharField(max_length=64, blank=True)
    elapsed_ms = models.PositiveIntegerField(null=True, blank=True)
    select_kind = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.completion_id} {self.type}"
