"""The smtp transport against a real SMTP server in the test process (aiosmtpd)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.azurite import free_port
from shared.messages.imip import Mail, message_for, recipients
from shared.transports.smtp import IDLE_SECONDS, SmtpSettings, SmtpTransport
from shared.use_cases.ports import Envelope, RecipientRefused, TransportError
from tests.certificates import CertificateAuthority
from tests.mail_servers import SmtpSink
from tests.unit.use_cases.delivery_fakes import ORGANIZER, notification

LOGIN = ("mailer", "s3cret")


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path)


@pytest.fixture
def sink(authority: CertificateAuthority, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """A server that insists on STARTTLS and a login, as a real submission port does. The
    transports a test makes close the connections they keep before it stops."""
    made: list[SmtpTransport] = []
    original = SmtpTransport.__init__

    def init(self: SmtpTransport, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(SmtpTransport, "__init__", init)
    with SmtpSink(tls=authority.server_context(), login=LOGIN) as server:
        yield server
        for smtp in made:
            smtp.close()


def transport(
    sink: SmtpSink,
    authority: CertificateAuthority,
    *,
    password: str = LOGIN[1],
    envelope_from: str | None = None,
) -> SmtpTransport:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=sink.port,
        starttls=True,
        username=LOGIN[0],
        password=password,
        envelope_from=envelope_from,
        timeout=10.0,
    )
    return SmtpTransport(settings, tls=authority.client_context())


def send_all(smtp: SmtpTransport) -> None:
    item = notification()
    with smtp.session() as outgoing:
        for attendee in recipients(item):
            message = Mail.of(message_for(item, attendee))
            outgoing.send(message, Envelope(ORGANIZER, attendee.email_address.address))


def test_messages_go_over_starttls_after_login_one_per_recipient(
    sink: SmtpSink, authority: CertificateAuthority
) -> None:
    send_all(transport(sink, authority))

    received = sink.received
    assert [r.recipients for r in received] == [
        ("AlexW@contoso.example",),
        ("MeganB@contoso.example",),
        ("pat@fabrikam.example",),
    ]
    assert all(r.tls and r.login == LOGIN[0] and r.sender == ORGANIZER for r in received)
    message = received[0].message
    assert message["Subject"] == "Canceled: Quarterly planning"
    calendar = next(p for p in message.iter_parts() if p.get_content_type() == "text/calendar")
    assert b"METHOD:CANCEL" in calendar.get_payload(decode=True)


def test_a_configured_envelope_sender_replaces_the_organizer_in_mail_from_only(
    sink: SmtpSink, authority: CertificateAuthority
) -> None:
    send_all(transport(sink, authority, envelope_from="calendar@contoso.example"))

    first = sink.received[0]
    assert first.sender == "calendar@contoso.example"
    assert first.message["From"] == f"Adele Vance <{ORGANIZER}>"


def test_a_refused_recipient_is_refused_alone(
    sink: SmtpSink, authority: CertificateAuthority
) -> None:
    sink.refuse["megan@x.example"] = "451 4.3.0 Mailbox busy, try again"
    item = notification()
    message = Mail.of(message_for(item, recipients(item)[0]))
    with transport(sink, authority).session() as outgoing:
        with pytest.raises(RecipientRefused, match=r"451 4\.3\.0 Mailbox busy"):
            outgoing.send(message, Envelope(ORGANIZER, "megan@x.example"))
        outgoing.send(message, Envelope(ORGANIZER, "alex@x.example"))  # same connection goes on

    assert [r.recipients for r in sink.received] == [("alex@x.example",)]


def test_a_wrong_password_is_a_transport_error(
    sink: SmtpSink, authority: CertificateAuthority
) -> None:
    with pytest.raises(TransportError, match="535"):
        send_all(transport(sink, authority, password="wrong"))
    assert sink.received == []


def test_a_certificate_the_client_does_not_trust_is_a_transport_error(
    sink: SmtpSink, tmp_path: Path
) -> None:
    stranger = CertificateAuthority(tmp_path / "other")
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        send_all(transport(sink, stranger))


def test_a_server_that_is_not_there_is_a_transport_error(authority: CertificateAuthority) -> None:
    smtp = SmtpTransport(
        SmtpSettings(host="127.0.0.1", port=free_port(), timeout=5), authority.client_context()
    )
    with pytest.raises(TransportError, match=r"smtp 127\.0\.0\.1:\d+"):
        send_all(smtp)


def test_plain_smtp_without_login_when_so_configured() -> None:
    with SmtpSink() as plain:
        smtp = SmtpTransport(SmtpSettings(host="127.0.0.1", port=plain.port, starttls=False))
        send_all(smtp)
        assert [r.tls for r in plain.received] == [False, False, False]
        smtp.close()


def test_a_connection_serves_the_next_delivery_and_one_the_server_hung_up_on_is_replaced(
    authority: CertificateAuthority,
) -> None:
    with SmtpSink(idle_timeout=0.5) as server:
        smtp = SmtpTransport(SmtpSettings(host="127.0.0.1", port=server.port, starttls=False))
        send_all(smtp)
        send_all(smtp)  # the next delivery: the connection the first ended with
        assert len({r.peer for r in server.received}) == 1

        time.sleep(1.5)  # past the server's idle timeout: it hangs up on the kept connection
        send_all(smtp)  # the kept connection is dead: found out, replaced, nothing lost

        assert len(server.received) == 9
        assert len({r.peer for r in server.received}) == 2
        smtp.close()


def test_a_connection_idle_too_long_is_not_used_again(
    sink: SmtpSink, authority: CertificateAuthority
) -> None:
    now = [0.0]
    settings = transport(sink, authority).settings
    smtp = SmtpTransport(settings, authority.client_context(), lambda: now[0])
    send_all(smtp)
    now[0] += IDLE_SECONDS
    send_all(smtp)

    assert len({r.peer for r in sink.received}) == 2
