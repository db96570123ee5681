from django.apps import AppConfig


class TrckerSiteConfig(AppConfig):
    name = "trcker_site"
    verbose_name = "Trcker"
