from django.core.management.base import BaseCommand

from offers.secret_storage import reencrypt_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored postback secret under the first key of TRCKER_SECRETS_KEY "
        "(step 2 of a key rotation); prints how many offers were rewritten."
    )

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write(str(reencrypt_all()))
