from django.core.management.base import BaseCommand

from core.secret_rotation import reencrypt_stored


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret stored encrypted (postback, Stripe/Shopify and webhook signing "
        "secrets, payout details, OpenID client secrets, queued email bodies) under the first "
        "key of TRCKER_SECRETS_KEY: step 2 of a key rotation. Prints the rows per model and "
        "the total."
    )

    def handle(self, *args: object, **options: object) -> None:
        counts = reencrypt_stored()
        for label, count in counts.items():
            self.stdout.write(f"{label}\t{count}")
        self.stdout.write(f"total\t{sum(counts.values())}")
