"""python manage.py safety_build_eval [--data-dir DIR] [--out DIR]

Writes the reported (dev) part of the documented split (safety.datasets) as safety_eval
JSONL files, one per source plus all_dev.jsonl: Davidson 20% and ToxiGen 20% (seeded,
stratified), COLD dev, DiaSafety val (output direction, with context), the in-the-wild
jailbreak prompts, and benign shop messages from held-out templates (safety.benign).
None of these rows are used for training or threshold calibration.
"""

import json
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from safety.datasets import load_all, load_benign


class Command(BaseCommand):
    help = "Build the dev JSONL files for safety_eval."

    def add_arguments(self, parser):
        parser.add_argument("--data-dir", type=Path, default=None)
        parser.add_argument("--out", type=Path, default=Path(settings.VAR_DIR) / "safety-eval")

    def handle(self, *args, **opts):
        try:
            rows = [
                r
                for r in load_all(opts["data_dir"])
                if r.split == "dev" and r.source != "benign_shop"
            ]
        except FileNotFoundError as error:
            raise CommandError(str(error)) from error
        benign = load_benign(per_template=8)
        rows += [r for r in benign if r.split == "dev"]
        out: Path = opts["out"]
        out.mkdir(parents=True, exist_ok=True)
        by_source: dict[str, list[str]] = {}
        for r in rows:
            line = {"text": r.text, "unsafe": r.unsafe, "lang": r.lang, "direction": r.direction}
            if r.context:
                line["context"] = r.context
            by_source.setdefault(r.source, []).append(json.dumps(line, ensure_ascii=False))
        for source, lines in by_source.items():
            (out / f"{source}_dev.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        everything = [line for lines in by_source.values() for line in lines]
        (out / "all_dev.jsonl").write_text("\n".join(everything) + "\n", encoding="utf-8")
        # Benign messages from templates written after the classifier was trained.
        test = [
            json.dumps({"text": r.text, "unsafe": 0, "lang": r.lang}, ensure_ascii=False)
            for r in benign
            if r.split == "test"
        ]
        (out / "benign_shop_test.jsonl").write_text("\n".join(test) + "\n", encoding="utf-8")
        counts = Counter((r.source, r.lang, r.unsafe) for r in rows)
        for (source, lang, unsafe), n in sorted(counts.items()):
            self.stdout.write(f"{source:16} {lang} unsafe={unsafe} {n}")
        self.stdout.write(self.style.SUCCESS(f"wrote {len(rows)} rows to {out}"))
