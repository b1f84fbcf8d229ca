from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "assistant.health"
    label = "health"
    verbose_name = "Health"
