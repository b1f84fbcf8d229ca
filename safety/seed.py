"""Loading the curated keyword list and the seed constitution shipped in ``safety/data/``
into the database. Used by the data migration (with historical models) and ``safety_seed``.
Existing rows are left as operators edited them unless ``update`` is set."""

import json
from pathlib import Path

from .curate import read_tsv
from .normalize import normalize

DATA = Path(__file__).resolve().parent / "data"


def seed_keywords(KeywordTerm, *, rows: list[dict] | None = None, update: bool = False) -> int:
    rows = rows if rows is not None else read_tsv()
    existing = {(t.normalized, t.language): t for t in KeywordTerm.objects.all()}
    created, changed = [], []
    for r in rows:
        key = (normalize(r["term"]).strip(), r["language"])
        fields = {
            "category": r["category"], "severity": r["severity"], "action": r["action"],
            "source": r["source"], "note": r.get("note", ""),
        }  # fmt: skip
        if key in existing:
            if update:
                obj = existing[key]
                for name, value in fields.items():
                    setattr(obj, name, value)
                changed.append(obj)
            continue
        obj = KeywordTerm(term=r["term"], normalized=key[0], language=r["language"], **fields)
        existing[key] = obj
        created.append(obj)
    KeywordTerm.objects.bulk_create(created, batch_size=500)
    if changed:
        KeywordTerm.objects.bulk_update(
            changed, ["category", "severity", "action", "source", "note"], batch_size=500
        )
    return len(created) + len(changed)


def seed_constitution(Principle, PrincipleExample, *, update: bool = False) -> int:
    principles = json.loads((DATA / "constitution.json").read_text(encoding="utf-8"))
    count = 0
    for order, p in enumerate(principles):
        obj = Principle.objects.filter(code=p["code"]).first()
        if obj and not update:
            continue
        obj = obj or Principle(code=p["code"])
        obj.title, obj.description = p["title"], p["description"]
        obj.applies_to, obj.action, obj.order = p["applies_to"], p["action"], order
        obj.save()
        PrincipleExample.objects.filter(principle=obj).delete()
        PrincipleExample.objects.bulk_create(
            [PrincipleExample(principle=obj, kind="violation", text=t) for t in p["violation"]]
            + [PrincipleExample(principle=obj, kind="acceptable", text=t) for t in p["acceptable"]]
        )
        count += 1
    return count
