from django.apps import AppConfig


class UiConfig(AppConfig):
    name = "dmvault.ui"
    label = "ui"
    verbose_name = "Review UI"
