"""?secret= and ?sig= never reach a log (issue 12), nor a portal sign-in link's token, an
invitation's ?invite= or an OpenID provider's ?code=: Django's handlers and gunicorn's access
log."""

import logging
import subprocess
import sys
import time

import pytest
import requests

from core.log_redaction import RedactSecretsFilter, redact
from tests.factories import OfferFactory

SECRET = "whsec_must-never-be-logged"


@pytest.mark.parametrize(
    "line",
    [
        f"GET /api/postback/acme/x?click_id=c&secret={SECRET}&amount=1 HTTP/1.1",
        f"GET /api/postback/acme/x?s%65cret={SECRET} HTTP/1.1",  # Django decodes the name too
        f"POST /api/postback/acme/x?sig={SECRET}&ts=1 HTTP/1.1",
        f"secret={SECRET}",
        f"GET /p/acme/apply?invite={SECRET} HTTP/1.1",
        f"GET /p/acme/login/oidc/callback/?state=s&code={SECRET} HTTP/1.1",
        f'"GET /p/acme/login/link/{SECRET}/ HTTP/1.1" 200',
        f"POST /p/acme/login/link/{SECRET} HTTP/1.1",
    ],
)
def test_redact_removes_the_value_wherever_the_parameter_is(line):
    assert SECRET not in redact(line)
    assert "[redacted]" in redact(line)


def test_a_link_token_is_redacted_and_the_path_kept():
    assert redact("GET /p/acme/login/link/Ab12/ HTTP/1.1") == (
        "GET /p/acme/login/link/[redacted]/ HTTP/1.1"
    )


def test_other_parameters_are_left_alone():
    line = "GET /x?mysecret=1&click_id=clk_1&amount=9.90 HTTP/1.1"
    assert redact(line) == line


def test_djangos_handlers_redact_what_any_logger_writes(caplog):
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RedactSecretsFilter) for f in handler.filters)
    ]
    assert handlers, "the settings' handlers carry the redaction filter"
    server_logger = logging.getLogger("django.server")
    # (pytest adds its own capture handlers beside the settings' one)
    assert any(
        any(isinstance(f, RedactSecretsFilter) for f in handler.filters)
        for handler in server_logger.handlers
    )
    for name in ("django.request", "django.server", "conversions.views"):
        record = logging.getLogger(name).makeRecord(
            name,
            logging.WARNING,
            __file__,
            1,
            '"%s" %s',
            (f"GET /api/postback/acme/x?txn_id=1&secret={SECRET} HTTP/1.1", 401),
            None,
        )
        assert all(handler.filter(record) for handler in handlers)
        assert SECRET not in handlers[0].format(record)


def test_gunicorns_access_log_has_no_secret(brand, tmp_path, app_server):
    OfferFactory(brand=brand, slug="logged", postback_secret=SECRET)
    access_log = tmp_path / "access.log"
    args = (
        *("--access-logfile", str(access_log)),
        *("--logger-class", "trcker_site.gunicorn_logging.RedactingLogger"),
        # The request line (%(r)s), the query (%(q)s) and the referrer: every place it could be.
        *("--access-logformat", '%(h)s "%(r)s" %(s)s q=%(q)s ref=%(f)s'),
    )
    server = app_server(workers=1, threads=1, extra_args=args)
    for url in (
        f"/api/postback/{brand.slug}/logged?click_id=x&txn_id=1&secret={SECRET}",
        f"/api/postback/{brand.slug}/logged?sig={SECRET}&ts=1",
        f"/api/postback/{brand.slug}/nope?secret={SECRET}",
    ):
        requests.get(server.url(url), headers={"Referer": server.url(url)}, timeout=10)

    def postback_lines() -> list[str]:
        # The health checks of the start are in the access log too.
        return [line for line in access_log.read_text().splitlines() if "/api/postback/" in line]

    deadline = time.monotonic() + 10
    while len(postback_lines()) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    text = access_log.read_text()
    assert len(postback_lines()) == 3, text
    assert SECRET not in text
    assert "secret=[redacted]" in text


def test_gunicorn_accepts_the_logger_class_from_run_local_sh():
    """The option scripts/run-local.sh passes names a class gunicorn can load."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gunicorn.util import load_class; "
            "from gunicorn.glogging import Logger; "
            "c = load_class('trcker_site.gunicorn_logging.RedactingLogger', "
            "section='gunicorn.loggers'); assert issubclass(c, Logger)",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    from pathlib import Path

    script = (Path(__file__).resolve().parents[1] / "scripts" / "run-local.sh").read_text()
    assert "--logger-class trcker_site.gunicorn_logging.RedactingLogger" in script
