"""A notification's messages made from its parts built once (`Notice`) are the messages built
one by one, byte for byte, and the same bytes on every send."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from email import policy
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

import pytest

from shared.calendar.model import Attendee, EmailAddress, ItemBody, Notification, Recipient
from shared.messages import imip
from shared.messages.imip import (
    Notice,
    boundary_of,
    calendar_text,
    html_body,
    mail_address,
    message_id,
    recipients,
    single_line,
    subject_of,
    text_body,
    utc,
)
from tests.unit.messages.builders import invitation, occurrence_cancel, recurrence
from tests.unit.use_cases.delivery_fakes import attendee, notification

GUESTS = tuple(
    attendee(f"guest{n}@fabrikam.example", f"Guest Number {n} With A Long Name", kind)
    for n, kind in enumerate(["required", "optional", "resource"] * 4)
)


def one_by_one(item: Notification, guest: Attendee) -> EmailMessage:
    """The message as it was built before `Notice`, for one attendee at a time (its boundary,
    which the email package drew at random, set as `Notice` sets it)."""
    to = mail_address(guest.email_address)
    organizer = mail_address(item.organizer.email_address)
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = organizer
    message["To"] = to
    message["Subject"] = single_line(subject_of(item))
    message["Date"] = format_datetime(utc(item.cancelled_at))
    message["Message-ID"] = message_id(item, to.addr_spec, organizer.domain)
    message.set_content(text_body(item), cte="quoted-printable")
    message.add_alternative(html_body(item), subtype="html", cte="quoted-printable")
    message.add_alternative(
        calendar_text(item, guest),
        subtype="calendar",
        params={"method": item.method},
        cte="base64",
    )
    for part in message.iter_parts():
        del part["MIME-Version"]
    message["Content-Class"] = "urn:content-classes:calendarmessage"
    message.set_boundary(boundary_of(item))
    return message


SHAPES = {
    "cancel": notification(*GUESTS),
    "cancel, tricky comment and subject": notification(
        *GUESTS,
        subject="Sync\r\nBcc: eve@evil.example — Zoë 日本語",
        comment='Line one\r\nLine two\n<b>Bold</b> & "quoted" 🎉',
    ),
    "cancel, no comment, UTC": notification(*GUESTS, comment=None, time_zone="UTC"),
    "cancel, unknown zone": notification(*GUESTS, time_zone="Nowhere/Atlantis"),
    "cancel of an occurrence": occurrence_cancel(date(2027, 1, 11)).model_copy(
        update={"attendees": GUESTS}
    ),
    "cancel of an all-day occurrence": occurrence_cancel(
        date(2027, 1, 11), all_day=True
    ).model_copy(update={"attendees": GUESTS}),
    "invitation": invitation().model_copy(update={"attendees": GUESTS}),
    "invitation, html body": invitation(
        body=ItemBody(content_type="html", content="<p>Agenda<script>x</script></p>")
    ).model_copy(update={"attendees": GUESTS}),
    "invitation of a series": invitation(
        pattern=recurrence(
            {"type": "weekly", "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
            date(2026, 12, 7),
            "W. Europe Standard Time",
        ),
        cancelled=("OID.AAMkEvent1.2026-12-14",),
    ).model_copy(update={"attendees": GUESTS}),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_each_message_of_a_notice_is_the_message_built_alone(shape: str) -> None:
    item = SHAPES[shape]
    notice = Notice(item)

    for guest in recipients(item):
        made = notice.message(guest)
        assert made.as_bytes(policy=SMTP) == one_by_one(item, guest).as_bytes(policy=SMTP)
        assert imip.message_for(item, guest).as_bytes() == made.as_bytes()


def test_a_message_is_the_same_bytes_every_time_it_is_made_and_written() -> None:
    item = SHAPES["cancel"]
    guest = recipients(item)[3]
    first = Notice(item).message(guest)
    wire = first.as_bytes(policy=SMTP)

    assert first.as_bytes(policy=SMTP) == wire  # writing it does not change it
    assert Notice(item).message(guest).as_bytes(policy=SMTP) == wire
    assert boundary_of(item).encode() in wire


def test_messages_sharing_parts_are_written_alike_by_many_threads_at_once() -> None:
    item = SHAPES["invitation of a series"]
    notice = Notice(item)
    guests = list(recipients(item)) * 20
    alone = [notice.message(guest).as_bytes(policy=SMTP) for guest in guests]

    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda g: notice.message(g).as_bytes(policy=SMTP), guests))

    assert together == alone


def test_an_unusable_attendee_is_named_before_the_organizer() -> None:
    item = notification(attendee("not an address"))
    with pytest.raises(imip.InvalidRecipient):
        imip.message_for(item, recipients(item)[0])
    with pytest.raises(imip.InvalidRecipient):
        Notice(notification(*GUESTS)).message(recipients(item)[0])


def test_an_unusable_organizer_fails_the_notice() -> None:
    organizer = Recipient(email_address=EmailAddress(name="Adele", address="no address"))
    with pytest.raises(ValueError, match="organizer"):
        Notice(notification(*GUESTS).model_copy(update={"organizer": organizer}))


def test_a_subject_that_reads_like_the_attendee_mark_is_only_a_subject() -> None:
    item = notification(*GUESTS, subject="x ATTENDEE:mailto:attendee@attendee.invalid")
    guest = recipients(item)[0]
    assert Notice(item).message(guest).as_bytes() == one_by_one(item, guest).as_bytes()


def test_an_invitation_s_calendar_part_is_one_text_for_every_recipient() -> None:
    """What makes a notice cheap per recipient: the invitation's calendar part (which lists
    every attendee) is the same text in each recipient's message, built once."""
    item = invitation().model_copy(
        update={"attendees": tuple(attendee(f"g{n}@fabrikam.example") for n in range(200))}
    )
    notice = Notice(item)
    parts = {
        part.get_content()
        for guest in recipients(item)[:20]
        for part in notice.message(guest).walk()
        if part.get_content_type() == "text/calendar"
    }
    assert len(parts) == 1
    unfolded = next(iter(parts)).replace("\r\n ", "").replace("\n ", "")
    assert all(f"mailto:g{n}@fabrikam.example" in unfolded for n in range(200))
