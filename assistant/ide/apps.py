from django.apps import AppConfig


class IdeConfig(AppConfig):
    name = "assistant.ide"
    label = "ide"
    verbose_name = "IDE code completion"
