"""The outbound postback worker, which also writes clicks spooled while the database was down
(conversions/click_spool.py) and links new audit rows into their brands' hash chains
(audit.services.audit_chain_link). Several may run at once on PostgreSQL (rows are claimed with
SKIP LOCKED); on SQLite run one."""

from __future__ import annotations

import signal
import time
from types import FrameType

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections

from audit.services import audit_chain_link_all
from conversions import click_spool
from conversions.outbox import drain


class Command(BaseCommand):
    help = "Deliver outbound postbacks from the outbox (long-running; --once drains and exits)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="deliver everything due, then exit")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between polls when idle"
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["once"]:
            spooled = click_spool.drain()
            if spooled:
                self.stdout.write(f"wrote {spooled} spooled clicks")
            tried = drain()
            audit_chain_link_all()
            self.stdout.write(f"attempted {tried} deliveries")
            return
        self._stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            self._stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("deliver_postbacks: running (Ctrl-C to stop)")
        interval = float(options["interval"])  # type: ignore[arg-type]
        while not self._stopping:
            try:
                # Clicks kept in Redis while the database was down go in first.
                tried = click_spool.drain() + drain(limit=100)
                audit_chain_link_all()
            except DatabaseError:
                self.stderr.write("database unavailable; retrying")
                close_old_connections()
                tried = 0
            if not tried:
                time.sleep(interval)
        self.stdout.write("deliver_postbacks: stopped")
