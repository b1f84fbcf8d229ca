from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "assistant.shop"
    label = "shop"
    verbose_name = "Shop"
