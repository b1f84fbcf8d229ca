import json

from django.core.management.base import BaseCommand, CommandError

from assistant.finetune import services
from assistant.shop.errors import DomainError


class Command(BaseCommand):
    help = "Snapshot the consenting customers' redacted dialogues as a fine-tuning dataset."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--max-dialogues-per-customer", type=int, default=20)

    def handle(self, *args, **opts) -> None:
        try:
            dataset = services.dataset_create(
                name=opts["name"], max_dialogues_per_customer=opts["max_dialogues_per_customer"]
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Dataset #{dataset.pk} ({dataset.content_sha256[:12]}):")
        self.stdout.write(json.dumps(dataset.stats, indent=2, ensure_ascii=False))
