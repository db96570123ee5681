#!/usr/bin/env python
"""Django's command-line utility, made to work as the README writes it after `make run`.

Two things a fresh shell lacks, supplied here and nowhere else (gunicorn, the tests and
production never go through this file's helpers):

- **The project's interpreter.** Run by a Python that cannot import Django (the system
  ``python``), it re-executes itself with ``.venv/bin/python`` when that exists, which is
  where ``make run`` and ``make test`` install everything.
- **`make run`'s settings.** Settings come only from the environment. When ``SECRET_KEY`` is
  not in it, the values ``make run`` served with are read from its local directory (``var/``,
  or ``TRCKER_LOCAL_DIR``): the secret key it generated (``secret_key``) and the rest of its
  environment (``local.env``: DEBUG, ALLOWED_HOSTS, TRCKER_PUBLIC_URL and the database and
  Redis URLs it was given). A variable already in the environment wins over the file. So
  ``python manage.py create_api_key demo`` hashes, encrypts and writes with the same key and
  database as the running server.

With ``SECRET_KEY`` in the environment (production, CI) nothing local is read: this file
then behaves as Django's stock ``manage.py``, except that a settings error stops every
command at once with the settings' own message.
"""

import os
import sys
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"


def use_project_venv() -> None:
    """Re-execute with the project's virtualenv when this interpreter has no Django."""
    venv_python = VENV / "bin" / "python"
    if find_spec("django") is not None or not venv_python.exists():
        return
    if Path(sys.prefix).resolve() == VENV.resolve():
        return  # already the venv's interpreter: let the import below say what is missing
    # Replaces this process with the venv's interpreter on the same arguments; no shell.
    os.execv(str(venv_python), [str(venv_python), str(ROOT / "manage.py"), *sys.argv[1:]])  # noqa: S606


def local_directory() -> Path:
    return Path(os.environ.get("TRCKER_LOCAL_DIR") or ROOT / "var")


def use_local_settings() -> None:
    """`make run`'s secret key and environment, only when SECRET_KEY is not set."""
    if os.environ.get("SECRET_KEY"):
        return
    directory = local_directory()
    key_file = directory / "secret_key"
    if not key_file.is_file():
        return  # no `make run` here: settings explain what is missing
    os.environ["SECRET_KEY"] = key_file.read_text().strip()
    env_file = directory / "local.env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip() and not name.lstrip().startswith("#"):
                os.environ.setdefault(name.strip(), value)


def main() -> None:
    use_project_venv()
    use_local_settings()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trcker_site.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Load the settings now: Django defers a settings error, and some commands then fail
        # later on "Models aren't loaded yet", hiding what the settings say is missing.
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as error:
        sys.exit(f"manage.py: {error}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
