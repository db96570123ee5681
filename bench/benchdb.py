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


def bench_secret_key(results_dir) -> str:
    """SECRET_KEY for the benchmark's processes: the environment's, else one generated once and
    kept beside the results (git-ignored). It must stay the same from run to run: the
    benchmark database keeps postback secrets encrypted with a key derived from it."""
    import os
    import secrets
    from pathlib import Path

    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = Path(results_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(40))
        path.chmod(0o600)
    return path.read_text().strip()
