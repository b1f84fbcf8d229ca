"""The cascade: tiers in order, early exit, one decision. ``services.check`` runs it with
early exit and stores the verdict; ``safety_eval`` runs every tier on every row and replays
the same decision with ``decide`` so that per-tier and cascade numbers come from one code path.

Order and rules:

1. PII (regex and checksums, always run, < 1 ms): on outputs, PII that the context does not
   contain (another person's data) is redacted; the action becomes ``redact`` unless a later
   tier blocks. Inputs are not rewritten (customers give their own email to find an order).
2. Keywords: a ``block`` or ``escalate`` term decides; a ``flag`` term marks the text
   borderline.
3. Classifier: ``unsafe`` >= the language's block threshold blocks (the reason names the top
   category); >= the borderline threshold marks it borderline.
4. Alignment: runs on every output and on borderline inputs; a violation blocks or escalates
   citing the principle; the uncertain band goes to the LLM judge (escalate when unreachable).
"""

import time
from dataclasses import dataclass, field, replace

from .normalize import detect_language

TIERS = ("keywords", "classifier", "alignment")


@dataclass
class TierOutcome:
    tier: str
    action: str  # allow | block | escalate | borderline
    latency_ms: float
    categories: dict[str, float] = field(default_factory=dict)
    principle: str | None = None
    reason: str = ""
    score: float | None = None  # classifier: P(unsafe)


@dataclass
class Decision:
    action: str
    tier: str | None
    categories: dict[str, float]
    principle: str | None
    latency_ms: dict[str, float]
    text: str
    reason: str
    language: str


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def run_pii(text: str, *, direction: str, context: str) -> tuple[TierOutcome, str]:
    from .pii import find_pii

    start = time.perf_counter()
    matches = find_pii(text) if direction == "output" else []
    leaks = [m for m in matches if m.value not in context]
    redacted = text
    for m in sorted(leaks, key=lambda m: m.start, reverse=True):
        redacted = redacted[: m.start] + f"[{m.kind.upper()}]" + redacted[m.end :]
    kinds = sorted({m.kind for m in leaks})
    outcome = TierOutcome(
        "pii",
        "redact" if leaks else "allow",
        _ms(start),
        reason=f"redacted {', '.join(kinds)} not given in the conversation" if leaks else "",
    )
    return outcome, redacted


def run_keywords(text: str) -> TierOutcome:
    from .keywords import get_matcher

    start = time.perf_counter()
    hits = get_matcher().find(text)
    categories: dict[str, float] = {}
    for hit in hits:
        categories[hit.term.category] = max(
            categories.get(hit.term.category, 0), hit.term.severity / 3
        )
    deciding = sorted(
        (h for h in hits if h.term.action in ("block", "escalate")),
        key=lambda h: (h.term.action == "block", h.term.severity),
        reverse=True,
    )
    if deciding:
        h = deciding[0]
        return TierOutcome(
            "keywords", h.term.action, _ms(start), categories,
            reason=f"term '{h.term.term}' ({h.term.category}, severity {h.term.severity})",
        )  # fmt: skip
    if hits:
        terms = ", ".join(sorted({h.term.term for h in hits}))[:200]
        return TierOutcome(
            "keywords", "borderline", _ms(start), categories, reason=f"flagged terms: {terms}"
        )
    return TierOutcome("keywords", "allow", _ms(start))


def classifier_outcomes(texts: list[str], contexts: list[str]) -> list[TierOutcome]:
    """Tier 2 for a batch (one forward pass per 32 texts); latency is the batch's share."""
    from .classifier import get_classifier

    clf = get_classifier()
    start = time.perf_counter()
    results = clf.predict(texts, contexts)
    share = _ms(start) / max(1, len(texts))
    outcomes = []
    for r in results:
        t = clf.thresholds_for(r.language)
        unsafe = r.scores["unsafe"]
        over = {
            c: s
            for c, s in r.scores.items()
            if c in t and c != "unsafe" and s >= t[c].get("block", 0.5)
        }
        # The category furthest above its own calibrated threshold, else the highest. By
        # margin, not ratio: a ratio made a low threshold win, and a threat scoring harassment
        # 0.94 was sent to a person as self-harm (0.44 over a 0.18 threshold).
        top = (
            max(over, key=lambda c: over[c] - t[c]["block"])
            if over
            else max((k for k in r.scores if k in t and k != "unsafe"), key=r.scores.get)
        )
        if unsafe >= t["unsafe"]["block"]:
            # Someone at risk of self-harm needs a person, not a refusal.
            action = "escalate" if top == "self_harm" else "block"
            reason = f"classifier: unsafe {unsafe:.2f}, mostly {top} ({r.scores[top]:.2f})"
        elif unsafe >= t["unsafe"]["borderline"]:
            action, reason = "borderline", f"classifier: borderline unsafe {unsafe:.2f} ({top})"
        else:
            action, reason = "allow", ""
        outcomes.append(
            TierOutcome("classifier", action, share, dict(r.scores), reason=reason, score=unsafe)
        )
    return outcomes


def run_alignment(
    text: str, *, direction: str, context: str, borderline: bool = False, use_judge: bool = True
) -> TierOutcome:
    from .alignment import evaluate

    start = time.perf_counter()
    r = evaluate(
        text, direction=direction, context=context, borderline=borderline, use_judge=use_judge
    )
    categories = {f"principle:{c}": s for c, s in r.scores.items()}
    return TierOutcome("alignment", r.action, _ms(start), categories, r.principle, r.reason)


def decide(
    text: str,
    *,
    direction: str,
    pii: TierOutcome,
    redacted: str,
    outcomes: dict[str, TierOutcome],
) -> Decision:
    """Walk the tiers in order as ``check`` does and return the decision and latencies of the
    tiers that would have run."""
    latency = {"pii": pii.latency_ms}
    categories: dict[str, float] = {}
    borderline = False
    reasons = []
    for name in TIERS:
        outcome = outcomes.get(name)
        if outcome is None:
            break
        if name == "alignment" and direction == "input" and not borderline:
            break
        latency[name] = outcome.latency_ms
        for k, v in outcome.categories.items():
            categories[k] = round(max(categories.get(k, 0.0), v), 5)
        if outcome.action in ("block", "escalate"):
            return Decision(
                outcome.action, name, categories, outcome.principle, latency, text,
                outcome.reason, detect_language(text),
            )  # fmt: skip
        if outcome.action == "borderline":
            borderline = True
            reasons.append(outcome.reason)
    if pii.action == "redact":
        return Decision(
            "redact", "pii", categories, None, latency, redacted, pii.reason, detect_language(text)
        )
    reason = (
        "; ".join(reasons) + ("; cleared by alignment" if reasons else "") or "no tier objected"
    )
    return Decision("allow", None, categories, None, latency, text, reason, detect_language(text))


def cascade(text: str, *, direction: str, context: str = "", use_judge: bool = True) -> Decision:
    """Run the tiers with early exit."""
    pii, redacted = run_pii(text, direction=direction, context=context)
    outcomes: dict[str, TierOutcome] = {}
    borderline = False
    for name in TIERS:
        if name == "keywords":
            outcome = run_keywords(text)
        elif name == "classifier":
            # Judged alone and in its context, the more severe reading counts: a context must
            # never make a harmful message pass (a request repeated after a refusal did).
            readings = (
                classifier_outcomes([text, text], [context, ""])
                if context
                else (classifier_outcomes([text], [""]))
            )
            outcome = replace(
                max(readings, key=lambda o: o.score),
                latency_ms=sum(o.latency_ms for o in readings),
            )
        else:
            if direction == "input" and not borderline:
                break
            outcome = run_alignment(
                text,
                direction=direction,
                context=context,
                borderline=borderline,
                use_judge=use_judge,
            )
        outcomes[name] = outcome
        if outcome.action in ("block", "escalate"):
            break
        borderline = borderline or outcome.action == "borderline"
    return decide(text, direction=direction, pii=pii, redacted=redacted, outcomes=outcomes)
