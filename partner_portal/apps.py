from django.apps import AppConfig


class PartnerPortalConfig(AppConfig):
    name = "partner_portal"
    verbose_name = "Partner portal"
