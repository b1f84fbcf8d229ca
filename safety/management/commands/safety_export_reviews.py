"""python manage.py safety_export_reviews [--out FILE.jsonl] [--since-id N]

Overturned verdicts from the admin review queue as training rows (PII-redacted excerpts,
labelled with the operator's decision), in the safety_eval JSONL shape.
"""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from safety.selectors import overturned_examples


class Command(BaseCommand):
    help = "Export overturned safety verdicts as training data."

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=None)
        parser.add_argument("--since-id", type=int, default=0)

    def handle(self, *args, **opts):
        rows = overturned_examples(since_id=opts["since_id"])
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if opts["out"]:
            opts["out"].write_text(body, encoding="utf-8")
            self.stderr.write(f"{len(rows)} rows written to {opts['out']}")
        else:
            sys.stdout.write(body)
