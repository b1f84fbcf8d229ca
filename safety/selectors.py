"""Read-side queries for the safety layer."""

from django.db.models import QuerySet

from .models import SafetyVerdict

UNSAFE_ACTIONS = ("block", "escalate")


def review_queue(*, direction: str | None = None) -> QuerySet[SafetyVerdict]:
    """Verdicts waiting for an operator, oldest first."""
    qs = SafetyVerdict.objects.filter(review_status=SafetyVerdict.Review.PENDING)
    if direction:
        qs = qs.filter(direction=direction)
    return qs.order_by("created_at")


def overturned_examples(*, since_id: int = 0) -> list[dict]:
    """Overturned verdicts as training rows in the ``safety_eval`` JSONL shape (text is the
    stored PII-redacted excerpt): ``unsafe`` is the operator's judgement, not the tier's."""
    rows = []
    qs = SafetyVerdict.objects.filter(
        review_status=SafetyVerdict.Review.OVERTURNED, pk__gt=since_id
    ).order_by("pk")
    for v in qs:
        rows.append(
            {
                "text": v.excerpt,
                "unsafe": int(v.expected_action in UNSAFE_ACTIONS),
                "lang": v.language,
                "direction": v.direction,
                "context": v.context_excerpt,
                "source": f"review:{v.pk}",
                "verdict_action": v.action,
                "expected_action": v.expected_action,
                "tier": v.tier,
            }
        )
    return rows


def verdicts_for_conversation(*, conversation_id: int) -> QuerySet[SafetyVerdict]:
    return SafetyVerdict.objects.filter(conversation_id=conversation_id).order_by("created_at")


def recently_reviewed(*, limit: int = 20) -> QuerySet[SafetyVerdict]:
    return (
        SafetyVerdict.objects.filter(
            review_status__in=[SafetyVerdict.Review.CONFIRMED, SafetyVerdict.Review.OVERTURNED]
        )
        .select_related("reviewed_by")
        .order_by("-reviewed_at")[:limit]
    )
