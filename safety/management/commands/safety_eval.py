"""python manage.py safety_eval --data FILE.jsonl [--data FILE2.jsonl] [--json] [--no-judge]

Precision, recall, F1, AUPRC (tier-2 score), false-positive rate, accuracy and latency
p50/p99 per tier and for the cascade, per language. See safety.evaluation.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from safety.evaluation import evaluate_rows, format_table, read_jsonl


class Command(BaseCommand):
    help = "Evaluate the safety tiers and the cascade on a labelled JSONL file."

    def add_arguments(self, parser):
        parser.add_argument("--data", type=Path, action="append", required=True)
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--no-judge",
            action="store_true",
            help="never call the LLM judge: the uncertain band escalates",
        )
        parser.add_argument(
            "--latency-sample",
            type=int,
            default=200,
            help="single-message tier-2 timings per language",
        )

    def handle(self, *args, **opts):
        rows = []
        for path in opts["data"]:
            if not path.exists():
                raise CommandError(
                    f"{path} does not exist (build dev files with safety_build_eval)."
                )
            try:
                rows += read_jsonl(path)
            except ValueError as error:
                raise CommandError(str(error)) from error
        report = evaluate_rows(
            rows,
            use_judge=not opts["no_judge"],
            latency_sample=opts["latency_sample"],
            progress=None if opts["json"] else lambda line: self.stderr.write(line),
        )
        report["data"] = [str(p) for p in opts["data"]]
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=1))
        else:
            self.stdout.write(format_table(report))
            self.stdout.write("\nkeyword categories (stopped = block/escalate):")
            for category, entry in sorted(report["keyword_categories"].items()):
                self.stdout.write(f"  {category:18} {entry}")
