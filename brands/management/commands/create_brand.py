from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actor import Channel
from brands.services import brand_create
from core.errors import DomainError


class Command(BaseCommand):
    help = "Create a brand (tenant)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. Europe/Berlin")
        parser.add_argument("--currency", default="USD", help="ISO 4217 code")

    def handle(self, *args: object, **options: str) -> None:
        try:
            brand = brand_create(
                creator_label="system:cli",
                channel=Channel.CLI,
                slug=options["slug"],
                name=options["name"],
                timezone_name=options["timezone"],
                currency=options["currency"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(brand.slug)
