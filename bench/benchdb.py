"""The benchmarks' PostgreSQL database: created on first use, so `make bench` runs on a fresh
machine with only a server to connect to."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def ensure_postgres_database(url: str) -> None:
    """CREATE DATABASE for ``url`` if it does not exist yet (no-op for other engines)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg
    from psycopg import sql

    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
