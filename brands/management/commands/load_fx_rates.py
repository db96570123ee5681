import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.fx_services import fx_reference_load
from core.ecb_rates import MAX_BYTES, RateFileError, parse_reference_rates


class Command(BaseCommand):
    help = (
        "Load the ECB's euro reference rates (eurofxref-daily.xml, eurofxref-hist.xml or "
        "eurofxref-hist-90d.xml) into the reference rate table every brand uses. The whole "
        "file or nothing: a file that is not exactly that format changes no rate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path of the ECB XML file ('-' reads standard input)")

    def handle(self, *args: object, **options: object) -> None:
        name = str(options["file"])
        try:
            if name == "-":
                data = sys.stdin.buffer.read(MAX_BYTES + 1)
            else:
                with Path(name).open("rb") as handle:
                    data = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {name}: {exc.strerror or exc}") from None
        try:
            rates = parse_reference_rates(data)
        except RateFileError as exc:
            raise CommandError(f"{name}: not loaded, {exc}. No rate was changed.") from None
        summary = fx_reference_load(rates)
        self.stdout.write(
            f"{len(rates)} reference rates from {summary.first_day} to {summary.last_day} "
            f"({', '.join(summary.currencies)}): {summary.added} added, {summary.changed} "
            f"corrected, {summary.unchanged} unchanged."
        )
