from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actor import Actor, Channel
from brands.models import ApiKeyScope, Brand
from brands.services import api_key_create
from core.errors import DomainError


class Command(BaseCommand):
    help = "Issue an API key for a brand and print it (only the key, once: it is not stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="brand slug")
        parser.add_argument("--name", default="CLI key", help="label shown in the admin")
        parser.add_argument("--read-only", action="store_true", help="read scope only")

    def handle(self, *args: object, **options: object) -> None:
        brand = Brand.objects.filter(slug=options["slug"]).first()
        if brand is None:
            raise CommandError(f"No brand {options['slug']!r}. Create it with create_brand first.")
        actor = Actor.system(
            brand_id=brand.pk, brand_slug=brand.slug, name="cli", channel=Channel.CLI
        )
        try:
            _, plaintext = api_key_create(
                actor=actor,
                label=str(options["name"]),
                scope=ApiKeyScope.READ if options["read_only"] else ApiKeyScope.READ_WRITE,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(plaintext)
