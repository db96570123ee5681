from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.selectors import audit_chain_verify
from brands.models import Brand


class Command(BaseCommand):
    help = (
        "Recompute every brand's keyed audit chain and content hashes (each brand read in one "
        "snapshot; links nothing) and report the first broken link."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", help="only this brand slug")

    def handle(self, *args: object, **options: object) -> None:
        brands = Brand.objects.order_by("pk")
        if options["brand"]:
            brands = brands.filter(slug=options["brand"])
            if not brands.exists():
                raise CommandError(f"No brand {options['brand']!r}.")
        broken = 0
        for brand in brands:
            link = audit_chain_verify(brand_id=brand.pk)
            if link is None:
                self.stdout.write(f"ok      {brand.slug}")
                continue
            broken += 1
            where = f"event id {link.event_id}" if link.event_id else "end of chain"
            # An event not linked yet has no seq; its content hash is what failed.
            position = "unlinked" if link.seq is None else f"seq {link.seq}"
            self.stdout.write(f"BROKEN  {brand.slug}: {position} ({where}): {link.reason}")
        if broken:
            raise CommandError(f"{broken} brand chain(s) broken")
