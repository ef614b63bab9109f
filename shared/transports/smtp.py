"""The SMTP transport: one connection per delivery, STARTTLS, login when configured."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
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


class SmtpTransport:
    """An SMTP server: one connection per delivery, upgraded with STARTTLS and logged in to
    when configured."""

    def __init__(self, settings: SmtpSettings, tls: ssl.SSLContext | None = None) -> None:
        if not settings.host:
            raise ValueError("the smtp transport needs SMTP_HOST")
        self.settings = settings
        self.tls = tls or ssl.create_default_context()

    @contextmanager
    def session(self) -> Iterator[Outgoing]:
        session = _SmtpSession(self)
        try:
            yield session
        finally:
            session.close()


class _SmtpSession:
    def __init__(self, transport: SmtpTransport) -> None:
        self.settings, self.tls = transport.settings, transport.tls
        self.client: smtplib.SMTP | None = None

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
            with suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()


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
