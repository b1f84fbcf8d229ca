from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from assistant.shop.demo.seed import seed_demo


class Command(BaseCommand):
    help = (
        "Create the bilingual demo shop (customers, orders, shipments, returns), the operator "
        "and admin logins, and IDE API tokens. Deterministic for a seed and date; running it "
        "again changes nothing unless --reset is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--seed", type=int, default=20261122)
        parser.add_argument(
            "--today", help="Anchor date YYYY-MM-DD for order history (default: today)."
        )
        parser.add_argument("--reset", action="store_true", help="Delete the demo shop first.")

    def handle(self, *args, customers: int, seed: int, today: str | None, reset: bool, **options):
        if not 1 <= customers <= 100_000:
            raise CommandError("--customers must be between 1 and 100000.")
        try:
            anchor = date.fromisoformat(today) if today else timezone.localdate()
        except ValueError:
            raise CommandError(f"--today {today!r} is not a date like 2026-11-22.") from None
        report = seed_demo(customers=customers, seed=seed, today=anchor, reset=reset)
        counts = ", ".join(f"{n} {name}" for name, n in report.counts.items())
        verb = "Created" if report.created else "Already seeded:"
        self.stdout.write(f"{verb} demo shop with {counts}.")
        for login in report.credentials["logins"]:
            self.stdout.write(f"Console login: {login['username']} / {login['password']}")
        for token in report.credentials["api_tokens"]:
            self.stdout.write(f"IDE API token for {token['username']}: {token['token']}")
