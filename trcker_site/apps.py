import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("trcker")


class TrckerSiteConfig(AppConfig):
    name = "trcker_site"
    verbose_name = "Trcker"

    def ready(self) -> None:
        if settings.TRCKER_OUTBOUND_ALLOW_PRIVATE:
            logger.warning(
                "TRCKER_OUTBOUND_ALLOW_PRIVATE is ON: outbound postbacks may reach loopback and "
                "private addresses. Use this for local development and tests only."
            )
