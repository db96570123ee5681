"""``manage.py deliver_postbacks``: the name earlier releases gave the worker process; it runs
the same worker as ``run_workers`` (which also writes queued clicks and links audit events)."""

from workers.management.commands.run_workers import Command as RunWorkers


class Command(RunWorkers):
    help = "The worker process (same as run_workers): " + RunWorkers.help
