import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.models import Brand
from conversions.rollups import rebuild_brand


class Command(BaseCommand):
    help = (
        "Bring the daily rollups to the raw clicks and conversions, day by day: the difference "
        "(raw - rollups, read in one snapshot) is added as a correction. Deletes nothing and "
        "lets live writers go on, so it is safe while traffic flows. Days prune_clicks has "
        "reached keep their click counts; only their conversion columns are rebuilt."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", help="only this brand slug")
        parser.add_argument(
            "--since", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD (brand time zone)"
        )

    def handle(self, *args: object, **options: Any) -> None:
        brands = Brand.objects.order_by("slug")
        if options["brand"]:
            brands = brands.filter(slug=options["brand"])
            if not brands.exists():
                raise CommandError(f"No brand {options['brand']!r}.")
        for brand in brands:

            def progress(done: int, total: int, slug: str = brand.slug) -> None:
                width = 30
                filled = width * done // max(total, 1)
                self.stdout.write(
                    f"\r{slug:>16} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} days",
                    ending="",
                )
                self.stdout.flush()

            days = rebuild_brand(brand_id=brand.pk, since=options["since"], progress=progress)
            self.stdout.write(f"\r{brand.slug:>16} rebuilt {days} day(s)" + " " * 30)
