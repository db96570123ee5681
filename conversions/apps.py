from django.apps import AppConfig


class ConversionsConfig(AppConfig):
    name = "conversions"

    def ready(self) -> None:
        # The outbox is where emitted webhook events go (brands.events, conversions.webhooks).
        from conversions.webhooks import register

        register()
