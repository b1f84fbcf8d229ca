"""The safety layer's write side, and the one call the assistant codes against.

Contract::

    from safety.services import Verdict, check

    verdict = check(text, direction="input" | "output", context="", conversation_id=None)

- Inputs are checked before the model sees them; outputs before the customer sees them
  (streamed text in sentence-sized chunks, with the text so far or the previous turn as
  ``context``).
- ``verdict.action``: ``allow`` (pass ``verdict.text`` on), ``redact`` (pass ``verdict.text``
  on: PII of other people was replaced by ``[EMAIL]``, ``[PHONE]`` ...), ``block`` (do not pass
  it on; answer with a refusal) or ``escalate`` (do not pass it on; hand the conversation to a
  person).
- ``verdict.tier``: ``keywords`` | ``classifier`` | ``alignment`` | ``pii`` | ``None``;
  ``categories`` (scores 0-1), ``principle`` (tier 3's cited principle code), ``latency_ms``
  per tier, ``reason`` (for operators, never shown to customers), ``audit_id`` (the stored
  ``SafetyVerdict`` row: text hash and a PII-redacted excerpt, never the raw text).
- ``redact_pii(text) -> (redacted_text, [PiiMatch])`` for fine-tuning data and logs.

The cascade itself is described in ``safety.policy``.
"""

import hashlib
from typing import Literal

from django.db import transaction
from django.utils import timezone

from assistant.shop.errors import DomainError

from .models import KeywordTerm, SafetyVerdict
from .normalize import normalize
from .pii import PiiMatch, redact_pii
from .policy import cascade
from .verdict import Verdict

__all__ = [
    "PiiMatch",
    "Verdict",
    "check",
    "keyword_term_upsert",
    "redact_pii",
    "verdict_review",
]

EXCERPT_CHARS = 1000
ACTIONS = ("allow", "redact", "block", "escalate")


class SafetyError(DomainError):
    """A request the safety layer cannot carry out, in words an operator can act on."""

    code = "safety_invalid"


def check(
    text: str,
    *,
    direction: Literal["input", "output"],
    context: str = "",
    conversation_id: int | None = None,
) -> Verdict:
    """Run the cascade on ``text`` and store the verdict (see the module docstring)."""
    if direction not in ("input", "output"):
        raise SafetyError(f"direction must be 'input' or 'output', not {direction!r}.")
    text = text or ""
    decision = cascade(text, direction=direction, context=context or "")
    row = SafetyVerdict.objects.create(
        direction=direction,
        conversation_id=conversation_id,
        text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        excerpt=redact_pii(text[:EXCERPT_CHARS])[0],
        context_excerpt=redact_pii((context or "")[-EXCERPT_CHARS:])[0],
        language=decision.language,
        action=decision.action,
        tier=decision.tier or "",
        categories=decision.categories,
        principle=decision.principle or "",
        latency_ms=decision.latency_ms,
        reason=decision.reason[:500],
        review_status=(
            SafetyVerdict.Review.PENDING
            if decision.action in ("block", "escalate")
            else SafetyVerdict.Review.NOT_NEEDED
        ),
    )
    return Verdict(
        action=decision.action,
        tier=decision.tier,
        categories=decision.categories,
        principle=decision.principle,
        latency_ms=decision.latency_ms,
        text=decision.text,
        reason=decision.reason,
        audit_id=row.pk,
    )


@transaction.atomic
def verdict_review(
    *,
    verdict: SafetyVerdict,
    reviewer,
    confirm: bool,
    expected_action: str = "",
    note: str = "",
) -> SafetyVerdict:
    """An operator confirms a verdict, or overturns it with the action it should have had
    (an overturned verdict becomes a training example: see ``selectors.overturned_examples``)."""
    verdict = SafetyVerdict.objects.select_for_update().get(pk=verdict.pk)
    if confirm:
        verdict.review_status = SafetyVerdict.Review.CONFIRMED
        verdict.expected_action = ""
    else:
        if not expected_action:
            expected_action = "allow" if verdict.action in ("block", "escalate") else "block"
        if expected_action not in ACTIONS:
            raise SafetyError(
                f"{expected_action!r} is not an action: use one of {', '.join(ACTIONS)}."
            )
        if expected_action == verdict.action:
            raise SafetyError(
                f"Overturning needs a different action than the verdict's own ({verdict.action})."
            )
        verdict.review_status = SafetyVerdict.Review.OVERTURNED
        verdict.expected_action = expected_action
    verdict.reviewed_by = reviewer
    verdict.reviewed_at = timezone.now()
    verdict.review_note = note[:500]
    verdict.save()
    return verdict


@transaction.atomic
def keyword_term_upsert(
    *,
    term: str,
    language: str,
    category: str,
    severity: int = 2,
    action: str = "block",
    match: str = KeywordTerm.Match.AUTO,
    source: str = "operator",
    note: str = "",
    enabled: bool = True,
) -> KeywordTerm:
    """Create or update a term; every process picks the change up (see ``safety.keywords``)."""
    if category not in KeywordTerm.Category.values:
        raise SafetyError(
            f"Unknown category {category!r}; use one of {', '.join(KeywordTerm.Category.values)}."
        )
    if action not in KeywordTerm.Action.values:
        raise SafetyError(f"Unknown action {action!r}; use block, escalate or flag.")
    if not term.strip():
        raise SafetyError("A keyword term cannot be empty.")
    key = normalize(term).strip()
    obj = KeywordTerm.objects.filter(normalized=key, language=language).first()
    obj = obj or KeywordTerm(language=language)
    obj.term, obj.category, obj.severity, obj.action = term.strip(), category, severity, action
    obj.match, obj.source, obj.note, obj.enabled = match, source, note, enabled
    obj.save()
    return obj
