"""The SMTP transport: connections kept between deliveries, STARTTLS, login when configured."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from shared.messages.imip import Mail
from shared.use_cases.ports import Envelope, Outgoing, RecipientRefused, TransportError


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    envelope_from: str | None = None
    """The MAIL FROM every message uses (a relay may insist); the organizer's address if None."""
    timeout: float = 30.0


IDLE_SECONDS = 30.0
"""How long a connection a delivery ended with is kept for the next one (servers drop idle
clients after minutes: RFC 5321 asks them to wait 5)."""
MAX_IDLE = 8


class SmtpTransport:
    """An SMTP server: a connection per sending thread of a delivery, upgraded with STARTTLS and
    logged in to when configured, and kept open for the next delivery (up to `MAX_IDLE` of
    them, each for `IDLE_SECONDS`), as the transport lives as long as the worker process. A
    kept connection the server has closed meanwhile is found out by the first command and
    replaced (the send tries a new connection once)."""

    def __init__(
        self,
        settings: SmtpSettings,
        tls: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.host:
            raise ValueError("the smtp transport needs SMTP_HOST")
        self.settings = settings
        self.tls = tls or ssl.create_default_context()
        self.clock = clock
        self._idle: list[tuple[float, smtplib.SMTP]] = []
        self._lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[Outgoing]:
        session = _SmtpSession(self, self._kept())
        try:
            yield session
        finally:
            self._keep(session.release())

    def _kept(self) -> smtplib.SMTP | None:
        """The connection idle the shortest while, if one is fresh enough; the stale closed."""
        stale: list[smtplib.SMTP] = []
        found = None
        with self._lock:
            while self._idle and found is None:
                since, client = self._idle.pop()
                if self.clock() - since < IDLE_SECONDS:
                    found = client
                else:
                    stale.append(client)
        for client in stale:
            _quit(client)
        return found

    def _keep(self, client: smtplib.SMTP | None) -> None:
        if client is None:
            return
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append((self.clock(), client))
                return
        _quit(client)

    def close(self) -> None:
        """Every kept connection closed (QUIT)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, client in idle:
            _quit(client)


def _quit(client: smtplib.SMTP) -> None:
    with suppress(smtplib.SMTPException, OSError):
        client.quit()
    client.close()


class _SmtpSession:
    def __init__(self, transport: SmtpTransport, kept: smtplib.SMTP | None = None) -> None:
        self.settings, self.tls = transport.settings, transport.tls
        self.client: smtplib.SMTP | None = kept

    def _connected(self) -> smtplib.SMTP:
        if self.client is not None:
            return self.client
        host, port = self.settings.host, self.settings.port
        try:
            client = smtplib.SMTP(host, port, timeout=self.settings.timeout)
            try:
                client.ehlo()
                if self.settings.starttls:
                    client.starttls(context=self.tls)
                    client.ehlo()
                if self.settings.username:
                    client.login(self.settings.username, self.settings.password or "")
            except BaseException:
                client.close()
                raise
        except (smtplib.SMTPException, OSError) as error:
            raise TransportError(f"smtp {host}:{port}: {_describe(error)}") from error
        self.client = client
        return client

    def send(self, mail: Mail, envelope: Envelope) -> None:
        sender = self.settings.envelope_from or envelope.sender
        # An address beyond ASCII needs the server's SMTPUTF8 (smtplib refuses to send it
        # otherwise, as `send_message` would); the message itself is 7-bit either way.
        international = not (sender + envelope.recipient).isascii()
        options = ("SMTPUTF8", "BODY=8BITMIME") if international else ()
        for last_try in (False, True):
            client = self._connected()
            try:
                client.sendmail(sender, [envelope.recipient], mail.data, mail_options=options)
                return
            except smtplib.SMTPServerDisconnected as error:
                self.client = None  # an idle connection the server closed: one new one
                if last_try:
                    raise TransportError(f"smtp: {_describe(error)}") from error
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as error:
                raise RecipientRefused(f"smtp: {_describe(error)}") from error
            except (smtplib.SMTPException, OSError) as error:
                self.close()
                raise TransportError(f"smtp: {_describe(error)}") from error

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            _quit(client)

    def release(self) -> smtplib.SMTP | None:
        """The connection, still good, for the next delivery (None when it failed)."""
        client, self.client = self.client, None
        return client


def _describe(error: Exception) -> str:
    """An SMTP error as the server put it: `451 4.3.0 try again later`."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{code} {reply.decode(errors='replace')}" for code, reply in error.recipients.values()
        )
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return f"{error.smtp_code} {text}"
    return f"{type(error).__name__}: {error}"
