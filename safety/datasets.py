"""The public labelled data under ``shared/data/safety`` mapped onto the tier-2 label set, with
the project's documented, seeded split.

Split (seed 13, stratified by source and label):

| source | upstream split | our ``train`` / ``val`` | our reported ``dev`` |
|---|---|---|---|
| COLD (zh) | train, dev | upstream train, 90/10 | upstream dev |
| DiaSafety (en, context + response) | train, val | upstream train, 90/10 | upstream val |
| Davidson tweets (en) | none | 70% / 10% | 20% |
| ToxiGen seeds (en) | none | 70% / 10% | 20% |
| jailbreak templates (en) | ``_train``, plain, ``_itw`` files | ``_train`` file + 60% of the plain file (+ attack tasks) / 40% of the plain file | in-the-wild file |
| benign shop messages (en, zh, generated) | by template, see ``safety.benign`` | templates i%5 in 0-2 / 3 | templates i%5 == 4 |
| hand-written category seeds (en, zh) | ``safety/data/category_seeds.jsonl`` | file's split | none |

Thresholds are calibrated on ``val`` only; ``dev`` is what ``safety_eval`` reports.
"""

import csv
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from .benign import benign_messages

CATEGORIES = [
    "harassment_hate",
    "sexual",
    "violence",
    "self_harm",
    "illegal_dangerous",
    "jailbreak",
    "unauthorized_advice",
]
LABELS = ["unsafe", *CATEGORIES]  # "unsafe" is the any-category head tier 2 decides on
SEED = 13
APP_DATA = Path(__file__).resolve().parent / "data"


def shared_data_dir() -> Path:
    """``SAFETY_DATA_DIR``, else ``../shared/data/safety`` next to the checkout (as in CI)."""
    env = os.environ.get("SAFETY_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "safety"


@dataclass
class Example:
    text: str
    lang: str
    source: str
    unsafe: int
    # category -> 1/0; a category missing here is unknown for this row (masked in the loss)
    labels: dict[str, int] = field(default_factory=dict)
    context: str = ""
    direction: str = "input"
    split: str = "train"


def _safe(text: str, lang: str, source: str, **kw) -> Example:
    return Example(text, lang, source, 0, dict.fromkeys(CATEGORIES, 0), **kw)


def _unsafe(text: str, lang: str, source: str, category: str | None, **kw) -> Example:
    return Example(text, lang, source, 1, {category: 1} if category else {}, **kw)


def _split(rows: list[Example], *, val: float, dev: float, seed: int = SEED) -> None:
    """Stratified by label, seeded; sets ``split`` in place."""
    rng = random.Random(seed)
    for label in (0, 1):
        group = [r for r in rows if r.unsafe == label]
        rng.shuffle(group)
        n_dev, n_val = round(len(group) * dev), round(len(group) * val)
        for i, row in enumerate(group):
            row.split = "dev" if i < n_dev else "val" if i < n_dev + n_val else "train"


def load_cold(root: Path) -> list[Example]:
    rows = []
    for name, split in (("train.csv", "train"), ("dev.csv", "dev")):
        with open(root / "coldataset" / name, encoding="utf-8-sig", newline="") as f:
            part = [
                _unsafe(r["TEXT"], "zh", "cold", "harassment_hate")
                if r["label"] == "1"
                else _safe(r["TEXT"], "zh", "cold")
                for r in csv.DictReader(f)
            ]
        if split == "train":
            _split(part, val=0.1, dev=0.0)
        else:
            for r in part:
                r.split = "dev"
        rows += part
    return rows


DIASAFETY_CATEGORY = {
    "Offending User": "harassment_hate",
    "Toxicity Agreement": "harassment_hate",
    "Biased Opinion": "harassment_hate",
    "Risk Ignorance": "self_harm",
    "Unauthorized Expertise": "unauthorized_advice",
}


def load_diasafety(root: Path) -> list[Example]:
    rows = []
    for name, split in (("train.json", "train"), ("val.json", "dev")):
        data = json.loads((root / "diasafety" / name).read_text(encoding="utf-8"))
        part = []
        for r in data:
            kw = {"context": r["context"], "direction": "output"}
            if r["label"] == "Unsafe":
                part.append(
                    _unsafe(
                        r["response"], "en", "diasafety", DIASAFETY_CATEGORY[r["category"]], **kw
                    )
                )
            else:
                part.append(_safe(r["response"], "en", "diasafety", **kw))
        if split == "train":
            _split(part, val=0.1, dev=0.0)
        else:
            for r in part:
                r.split = "dev"
        rows += part
    return rows


def load_davidson(root: Path) -> list[Example]:
    with open(root / "davidson_hate_offensive" / "labeled_data.csv", encoding="utf-8") as f:
        rows = [
            _safe(r["tweet"], "en", "davidson")
            if r["class"] == "2"
            else _unsafe(r["tweet"], "en", "davidson", "harassment_hate")
            for r in csv.DictReader(f)
        ]
    _split(rows, val=0.1, dev=0.2)
    return rows


def load_toxigen(root: Path) -> list[Example]:
    seen, rows = set(), []
    with open(root / "toxigen_seeds" / "toxigen_seed_sentences.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["text"] in seen:
                continue
            seen.add(r["text"])
            rows.append(
                _unsafe(r["text"], "en", "toxigen", "harassment_hate")
                if r["label"] == "hate"
                else _safe(r["text"], "en", "toxigen")
            )
    _split(rows, val=0.1, dev=0.2)
    return rows


def load_jailbreak(root: Path) -> list[Example]:
    """In-the-wild templates are reported (dev); the named templates are split 60/40 into
    train and val (seeded); the ``_train`` file is training data. Templates with a
    ``[INSERT PROMPT HERE]`` slot get one of the training attack tasks in training."""
    base = root / "jailbreak_self_reminder"
    tasks = [t["prompt"] for t in json.loads((base / "attack_prompt_train.json").read_text())]
    rng = random.Random(SEED)
    rows, seen = [], set()
    # Reported file first, so a template in several files is reported, never trained on.
    for name, split in (
        ("jailbreak_prompts_itw.csv", "dev"),
        ("jailbreak_prompts.csv", "train/val"),
        ("jailbreak_prompts_train.csv", "train"),
    ):
        with open(base / name, encoding="utf-8") as f:
            for r in csv.DictReader(f):
                key = " ".join(r["prompt"].split())[:200]
                if key in seen:
                    continue
                seen.add(key)
                row_split = split
                if split == "train/val":
                    row_split = "train" if rng.random() < 0.6 else "val"
                text = r["prompt"]
                if row_split == "train" and "[INSERT PROMPT HERE]" in text:
                    text = text.replace("[INSERT PROMPT HERE]", rng.choice(tasks))
                row = _unsafe(text, "en", "jailbreak", "jailbreak")
                row.split = row_split
                rows.append(row)
    for task in tasks:  # harmful tasks alone: unsafe, category unknown
        rows.append(_unsafe(task, "en", "jailbreak_task", None))
    return rows


def load_benign(*, per_template: int = 6) -> list[Example]:
    rows = []
    for r in benign_messages(per_template=per_template):
        row = _safe(r["text"], r["lang"], "benign_shop")
        row.split = r["split"]
        rows.append(row)
    return rows


def load_category_seeds(*, repeat_train: int = 3) -> list[Example]:
    """Hand-written examples; training rows are repeated (they are few and short)."""
    rows = []
    for line in (APP_DATA / "category_seeds.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        for _ in range(repeat_train if r["split"] == "train" else 1):
            row = _unsafe(r["text"], r["lang"], "category_seeds", r["category"])
            row.split = r["split"]
            rows.append(row)
    return rows


def load_all(root: Path | None = None) -> list[Example]:
    root = root or shared_data_dir()
    if not root.is_dir():
        raise FileNotFoundError(
            f"Safety data not found at {root}: set SAFETY_DATA_DIR or pass --data-dir "
            "(the shared/data/safety folder)."
        )
    return (
        load_cold(root)
        + load_diasafety(root)
        + load_davidson(root)
        + load_toxigen(root)
        + load_jailbreak(root)
        + load_benign()
        + load_category_seeds()
    )


def subsample(rows: list[Example], *, caps: dict[str, int], seed: int = SEED) -> list[Example]:
    """At most ``caps[source]`` rows per source (balanced by label), the others untouched."""
    rng = random.Random(seed)
    out = []
    for source in sorted({r.source for r in rows}):
        group = [r for r in rows if r.source == source]
        cap = caps.get(source)
        if cap is None or len(group) <= cap:
            out += group
            continue
        by_label = {y: [r for r in group if r.unsafe == y] for y in (0, 1)}
        take_pos = min(len(by_label[1]), max(cap // 2, cap - len(by_label[0])))
        take_neg = min(len(by_label[0]), cap - take_pos)
        out += rng.sample(by_label[1], take_pos) + rng.sample(by_label[0], take_neg)
    rng.shuffle(out)
    return out


def load_jsonl_examples(
    path: Path, *, split: str = "train", source: str = "review"
) -> list[Example]:
    """Rows in the ``safety_eval`` JSONL shape (e.g. ``safety_export_reviews`` output) as
    training examples; their categories are unknown, only ``unsafe`` is used."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        row = (
            _unsafe(r["text"], r.get("lang", "en"), source, None)
            if r["unsafe"]
            else _safe(r["text"], r.get("lang", "en"), source)
        )
        row.context = r.get("context") or ""
        row.direction = r.get("direction", "input")
        row.split = split
        rows.append(row)
    return rows
