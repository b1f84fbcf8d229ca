import time

from django.core.management.base import BaseCommand, CommandError

from assistant.finetune import selectors, services
from assistant.finetune.models import Dataset, FineTuneJob
from assistant.shop.errors import DomainError


class Command(BaseCommand):
    help = "Start a DP fine-tuning job on a dataset, as the console's button does."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dataset", type=int, required=True, help="dataset id")
        parser.add_argument("--epsilon", type=float, default=3.0)
        parser.add_argument("--delta", type=float, default=None)
        parser.add_argument("--epochs", type=int, default=3)
        parser.add_argument("--learning-rate", type=float, default=2e-3)
        parser.add_argument("--lora-rank", type=int, default=8)
        parser.add_argument("--batch-customers", type=int, default=16)
        parser.add_argument("--wait", action="store_true", help="print progress until it ends")

    def handle(self, *args, **opts) -> None:
        dataset = Dataset.objects.filter(pk=opts["dataset"]).first()
        if dataset is None:
            raise CommandError(f"No dataset #{opts['dataset']}; create one with finetune_dataset.")
        try:
            job = services.job_create(
                dataset=dataset,
                epsilon=opts["epsilon"],
                delta=opts["delta"],
                epochs=opts["epochs"],
                learning_rate=opts["learning_rate"],
                lora_rank=opts["lora_rank"],
                batch_customers=opts["batch_customers"],
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Queued job #{job.pk} (adapter {job.adapter_name}, δ = {job.delta:.2e})")
        while opts["wait"]:
            time.sleep(2)
            job.refresh_from_db()
            p = selectors.job_progress(job=job)
            self.stdout.write(
                f"{p['status']}: step {p['step']}/{p['total_steps'] or '?'}, "
                f"loss {p['loss']}, ε spent {p['epsilon_spent']} of {p['epsilon_budget']}"
            )
            if job.status in FineTuneJob.FINISHED:
                if job.error:
                    raise CommandError(job.error)
                break
