import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.actor import Actor, Channel
from brands.models import Brand
from conversions.pruning import clicks_prune


class Command(BaseCommand):
    help = (
        "Delete raw clicks older than the retention period. Rollups (and so every report) stay, "
        "also through a later rebuild_rollups; conversions keep their click id. Deletes in "
        "batches to keep locks short."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args: object, **options: int) -> None:
        if options["older_than"] < 1:
            raise CommandError("--older-than must be at least 1 day.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        cutoff = timezone.now() - dt.timedelta(days=options["older_than"])
        total = 0
        for brand in Brand.objects.order_by("slug"):
            actor = Actor.system(
                brand_id=brand.pk, brand_slug=brand.slug, name="prune_clicks", channel=Channel.CLI
            )

            def progress(done: int, before: int = total) -> None:
                self.stdout.write(f"\rdeleted {before + done} clicks", ending="")
                self.stdout.flush()

            total += clicks_prune(
                actor=actor, before=cutoff, batch_size=options["batch_size"], progress=progress
            )
        self.stdout.write(f"\rdeleted {total} clicks older than {cutoff:%Y-%m-%d %H:%M} UTC")
