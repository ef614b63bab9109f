"""A cancel over HTTP, then the worker's mail in the maildir: one `.eml` per attendee, a real
iCalendar CANCEL in each, the comment intact, and the internal attendees' copies cancelled."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import requests

from devtools.azurite import Azurite
from devtools.tokens import DevKey, mint
from shared.calendar.model import Notification
from shared.storage.tables import get_text
from tests.e2e.mail.conftest import MailStack, create_stack, dispose, wait_until

COMMENT = (
    'Sorry all,\r\nthe room is gone.\n<b>Bold</b> & "quoted" <script>x</script> — Zoë, 日本語 🎉'
)
ATTENDEES = {"AlexW@contoso.example", "MeganB@contoso.example", "pat@fabrikam.example"}


@dataclass
class Delivered:
    stack: MailStack
    event_id: str
    files: list[Path]

    def messages(self) -> dict[str, EmailMessage]:
        found = {}
        for file in self.files:
            message = message_from_bytes(file.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            found[message["To"].addresses[0].addr_spec] = message
        return found


def part(message: EmailMessage, content_type: str) -> EmailMessage:
    found = [p for p in message.iter_parts() if p.get_content_type() == content_type]
    assert len(found) == 1
    assert isinstance(found[0], EmailMessage)
    return found[0]


def calendar_event(message: EmailMessage) -> tuple[icalendar.Calendar, icalendar.Event]:
    data = part(message, "text/calendar").get_payload(decode=True)
    assert isinstance(data, bytes)
    calendar = icalendar.Calendar.from_ical(data)
    (event,) = calendar.walk("VEVENT")
    assert isinstance(event, icalendar.Event)
    return calendar, event


@pytest.fixture(scope="module")
def planning(
    azurite: Azurite, dev_key: DevKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Delivered]:
    """Adele cancels "Quarterly planning" (Alex, Megan, Pat) with a comment full of traps."""
    stack = create_stack(azurite, dev_key, tmp_path_factory.mktemp("maildir"))
    try:
        stack.start()
        event_id = stack.tenant.events["planning"][1]
        stack.cancel(event_id, COMMENT)
        files = stack.wait_for_eml(3)
        wait_until(lambda: stack.ended(event_id), "the outbox row to end")
        yield Delivered(stack, event_id, files)
    finally:
        dispose(stack)


def test_a_cancel_leaves_one_eml_per_attendee_and_none_for_the_organizer(
    planning: Delivered,
) -> None:
    messages = planning.messages()

    assert len(planning.files) == 3
    assert set(messages) == ATTENDEES
    for message in messages.values():
        assert message["From"].addresses[0].addr_spec == "AdeleV@contoso.example"
        assert message["Subject"] == "Canceled: Quarterly planning"
    outbox = planning.stack.outbox(planning.event_id)
    assert (outbox["Status"], outbox["Reason"], outbox["Attempts"]) == ("delivered", "", 1)
    assert planning.stack.deliveries(planning.event_id) == dict.fromkeys(ATTENDEES, "sent")


def test_the_ics_parsed_back_carries_every_required_property(planning: Delivered) -> None:
    message = planning.messages()["pat@fabrikam.example"]
    assert part(message, "text/calendar").get_param("method") == "CANCEL"
    calendar, event = calendar_event(message)

    assert calendar["METHOD"] == "CANCEL"
    outbox = planning.stack.outbox(planning.event_id)
    assert (
        event["UID"]
        == Notification.model_validate_json(get_text(outbox, "Notification")).i_cal_u_id
    )
    assert event.decoded("SEQUENCE") == 1  # the demo meeting was at 0; the cancel incremented it
    assert event["STATUS"] == "CANCELLED"
    assert event["ORGANIZER"] == "mailto:AdeleV@contoso.example"
    assert event["ATTENDEE"] == "mailto:pat@fabrikam.example"
    assert event["ATTENDEE"].params["ROLE"] == "OPT-PARTICIPANT"
    stamp = event.decoded("DTSTAMP")
    assert stamp.tzinfo is not None
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 120
    pacific = ZoneInfo("America/Los_Angeles")
    assert event.decoded("DTSTART") == datetime(2026, 12, 3, 15, 0, tzinfo=pacific)
    assert event.decoded("DTEND") == datetime(2026, 12, 3, 16, 0, tzinfo=pacific)
    assert "RECURRENCE-ID" not in event


def test_a_comment_with_cr_lf_html_and_non_ascii_arrives_intact_and_escaped(
    planning: Delivered,
) -> None:
    message = planning.messages()["AlexW@contoso.example"]
    as_lines = COMMENT.replace("\r\n", "\n")

    text = part(message, "text/plain").get_content().replace("\r\n", "\n")
    assert text.endswith(f"\n\n{as_lines}\n")
    html = part(message, "text/html").get_content().replace("\r\n", "\n")
    assert (
        "Sorry all,<br>\nthe room is gone.<br>\n&lt;b&gt;Bold&lt;/b&gt; &amp; &quot;quoted&quot; "
        "&lt;script&gt;x&lt;/script&gt; — Zoë, 日本語 🎉"
    ) in html
    assert "<script>" not in html
    _, event = calendar_event(message)
    assert event["DESCRIPTION"] == as_lines


def test_internal_attendees_copies_are_cancelled_once(planning: Delivered) -> None:
    stack = planning.stack
    for upn in ("AlexW@contoso.example", "MeganB@contoso.example"):
        copy_id = stack.tenant.copies["planning"][stack.user(upn)]
        copy = stack.copy(upn, copy_id)
        assert copy.is_cancelled
        assert copy.subject == "Canceled: Quarterly planning"
        seen = requests.get(
            f"{stack.base_url}/me/events/{copy_id}",
            headers={"Authorization": f"Bearer {mint(stack.key, subject_oid=stack.user(upn))}"},
            timeout=30,
        )
        assert seen.status_code == 200, "the attendee still sees the cancelled meeting"
        assert (seen.json()["isCancelled"], seen.json()["subject"]) == (
            True,
            "Canceled: Quarterly planning",
        )


def test_the_same_message_again_sends_nothing_and_changes_nothing(planning: Delivered) -> None:
    stack = planning.stack
    alex = stack.user("AlexW@contoso.example")
    copy_row = stack.row(alex, f"event|{stack.tenant.copies['planning'][alex]}")
    before = {file.name: file.stat().st_mtime_ns for file in stack.eml()}

    stack.put(planning.event_id)
    wait_until(lambda: stack.queued() == 0, "the message to be consumed")
    time.sleep(0.5)

    assert {file.name: file.stat().st_mtime_ns for file in stack.eml()} == before
    assert stack.row(alex, f"event|{stack.tenant.copies['planning'][alex]}") == copy_row
    assert stack.copy("AlexW@contoso.example", stack.tenant.copies["planning"][alex]).subject == (
        "Canceled: Quarterly planning"
    )


def test_a_subject_with_cr_lf_cannot_inject_a_header(make_stack: Callable[[], MailStack]) -> None:
    stack = make_stack()
    event_id = stack.add_event(
        "injected",
        "Sync\r\nBcc: eve@evil.example\r\n\r\nFake body",
        ["pat@fabrikam.example"],
    )
    stack.start()
    stack.cancel(event_id)

    (file,) = stack.wait_for_eml(1)
    raw = file.read_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "Canceled: Sync Bcc: eve@evil.example Fake body"
    assert message.get_all("Bcc") is None
    assert len(message.get_all("Subject") or []) == 1
    assert [a.addr_spec for a in message["To"].addresses] == ["pat@fabrikam.example"]
    assert not any(line.lower().startswith(b"bcc:") for line in raw.splitlines())


def test_one_occurrence_cancelled_sends_recurrence_id_and_marks_the_copys_occurrence(
    make_stack: Callable[[], MailStack],
) -> None:
    stack = make_stack()
    stack.start()
    master = stack.tenant.events["weekly-sync"][1]
    occurrence = f"OID.{master}.2027-01-11"
    stack.cancel(occurrence, "Skipping this week")

    files = stack.wait_for_eml(2)
    wait_until(lambda: stack.ended(occurrence), "the outbox row to end")
    assert len(files) == 2
    message = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    _, event = calendar_event(message)
    assert event.decoded("RECURRENCE-ID") == datetime(2027, 1, 11, 17, 0, tzinfo=UTC)
    pacific = ZoneInfo("America/Los_Angeles")
    assert event.decoded("DTSTART") == datetime(2027, 1, 11, 9, 0, tzinfo=pacific)
    assert event.decoded("SEQUENCE") == 1

    alex = stack.user("AlexW@contoso.example")
    copy_id = stack.tenant.copies["weekly-sync"][alex]
    copy = stack.copy("AlexW@contoso.example", copy_id)
    assert copy.cancelled_occurrences == (f"OID.{copy_id}.2027-01-11",)
    assert not copy.is_cancelled
    assert copy.subject == "Weekly team sync"


def test_a_message_pointing_at_no_outbox_row_is_dropped_not_retried(
    make_stack: Callable[[], MailStack],
) -> None:
    stack = make_stack()
    stack.start()
    stack.put("AAMkNoSuchNotification")

    # The count includes messages set aside for a retry: at 0 the message was deleted.
    wait_until(lambda: stack.queued() == 0, "the message to be consumed")
    assert stack.poisoned() == []
    assert stack.eml() == []
