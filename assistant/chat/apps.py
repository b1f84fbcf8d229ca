from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "assistant.chat"
    label = "chat"
    verbose_name = "Chat widget API"
