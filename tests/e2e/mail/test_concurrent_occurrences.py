"""Concurrent cancels of different occurrences of one series: each lands, each is told once.

Twenty callers cancel twenty occurrences of one daily series at the same moment (plus four
more racing for one of them); every cancel of a distinct occurrence must answer 202, the
master must list all twenty, and every attendee must receive exactly one CANCEL per
occurrence, counted at a real SMTP server.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from email import message_from_bytes, policy

import pytest
import requests
from icalendar import Calendar

from devtools.tokens import mint
from shared.calendar.model import Event
from shared.storage.tables import get_text
from tests.e2e.mail.conftest import ADELE, MailStack, wait_until
from tests.mail_servers import SmtpSink

ATTENDEES = ["AlexW@contoso.example", "MeganB@contoso.example", "pat@fabrikam.example"]
FIRST = date(2026, 12, 14)
OCCURRENCES = 20


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def recurrence_id(data: bytes) -> str:
    """The RECURRENCE-ID of the one VEVENT a cancellation carries, as a date."""
    message = message_from_bytes(data, policy=policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            calendar = Calendar.from_ical(payload)
            (event,) = calendar.walk("VEVENT")
            return str(event.decoded("RECURRENCE-ID").date())
    raise AssertionError("no text/calendar part")


def test_twenty_concurrent_occurrence_cancels_all_land_and_each_is_told_once(
    make_stack: Callable[[], MailStack], sink: SmtpSink
) -> None:
    stack = make_stack()
    master_id = stack.add_event(
        "daily",
        "Daily stand-up",
        ATTENDEES,
        recurrence={
            "pattern": {"type": "daily"},
            "range": {"type": "noEnd", "startDate": FIRST.isoformat(), "recurrenceTimeZone": "UTC"},
        },
    )
    days = [FIRST + timedelta(days=n) for n in range(OCCURRENCES)]
    targets = [f"OID.{master_id}.{day}" for day in days] + [f"OID.{master_id}.{days[0]}"] * 4
    url = stack.start(
        {
            "MAIL_TRANSPORT": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "SMTP_STARTTLS": "false",
        }
    )
    token = mint(stack.key, subject_oid=stack.user(ADELE))
    start = threading.Barrier(len(targets))
    statuses: dict[int, int] = {}

    def cancel(index: int) -> None:
        with requests.Session() as http:
            http.trust_env = False
            start.wait()
            response = http.post(
                f"{url}/me/events/{targets[index]}/cancel",
                data=json.dumps({"Comment": f"not on {targets[index][-10:]}"}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=60,
            )
        statuses[index] = response.status_code

    threads = [threading.Thread(target=cancel, args=(n,)) for n in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    assert [statuses[n] for n in range(OCCURRENCES)][1:] == [202] * (OCCURRENCES - 1)
    racing_for_the_first = [statuses[0]] + [statuses[n] for n in range(OCCURRENCES, len(targets))]
    assert sorted(racing_for_the_first) == [202, 404, 404, 404, 404]

    organizer = stack.user(ADELE)
    master_row = stack.row(organizer, f"event|{master_id}")
    assert master_row is not None
    master = Event.model_validate_json(get_text(master_row, "Event"))
    assert sorted(master.cancelled_occurrences) == sorted(set(targets))
    outbox = stack.tables.get_table_client(stack.settings.calendar_table).query_entities(
        "PartitionKey eq @mailbox and Kind eq 'outbox'", parameters={"mailbox": organizer}
    )
    assert sorted(row["RowKey"] for row in outbox) == sorted(f"outbox|{t}" for t in set(targets))

    for target in set(targets):
        wait_until(lambda t=target: stack.ended(t), f"{target} delivered", timeout=120)  # type: ignore[misc]
        assert stack.outbox(target)["Status"] == "delivered"
    told = Counter(
        (to.lower(), recurrence_id(message.data))
        for message in sink.received
        for to in message.recipients
    )
    assert told == Counter(
        {(address.lower(), day.isoformat()): 1 for address in ATTENDEES for day in days}
    )
    for upn in ("AlexW@contoso.example", "MeganB@contoso.example"):
        copy = stack.copy(upn, stack.tenant.copies["daily"][stack.user(upn)])
        assert len(copy.cancelled_occurrences) == OCCURRENCES
