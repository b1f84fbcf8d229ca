"""Safety data: keyword terms (tier 1), the constitution (tier 3) and the verdict audit."""

from django.conf import settings
from django.db import models

from .normalize import is_cjk, normalize


class KeywordTerm(models.Model):
    class Category(models.TextChoices):
        HARASSMENT_HATE = "harassment_hate", "harassment / hate"
        PROFANITY = "profanity", "profanity"
        SEXUAL = "sexual", "sexual"
        SEXUAL_MINORS = "sexual_minors", "sexual content involving minors"
        VIOLENCE = "violence", "violence"
        SELF_HARM = "self_harm", "self-harm"
        ILLEGAL_DANGEROUS = "illegal_dangerous", "illegal / dangerous (weapons, drugs, fraud)"
        JAILBREAK = "jailbreak", "jailbreak / prompt injection"
        SPAM = "spam", "spam / illicit services"

    class Action(models.TextChoices):
        BLOCK = "block", "block"
        ESCALATE = "escalate", "escalate to a person"
        FLAG = "flag", "flag (let the classifier decide; borderline)"

    class Match(models.TextChoices):
        AUTO = "auto", "auto (whole words for Latin script, anywhere for Chinese)"
        WORD = "word", "whole words only"
        SUBSTRING = "substring", "anywhere"

    term = models.CharField(max_length=200)
    normalized = models.CharField(max_length=200, editable=False, db_index=True)
    language = models.CharField(max_length=8, choices=[("en", "English"), ("zh", "Chinese")])
    category = models.CharField(max_length=32, choices=Category.choices)
    severity = models.PositiveSmallIntegerField(
        choices=[(1, "1 low"), (2, "2 medium"), (3, "3 high")], default=2
    )
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.BLOCK)
    match = models.CharField(max_length=16, choices=Match.choices, default=Match.AUTO)
    enabled = models.BooleanField(default=True)
    source = models.CharField(
        max_length=64, blank=True, help_text="list it came from, or 'operator'"
    )
    note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "term"]
        constraints = [
            models.UniqueConstraint(fields=["normalized", "language"], name="safety_term_unique")
        ]

    def __str__(self) -> str:
        return f"{self.term} ({self.category}, {self.action})"

    def save(self, *args, **kwargs) -> None:
        self.normalized = normalize(self.term).strip()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        self.normalized = normalize(self.term).strip()
        if not self.normalized:
            raise ValidationError({"term": "The term is empty once normalised."})
        clash = KeywordTerm.objects.filter(normalized=self.normalized, language=self.language)
        if clash.exclude(pk=self.pk).exists():
            raise ValidationError(
                {"term": f"'{self.normalized}' is already listed for this language."}
            )

    @property
    def whole_word(self) -> bool:
        if self.match == self.Match.AUTO:
            return not any(is_cjk(ch) for ch in self.normalized)
        return self.match == self.Match.WORD


class Principle(models.Model):
    """One article of the shop assistant's constitution (tier 3)."""

    class AppliesTo(models.TextChoices):
        OUTPUT = "output", "assistant outputs"
        INPUT = "input", "customer inputs"
        BOTH = "both", "both"

    code = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(
        help_text="What the assistant must (not) do; shown to the LLM judge."
    )
    applies_to = models.CharField(max_length=8, choices=AppliesTo.choices, default=AppliesTo.OUTPUT)
    action = models.CharField(
        max_length=16,
        choices=[("block", "block"), ("escalate", "escalate")],
        default="block",
        help_text="what a confident violation does",
    )
    enabled = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"


class PrincipleExample(models.Model):
    class Kind(models.TextChoices):
        VIOLATION = "violation", "violation"
        ACCEPTABLE = "acceptable", "acceptable"

    principle = models.ForeignKey(Principle, on_delete=models.CASCADE, related_name="examples")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.TextField()

    class Meta:
        ordering = ["principle", "kind", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.text[:60]}"


class SafetyVerdict(models.Model):
    """One call of ``safety.services.check``: what was decided, by which tier, and why.

    The text itself is not stored: only its SHA-256 and a PII-redacted excerpt."""

    class Review(models.TextChoices):
        NOT_NEEDED = "not_needed", "not needed"
        PENDING = "pending", "pending"
        CONFIRMED = "confirmed", "confirmed"
        OVERTURNED = "overturned", "overturned"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    direction = models.CharField(max_length=8, choices=[("input", "input"), ("output", "output")])
    conversation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    text_sha256 = models.CharField(max_length=64, db_index=True)
    excerpt = models.TextField(help_text="PII-redacted, at most 1,000 characters")
    context_excerpt = models.TextField(blank=True)
    language = models.CharField(max_length=8, default="en")
    action = models.CharField(
        max_length=16,
        choices=[(a, a) for a in ("allow", "redact", "block", "escalate")],
        db_index=True,
    )
    tier = models.CharField(max_length=16, blank=True)
    categories = models.JSONField(default=dict)
    principle = models.CharField(max_length=64, blank=True)
    latency_ms = models.JSONField(default=dict)
    reason = models.CharField(max_length=500, blank=True)
    review_status = models.CharField(
        max_length=16, choices=Review.choices, default=Review.NOT_NEEDED, db_index=True
    )
    expected_action = models.CharField(
        max_length=16, blank=True, help_text="the operator's decision when overturned"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "safety verdict"

    def __str__(self) -> str:
        return f"#{self.pk} {self.direction} {self.action} ({self.tier or 'no tier'})"
