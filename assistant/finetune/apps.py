from django.apps import AppConfig


class FinetuneConfig(AppConfig):
    name = "assistant.finetune"
    label = "finetune"
    verbose_name = "Fine-tuning"
