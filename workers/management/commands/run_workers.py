"""``manage.py run_workers``: the worker process (workers/loop.py). Run one or more beside the
web server; SIGTERM or Ctrl-C stops it after the current pass (a batch it held and did not
acknowledge is taken over by another worker)."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workers.loop import Worker


class Command(BaseCommand):
    help = (
        "Run the worker: write queued clicks and MCP tool-call rows, link audit events, "
        "deliver outbound postbacks, send queued emails (long-running; --once does what is "
        "pending and exits)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="do what is pending, then exit")
        parser.add_argument("--name", help="consumer name (default: host-pid)")
        parser.add_argument(
            "--interval",
            type=float,
            help="seconds an idle worker waits for new work (TRCKER_WORKER_IDLE_SECONDS)",
        )

    def handle(self, *args: object, **options: Any) -> None:
        name: str | None = options["name"]
        interval: float | None = options["interval"]
        worker = Worker(name=name or None)
        if interval is not None:
            worker.idle_seconds = float(interval)
        if options["once"]:
            worker.run_until_idle()
            totals = ", ".join(f"{kind}: {n}" for kind, n in sorted(worker.totals.items()) if n)
            self.stdout.write(f"done ({totals or 'nothing pending'})")
            return
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for problem in worker.check_configuration():
            self.stderr.write(f"WARNING queue Redis: {problem}")
        self.stdout.write(f"run_workers: {worker.consumer} running (Ctrl-C to stop)")
        worker.run(lambda: stopping)
        self.stdout.write("run_workers: stopped")
