import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from conversions.models import Click


class Command(BaseCommand):
    help = (
        "Delete raw clicks older than the retention period. Rollups (and so every report) stay; "
        "conversions keep their click id. Deletes in batches to keep locks short."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args: object, **options: int) -> None:
        if options["older_than"] < 1:
            raise CommandError("--older-than must be at least 1 day.")
        cutoff = timezone.now() - dt.timedelta(days=options["older_than"])
        total = 0
        while True:
            ids = list(
                Click.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                    : options["batch_size"]
                ]
            )
            if not ids:
                break
            Click.objects.filter(pk__in=ids).delete()
            total += len(ids)
            self.stdout.write(f"\rdeleted {total} clicks", ending="")
            self.stdout.flush()
        self.stdout.write(f"\rdeleted {total} clicks older than {cutoff:%Y-%m-%d %H:%M} UTC")
