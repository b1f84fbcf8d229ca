"""``safety_eval``: metrics per tier and for the cascade, per language.

Each row of the JSONL file: ``{"text", "unsafe": 0|1, "lang": "en"|"zh", "direction":
"input"|"output", "context": optional}``. A tier (or the cascade) *flags* a row when its action
is ``block`` or ``escalate`` (``borderline`` and ``redact`` do not count). Every tier runs on
every row (so each has its own numbers); the cascade's decision is replayed from those
outcomes with ``policy.decide``, exactly as ``check`` would decide with early exit, and its
latency is the sum of the tiers that would have run.

AUPRC is computed from the classifier's ``unsafe`` probability. Tier-2 scores are computed in
batches; per-message latency of every tier is measured on single messages (tier 2 on a seeded
sample of ``latency_sample`` rows per language, its batch share elsewhere).
"""

import json
import random
import time
from pathlib import Path

import numpy as np

from .policy import classifier_outcomes, decide, run_alignment, run_keywords, run_pii

TIER_NAMES = ("keywords", "classifier", "alignment", "cascade")


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                row = json.loads(line)
                if "text" not in row or row.get("unsafe") not in (0, 1):
                    raise ValueError(f"{path}:{n}: needs 'text' and 'unsafe' 0/1")
                rows.append(row)
    return rows


def _metrics(y: np.ndarray, pred: np.ndarray, latencies: list[float], scores=None) -> dict:
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    tn = int((~pred & (y == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    out = {
        "n": len(y),
        "positives": int(y.sum()),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4)
        if precision + recall
        else 0.0,
        "fpr": round(fp / (fp + tn), 4) if fp + tn else 0.0,
        "accuracy": round((tp + tn) / len(y), 4) if len(y) else 0.0,
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 3) if latencies else None,
        "latency_ms_p99": round(float(np.percentile(latencies, 99)), 3) if latencies else None,
    }
    if scores is not None and 0 < y.sum() < len(y):
        from sklearn.metrics import average_precision_score

        out["auprc"] = round(float(average_precision_score(y, scores)), 4)
    return out


def evaluate_rows(
    rows: list[dict],
    *,
    use_judge: bool = True,
    latency_sample: int = 200,
    seed: int = 13,
    progress=None,
) -> dict:
    texts = [r["text"] for r in rows]
    contexts = [r.get("context") or "" for r in rows]
    directions = [r.get("direction", "input") for r in rows]
    from .normalize import detect_language

    langs = [r.get("lang") or detect_language(r["text"]) for r in rows]

    # Warm up (automaton, models, constitution embeddings) so that latency is steady state.
    run_keywords("warm up")
    classifier_outcomes(["warm up"], [""])
    run_alignment("warm up", direction="output", context="", use_judge=False)

    # Tier 2 in batches (scores and decisions), then single-message latency on a sample.
    tier2 = []
    for start in range(0, len(rows), 256):
        tier2 += classifier_outcomes(texts[start : start + 256], contexts[start : start + 256])
        if progress:
            progress(f"classifier {min(start + 256, len(rows))}/{len(rows)}")
    rng = random.Random(seed)
    for lang in sorted(set(langs)):
        idx = [i for i, lg in enumerate(langs) if lg == lang]
        for i in rng.sample(idx, min(latency_sample, len(idx))):
            tier2[i].latency_ms = classifier_outcomes([texts[i]], [contexts[i]])[0].latency_ms
            tier2[i].sampled = True

    decisions, outcomes_all = [], []
    for i, text in enumerate(texts):
        pii, redacted = run_pii(text, direction=directions[i], context=contexts[i])
        kw = run_keywords(text)
        borderline = "borderline" in (kw.action, tier2[i].action)
        outcomes = {
            "keywords": kw,
            "classifier": tier2[i],
            "alignment": run_alignment(
                text,
                direction=directions[i],
                context=contexts[i],
                borderline=borderline,
                use_judge=use_judge,
            ),
        }
        outcomes_all.append(outcomes)
        decisions.append(
            decide(text, direction=directions[i], pii=pii, redacted=redacted, outcomes=outcomes)
        )
        if progress and (i + 1) % 1000 == 0:
            progress(f"tiers 1 and 3 {i + 1}/{len(rows)}")

    y_all = np.array([int(r["unsafe"]) for r in rows])
    scores_all = np.array([o["classifier"].score for o in outcomes_all])
    results = {}
    for lang in [*sorted(set(langs)), "all"]:
        idx = [i for i, lg in enumerate(langs) if lang in ("all", lg)]
        y, scores = y_all[idx], scores_all[idx]
        per = {}
        for tier in TIER_NAMES:
            if tier == "cascade":
                pred = np.array([decisions[i].action in ("block", "escalate") for i in idx])
                sampled = [i for i in idx if getattr(tier2[i], "sampled", False)]
                lat = [sum(decisions[i].latency_ms.values()) for i in sampled]
                lat12 = [
                    sum(v for k, v in decisions[i].latency_ms.items() if k != "alignment")
                    for i in sampled
                ]
                per[tier] = _metrics(y, pred, lat, scores)
                per[tier]["latency_tiers_1_2_ms_p50"] = (
                    round(float(np.percentile(lat12, 50)), 3) if lat12 else None
                )
                per[tier]["latency_tiers_1_2_ms_p99"] = (
                    round(float(np.percentile(lat12, 99)), 3) if lat12 else None
                )
                per[tier]["actions"] = {
                    a: sum(1 for i in idx if decisions[i].action == a)
                    for a in ("allow", "redact", "block", "escalate")
                }
                continue
            pred = np.array([outcomes_all[i][tier].action in ("block", "escalate") for i in idx])
            if tier == "classifier":
                lat = [tier2[i].latency_ms for i in idx if getattr(tier2[i], "sampled", False)]
            else:
                lat = [outcomes_all[i][tier].latency_ms for i in idx]
            per[tier] = _metrics(y, pred, lat, scores if tier == "classifier" else None)
        results[lang] = per
    return {"rows": len(rows), "results": results, "keyword_categories": keyword_categories(rows)}


def keyword_categories(rows: list[dict]) -> dict:
    """Per curated category: terms, and the safe and unsafe rows its terms stop (block or
    escalate) or flag. ``fpr`` is stopped safe rows / safe rows."""
    from collections import Counter

    from .keywords import get_matcher

    matcher = get_matcher()
    terms = Counter((t.category, t.action) for t in matcher.terms)
    stats: dict[str, dict] = {}
    safe_rows = sum(1 for r in rows if not r["unsafe"])
    unsafe_rows = len(rows) - safe_rows
    for (category, action), n in terms.items():
        entry = stats.setdefault(
            category,
            {"terms_stop": 0, "terms_flag": 0, "safe_stopped": 0, "safe_flagged": 0,
             "unsafe_stopped": 0, "unsafe_flagged": 0},
        )  # fmt: skip
        entry["terms_flag" if action == "flag" else "terms_stop"] += n
    for r in rows:
        seen = {}
        for hit in matcher.find(r["text"]):
            kind = "flagged" if hit.term.action == "flag" else "stopped"
            if seen.get(hit.term.category) != "stopped":
                seen[hit.term.category] = kind
        for category, kind in seen.items():
            stats[category][f"{'unsafe' if r['unsafe'] else 'safe'}_{kind}"] += 1
    for entry in stats.values():
        entry["fpr"] = round(entry["safe_stopped"] / safe_rows, 5) if safe_rows else 0.0
        entry["flag_rate_on_safe"] = (
            round(entry["safe_flagged"] / safe_rows, 5) if safe_rows else 0.0
        )
        entry["recall_stopped"] = (
            round(entry["unsafe_stopped"] / unsafe_rows, 5) if unsafe_rows else 0.0
        )
    return stats


def format_table(report: dict) -> str:
    lines = []
    head = f"{'lang':5} {'tier':11} {'n':>6} {'prec':>6} {'rec':>6} {'f1':>6} {'auprc':>6} {'fpr':>6} {'acc':>6} {'p50ms':>7} {'p99ms':>7}"
    lines.append(head)
    for lang, per in report["results"].items():
        for tier, m in per.items():
            lines.append(
                f"{lang:5} {tier:11} {m['n']:>6} {m['precision']:>6.3f} {m['recall']:>6.3f} "
                f"{m['f1']:>6.3f} {m.get('auprc', float('nan')):>6.3f} {m['fpr']:>6.3f} "
                f"{m['accuracy']:>6.3f} {m['latency_ms_p50'] or 0:>7.2f} {m['latency_ms_p99'] or 0:>7.2f}"
            )
    return "\n".join(lines)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start
