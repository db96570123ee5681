"""What PostgreSQL says about row locks, for the concurrency tests' gates."""

from django.db import connection


def sessions_waiting_on_locks() -> int:
    """Sessions of this test database blocked on a lock right now."""
    with connection.cursor() as cursor:
        # Activity is read once per transaction unless the snapshot is dropped, and a gate
        # polls from inside its own transaction.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]
