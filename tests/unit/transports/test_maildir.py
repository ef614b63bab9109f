"""The maildir transport: a real Maildir, one file per message however often it is written."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from shared.messages.imip import Mail, message_for, recipients
from shared.transports.maildir import MaildirTransport, maildir_name
from shared.use_cases.ports import Envelope, TransportError
from tests.unit.use_cases.delivery_fakes import ORGANIZER, notification


def test_each_message_is_one_eml_file_in_new_and_nothing_is_left_in_tmp(tmp_path: Path) -> None:
    item = notification()
    transport = MaildirTransport(tmp_path / "maildir")
    with transport.session() as outgoing:
        for attendee in recipients(item):
            message = Mail.of(message_for(item, attendee))
            outgoing.send(message, Envelope(ORGANIZER, attendee.email_address.address))

    files = sorted((tmp_path / "maildir" / "new").iterdir())
    assert len(files) == 3
    assert all(file.suffix == ".eml" for file in files)
    assert list((tmp_path / "maildir" / "tmp").iterdir()) == []
    assert (tmp_path / "maildir" / "cur").is_dir()
    first = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert first["Subject"] == "Canceled: Quarterly planning"
    assert b"\r\n" in files[0].read_bytes()  # written as it goes on the wire


def test_a_message_written_again_keeps_its_first_file(tmp_path: Path) -> None:
    item = notification()
    message = Mail.of(message_for(item, recipients(item)[0]))
    transport = MaildirTransport(tmp_path)
    envelope = Envelope(ORGANIZER, "AlexW@contoso.example")
    with transport.session() as outgoing:
        outgoing.send(message, envelope)
        written = (tmp_path / "new" / maildir_name(message)).read_bytes()
        outgoing.send(Mail.of(message_for(item, recipients(item)[0])), envelope)

    assert [file.name for file in (tmp_path / "new").iterdir()] == [maildir_name(message)]
    assert (tmp_path / "new" / maildir_name(message)).read_bytes() == written


def test_a_message_a_mail_client_moved_to_cur_is_not_written_again(tmp_path: Path) -> None:
    item = notification()
    message = Mail.of(message_for(item, recipients(item)[0]))
    transport = MaildirTransport(tmp_path)
    with transport.session() as outgoing:
        outgoing.send(message, Envelope(ORGANIZER, "AlexW@contoso.example"))
        name = maildir_name(message)
        (tmp_path / "new" / name).rename(tmp_path / "cur" / f"{name}:2,S")
        outgoing.send(message, Envelope(ORGANIZER, "AlexW@contoso.example"))

    assert list((tmp_path / "new").iterdir()) == []


def test_messages_a_mail_client_moved_do_not_stand_for_another_one(tmp_path: Path) -> None:
    item = notification()
    first, second = (Mail.of(message_for(item, guest)) for guest in recipients(item)[:2])
    transport = MaildirTransport(tmp_path)
    with transport.session() as outgoing:
        outgoing.send(first, Envelope(ORGANIZER, "AlexW@contoso.example"))
        name = maildir_name(first)
        (tmp_path / "new" / name).rename(tmp_path / "cur" / f"{name}:2,S")
        # A name that merely begins like the second one's, without the `:` of a moved message.
        (tmp_path / "cur" / f"{maildir_name(second)}x").write_bytes(b"")
        outgoing.send(second, Envelope(ORGANIZER, "MeganB@contoso.example"))

    assert [file.name for file in (tmp_path / "new").iterdir()] == [maildir_name(second)]


def test_a_maildir_that_cannot_be_written_is_a_transport_error(tmp_path: Path) -> None:
    item = notification()
    transport = MaildirTransport(tmp_path)
    with transport.session() as outgoing:
        (tmp_path / "tmp").rmdir()
        with pytest.raises(TransportError, match="maildir"):
            outgoing.send(
                Mail.of(message_for(item, recipients(item)[0])),
                Envelope(ORGANIZER, "AlexW@contoso.example"),
            )
