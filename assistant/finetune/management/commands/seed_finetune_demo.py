"""Past conversations for the demo shop's customers, some of whom consented to training, so that
a first run's console can snapshot a dataset and fine-tune at once.

The dialogues come from the demo model's corpus generator (`modelserver.demo.corpus`) in the
phrasings it held out of the demo model's training: new to the model, as a shop's own customers
are. They are labelled `demo-history`; their order numbers are the generator's, not the shop's.
"""

import random
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from assistant.conversations.models import Conversation
from assistant.conversations.services import conversation_record
from assistant.finetune.models import TrainingConsent
from assistant.finetune.services import consent_grant
from assistant.shop.models import Customer, Locale

LABEL = "demo-history"


class Command(BaseCommand):
    help = "Give demo customers past conversations and training consents (once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--customers", type=int, default=80)
        parser.add_argument("--consenting", type=float, default=0.6, help="share that consent")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, customers: int, consenting: float, seed: int, **opts) -> None:
        from django.conf import settings

        from modelserver.demo import corpus, world

        if Conversation.objects.filter(labels__icontains=f'"{LABEL}"').exists():
            self.stdout.write("Demo conversation history already there.")
            return
        rng = random.Random(seed)
        chosen = list(Customer.objects.order_by("id")[:customers])
        with transaction.atomic():
            for customer in chosen:
                if rng.random() < consenting:
                    consent = consent_grant(
                        customer=customer, notice_version=settings.FINETUNE_NOTICE_VERSION
                    )
                    # As if they had consented a month ago and talked to us since.
                    TrainingConsent.objects.filter(pk=consent.pk).update(
                        granted_at=timezone.now() - timedelta(days=30)
                    )
                lang = "en" if customer.locale == Locale.EN else "zh"
                persona = world.make_customer(rng, lang)
                for _ in range(rng.randint(1, 4)):
                    d = corpus.dialogue(rng, persona, "held_out")
                    conversation = conversation_record(
                        customer=customer, messages=d.messages[1:], labels=[LABEL]
                    )
                    when = timezone.now() - timedelta(days=rng.randint(1, 28))
                    Conversation.objects.filter(pk=conversation.pk).update(created_at=when)
        consents = TrainingConsent.objects.filter(revoked_at__isnull=True).count()
        self.stdout.write(
            f"Recorded past conversations for {len(chosen)} demo customers; "
            f"{consents} customers consent to training."
        )
