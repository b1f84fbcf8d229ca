from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "assistant.conversations"
    label = "conversations"
    verbose_name = "Conversations"
