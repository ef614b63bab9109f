"""The cancellation message: headers, the text and HTML parts, and the iCalendar CANCEL."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import icalendar
import pytest

from shared.calendar.model import Notification
from shared.messages import imip
from shared.messages.imip import (
    InvalidRecipient,
    canceled_subject,
    recipients,
)
from tests.unit.use_cases.delivery_fakes import ORGANIZER, attendee, notification

TRICKY_COMMENT = 'Line one\r\nLine two\n<b>Bold</b> & "quoted" <script>x</script>\rZoë — 日本語 🎉'


def parsed(message: EmailMessage) -> EmailMessage:
    """The message as a receiver reads it from the wire."""
    received = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(received, EmailMessage)
    return received


def parts(message: EmailMessage) -> dict[str, EmailMessage]:
    return {part.get_content_type(): part for part in message.iter_parts()}  # type: ignore[misc]


def calendar_of(message: EmailMessage) -> icalendar.Calendar:
    part = parts(parsed(message))["text/calendar"]
    assert part.get_param("method") == "CANCEL"
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return icalendar.Calendar.from_ical(data)


def only_event(calendar: icalendar.Calendar) -> icalendar.Event:
    (event,) = calendar.walk("VEVENT")
    assert isinstance(event, icalendar.Event)
    return event


def message_for(item: Notification, index: int = 0) -> EmailMessage:
    return imip.message_for(item, recipients(item)[index])


def test_headers_name_the_organizer_the_one_attendee_and_the_canceled_subject() -> None:
    received = parsed(message_for(notification()))

    assert received["From"] == f"Adele Vance <{ORGANIZER}>"
    assert received["To"] == "Alex Wilber <AlexW@contoso.example>"
    assert received["Subject"] == "Canceled: Quarterly planning"
    assert received["Date"] == "Tue, 24 Nov 2026 08:59:30 +0000"
    assert received["Message-ID"].startswith("<cancel.")
    assert received["Message-ID"].endswith("@contoso.example>")
    assert received.get_content_type() == "multipart/alternative"
    assert list(parts(received)) == ["text/plain", "text/html", "text/calendar"]


def test_the_message_id_is_the_same_for_the_same_recipient_and_differs_across_them() -> None:
    item = notification()
    first, again = message_for(item, 0), message_for(item, 0)
    assert first["Message-ID"] == again["Message-ID"]
    assert message_for(item, 1)["Message-ID"] != first["Message-ID"]


def test_the_calendar_part_carries_every_property_a_cancel_needs() -> None:
    event = only_event(calendar := calendar_of(message_for(notification())))

    assert calendar["METHOD"] == "CANCEL"
    assert calendar["VERSION"] == "2.0"
    assert event["UID"] == "040000008200E00074C5B7101A82E0080000000001"
    assert event.decoded("SEQUENCE") == 3
    assert event["STATUS"] == "CANCELLED"
    assert event["SUMMARY"] == "Quarterly planning"
    assert event["ORGANIZER"] == f"mailto:{ORGANIZER}"
    assert event["ORGANIZER"].params["CN"] == "Adele Vance"
    assert event["ATTENDEE"] == "mailto:AlexW@contoso.example"
    assert event["ATTENDEE"].params["CN"] == "Alex Wilber"
    assert event["ATTENDEE"].params["ROLE"] == "REQ-PARTICIPANT"
    assert event.decoded("DTSTAMP") == datetime(2026, 11, 24, 8, 59, 30, tzinfo=UTC)
    pacific = ZoneInfo("America/Los_Angeles")  # "Pacific Standard Time", through CLDR's table
    assert event.decoded("DTSTART") == datetime(2026, 12, 3, 15, 0, tzinfo=pacific)
    assert event.decoded("DTEND") == datetime(2026, 12, 3, 16, 0, tzinfo=pacific)
    assert event["DTSTART"].params["TZID"] == "Pacific Standard Time"  # as the event names it
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Pacific Standard Time"]
    assert "RECURRENCE-ID" not in event


def test_an_occurrence_cancel_names_the_instance_with_recurrence_id() -> None:
    item = notification(
        occurrence_id="OID.AAMkSeries.2026-12-07",
        original_start="2026-12-07T17:00:00Z",
        notification_id="OID.AAMkSeries.2026-12-07",
        time_zone="UTC",
    )
    event = only_event(calendar_of(message_for(item)))

    assert event.decoded("RECURRENCE-ID") == datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
    assert event.decoded("DTSTART") == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    assert "One occurrence" in parts(parsed(message_for(item)))["text/plain"].get_content()


def test_a_resource_and_an_optional_attendee_are_marked_so() -> None:
    item = notification(
        attendee("room@contoso.example", "Conf Room", "resource"),
        attendee("opt@x.example", "", "optional"),
    )
    room = only_event(calendar_of(message_for(item, 0)))["ATTENDEE"]
    assert room.params["CUTYPE"] == "RESOURCE"
    optional = only_event(calendar_of(message_for(item, 1)))["ATTENDEE"]
    assert optional.params["ROLE"] == "OPT-PARTICIPANT"
    assert "CN" not in optional.params


def test_a_comment_with_line_breaks_markup_and_non_ascii_arrives_intact_and_escaped() -> None:
    item = notification(comment=TRICKY_COMMENT)
    message = message_for(item)
    received = parts(parsed(message))
    as_lines = TRICKY_COMMENT.replace("\r\n", "\n").replace("\r", "\n")

    text = received["text/plain"].get_content().replace("\r\n", "\n")
    assert text.endswith(f"\n\n{as_lines}\n")

    html = received["text/html"].get_content().replace("\r\n", "\n")
    assert (
        "Line one<br>\nLine two<br>\n&lt;b&gt;Bold&lt;/b&gt; &amp; &quot;quoted&quot; "
        "&lt;script&gt;x&lt;/script&gt;<br>\nZoë — 日本語 🎉"
    ) in html
    assert "<script>" not in html

    assert only_event(calendar_of(message))["DESCRIPTION"] == as_lines


def test_no_comment_means_no_description_and_no_comment_block() -> None:
    message = message_for(notification(comment=None))
    assert "DESCRIPTION" not in only_event(calendar_of(message))
    assert 'class="comment"' not in parts(parsed(message))["text/html"].get_content()


def test_a_subject_with_cr_lf_cannot_inject_a_header() -> None:
    item = notification(subject="Sync\r\nBcc: eve@evil.example\r\n\r\nSpoofed body")
    wire = message_for(item).as_bytes()
    received = message_from_bytes(wire, policy=policy.default)

    assert received["Subject"] == "Canceled: Sync Bcc: eve@evil.example Spoofed body"
    assert received.get_all("Bcc") is None
    assert received.get_all("Subject") is not None
    assert len(received.get_all("Subject") or []) == 1
    assert not any(line.lower().startswith(b"bcc:") for line in wire.splitlines())
    summary = only_event(calendar_of(message_for(item)))["SUMMARY"]
    assert summary == "Sync\nBcc: eve@evil.example\n\nSpoofed body"  # escaped by icalendar


def test_display_names_with_line_breaks_stay_in_their_header() -> None:
    item = notification(attendee("alex@x.example", "Alex\r\nBcc: eve@evil.example"))
    received = parsed(message_for(item))
    assert received.get_all("Bcc") is None
    assert received["To"].addresses[0].addr_spec == "alex@x.example"


def test_non_ascii_subjects_and_names_are_encoded_words() -> None:
    item = notification(attendee("zoe@x.example", "Zoë Ünï"), subject="Réunion 日本")
    message = message_for(item)
    assert message.as_bytes().isascii()
    received = parsed(message)
    assert received["Subject"] == "Canceled: Réunion 日本"
    assert received["To"].addresses[0].display_name == "Zoë Ünï"


@pytest.mark.parametrize("address", ["not an address", "a@", "@b.example", "zoë@x.example"])
def test_an_address_no_message_can_go_to_is_an_invalid_recipient(address: str) -> None:
    with pytest.raises(InvalidRecipient):
        message_for(notification(attendee(address)))


def test_an_unknown_time_zone_is_floating_time_never_utc() -> None:
    event = only_event(calendar_of(message_for(notification(time_zone="Nowhere/Atlantis"))))
    assert event.decoded("DTSTART") == datetime(2026, 12, 3, 15, 0)  # naive: floating
    assert "TZID" not in event["DTSTART"].params


def test_recipients_leave_out_the_organizer_and_repeat_no_address() -> None:
    item = notification(
        attendee("a@x.example"),
        attendee(ORGANIZER.lower()),
        attendee("A@X.EXAMPLE"),
        attendee("b@x.example"),
    )
    assert [a.email_address.address for a in recipients(item)] == ["a@x.example", "b@x.example"]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Planning", "Canceled: Planning"),
        ("Canceled: Planning", "Canceled: Planning"),
        ("canceled: Planning", "canceled: Planning"),
        ("", "Canceled: "),
    ],
)
def test_canceled_subject_is_never_doubled(subject: str, expected: str) -> None:
    assert canceled_subject(subject) == expected
