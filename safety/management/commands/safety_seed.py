"""python manage.py safety_seed [--curate [--data-dir DIR]] [--update]

Loads the curated keyword list (safety/data/keywords/keywords.tsv) and the seed constitution
(safety/data/constitution.json) into the database; the initial data migration does the same
on a fresh database. --curate first rebuilds keywords.tsv from shared/data/safety (see
safety.curate for the rules). --update overwrites rows operators may have edited.
"""

from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from safety import alignment, keywords
from safety.curate import curate, write_tsv
from safety.models import KeywordTerm, Principle, PrincipleExample
from safety.seed import seed_constitution, seed_keywords


class Command(BaseCommand):
    help = "Load the curated keyword lists and the seed constitution."

    def add_arguments(self, parser):
        parser.add_argument(
            "--curate", action="store_true", help="rebuild keywords.tsv from the shared data first"
        )
        parser.add_argument("--data-dir", type=Path, default=None)
        parser.add_argument("--update", action="store_true", help="overwrite existing rows")

    def handle(self, *args, **opts):
        if opts["curate"]:
            rows, summary = curate(opts["data_dir"])
            path = write_tsv(rows)
            self.stdout.write(
                f"curated {summary['terms']} terms into {path}; demoted to flag: {', '.join(summary['demoted']) or 'none'}"
            )
        with transaction.atomic():
            n_terms = seed_keywords(KeywordTerm, update=opts["update"])
            n_principles = seed_constitution(Principle, PrincipleExample, update=opts["update"])
        keywords.bump_version()  # bulk writes send no signals
        alignment.bump_version()
        self.stdout.write(
            self.style.SUCCESS(f"{n_terms} keyword terms and {n_principles} principles written.")
        )
