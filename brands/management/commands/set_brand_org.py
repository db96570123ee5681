from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actor import Actor, Channel
from brands.models import Brand
from brands.services import brand_set_external_org_id
from core.errors import DomainError


class Command(BaseCommand):
    help = "Link a brand to the identity provider organization whose users and tokens reach it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("org", help="the org claim value ('' unlinks)")

    def handle(self, *args: object, **options: str) -> None:
        brand = Brand.objects.filter(slug=options["slug"]).first()
        if brand is None:
            raise CommandError(f"No brand {options['slug']!r}.")
        actor = Actor.system(
            brand_id=brand.pk, brand_slug=brand.slug, name="cli", channel=Channel.CLI
        )
        try:
            brand = brand_set_external_org_id(actor=actor, external_org_id=options["org"])
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{brand.slug} → {brand.external_org_id or '(unlinked)'}")
