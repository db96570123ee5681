"""A real SMTP server on loopback for the email tests (aiosmtpd, in a thread of the test
process): it records every message it accepts and answers RCPT as a test tells it (a ``451``
to refuse for now, a ``550`` for good), or holds a RCPT until released (to kill a worker at a
known point of its exchange)."""

from __future__ import annotations

import asyncio
import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller

from tests.live_server import free_port


class SmtpServer:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        # Replies to the next RCPT commands, in order; an empty list accepts.
        self.rcpt_replies: list[str] = []
        # RCPT number (1-based, counted over the server's life) to hold until ``release``.
        self.hold_rcpt: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self._rcpts = 0
        self._lock = threading.Lock()

    # --- aiosmtpd handler hooks -----------------------------------------------------------

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        with self._lock:
            self._rcpts += 1
            number = self._rcpts
            reply = self.rcpt_replies.pop(0) if self.rcpt_replies else None
        if number == self.hold_rcpt:
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "421 4.3.0 held and released"
        if reply is not None and not reply.startswith("250"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = cast(EmailMessage, email.message_from_bytes(envelope.content, policy=default))
        with self._lock:
            self.messages.append(message)
        return "250 2.0.0 accepted"

    # --- what tests read ------------------------------------------------------------------

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(message["Subject"]) for message in self.messages]

    def env(self) -> dict[str, str]:
        """Settings of a process that sends here (manage.py reads them from the environment)."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": self.host,
            "EMAIL_PORT": str(self.port),
        }


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    controller = Controller(server, hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        server.release.set()
        controller.stop()


def body_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return cast(EmailMessage, part).get_content()


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpServer]:
    """A real SMTP server on loopback, and this process's email settings pointing at it."""
    with smtp_server() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = server.host
        settings.EMAIL_PORT = server.port
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 5
        yield server
