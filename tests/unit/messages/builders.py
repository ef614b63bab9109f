"""Notifications of every shape the message builder serves, and readers of what it wrote.

Invitations (`REQUEST`) of single meetings and series, cancellations of all-day and timed
occurrences; series are built as Graph holds them (a series master `Event`) so the product's
own expansion (`shared.calendar.recurrence.Series`) can be compared with the message's RRULE.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from itertools import islice
from typing import Any

import icalendar
import vobject  # type: ignore[import-untyped]

from shared.calendar.model import (
    DateTimeTimeZone,
    Event,
    ItemBody,
    Location,
    Notification,
    PatternedRecurrence,
)
from shared.calendar.recurrence import GRAPH_DATETIME, Series, zone
from shared.messages import imip
from tests.unit.use_cases.delivery_fakes import ORGANIZER, notification

MASTER_ID = "AAMkSeries"


def when(moment: datetime, time_zone: str) -> DateTimeTimeZone:
    return DateTimeTimeZone(date_time=moment.strftime(GRAPH_DATETIME), time_zone=time_zone)


def recurrence(
    pattern: dict[str, object], start_date: date, time_zone: str, **span: object
) -> PatternedRecurrence:
    """A patternedRecurrence; `span` is the range's other fields (default: no end)."""
    return PatternedRecurrence.model_validate(
        {
            "pattern": pattern,
            "range": {
                "type": "noEnd",
                "startDate": start_date.isoformat(),
                "recurrenceTimeZone": time_zone,
                **span,
            },
        }
    )


def master(
    pattern: PatternedRecurrence,
    at: time = time(15, 0),
    duration: timedelta = timedelta(hours=1),
    all_day: bool = False,
    cancelled: tuple[date, ...] = (),
) -> Event:
    """A series master as the store holds it: its start on the range's first day."""
    zone_name = pattern.range.recurrence_time_zone
    start = datetime.combine(pattern.range.start_date, time() if all_day else at)
    end = start + (timedelta(days=1) if all_day else duration)
    return Event.model_validate(
        {
            "id": MASTER_ID,
            "iCalUId": "040000008200E00074C5B7101A82E0080000000002",
            "subject": "Weekly sync",
            "start": when(start, zone_name).to_graph(),
            "end": when(end, zone_name).to_graph(),
            "isAllDay": all_day,
            "isOrganizer": True,
            "organizer": {"emailAddress": {"name": "Adele Vance", "address": ORGANIZER}},
            "type": "seriesMaster",
            "recurrence": pattern.to_graph(),
            "cancelledOccurrences": [f"OID.{MASTER_ID}.{day.isoformat()}" for day in cancelled],
            "createdDateTime": "2026-11-24T08:00:00Z",
            "lastModifiedDateTime": "2026-11-24T08:00:00Z",
            "changeKey": "ck",
        }
    )


def occurrences(series_master: Event, limit: int) -> list[datetime]:
    """The product's first `limit` occurrences (local wall-clock starts), cancelled or not."""
    series = Series(series_master)
    window_start = datetime.combine(series.first.date(), time(), UTC) - timedelta(days=2)
    window_end = datetime(9999, 12, 1, tzinfo=UTC)
    days = islice(series.days_between(window_start, window_end), limit)
    return [datetime.combine(day, series.time_of_day) for day in days]


def invitation(
    *,
    start: DateTimeTimeZone | None = None,
    end: DateTimeTimeZone | None = None,
    all_day: bool = False,
    pattern: PatternedRecurrence | None = None,
    cancelled: tuple[str, ...] = (),
    body: ItemBody | None = None,
    location: str | None = "Conf Room Rainier",
    notification_id: str = "AAMkEvent1",
) -> Notification:
    """A REQUEST as the create use case writes it (SEQUENCE 0, the meeting itself)."""
    base = notification(notification_id=notification_id)
    return base.model_copy(
        update={
            "method": "REQUEST",
            "sequence": 0,
            "comment": None,
            "start": start or base.start,
            "end": end or base.end,
            "is_all_day": all_day,
            "recurrence": pattern,
            "cancelled_occurrences": cancelled,
            "body": body,
            "location": Location(display_name=location) if location is not None else None,
        }
    )


def invitation_of(series_master: Event, first: datetime) -> Notification:
    """The REQUEST of a series: its first occurrence's start and end, its pattern, EXDATEs."""
    assert series_master.recurrence is not None
    series = Series(series_master)
    zone_name = series_master.recurrence.range.recurrence_time_zone
    return invitation(
        start=when(first, zone_name),
        end=when(first + series.duration, zone_name),
        all_day=series_master.is_all_day,
        pattern=series_master.recurrence,
        cancelled=series_master.cancelled_occurrences,
        location=None,
    )


def occurrence_cancel(
    day: date,
    *,
    at: time = time(15, 0),
    time_zone: str = "Pacific Standard Time",
    all_day: bool = False,
) -> Notification:
    """A CANCEL of one occurrence as the cancel use case writes it: the occurrence's own
    start and end in the series' zone, its original start in UTC."""
    local = datetime.combine(day, time() if all_day else at)
    original = local.replace(tzinfo=zone(time_zone)).astimezone(UTC)
    base = notification(
        occurrence_id=f"OID.{MASTER_ID}.{day.isoformat()}",
        original_start=f"{original.replace(tzinfo=None).isoformat()}Z",
        notification_id=f"OID.{MASTER_ID}.{day.isoformat()}",
        time_zone=time_zone,
    )
    return base.model_copy(
        update={
            "start": when(local, time_zone),
            "end": when(local + (timedelta(days=1) if all_day else timedelta(hours=1)), time_zone),
            "is_all_day": all_day,
        }
    )


# --- reading what was written ---------------------------------------------------------------


def parsed(message: EmailMessage) -> EmailMessage:
    """The message as a receiver reads it from the wire."""
    received = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(received, EmailMessage)
    return received


def parts(message: EmailMessage) -> dict[str, EmailMessage]:
    return {part.get_content_type(): part for part in message.iter_parts()}  # type: ignore[misc]


def message_to_first(item: Notification) -> EmailMessage:
    return imip.message_for(item, imip.recipients(item)[0])


def calendar_bytes(message: EmailMessage) -> bytes:
    part = parts(parsed(message))["text/calendar"]
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def ics(item: Notification) -> str:
    """The iCalendar part of the first recipient's message, as received."""
    message = message_to_first(item)
    part = parts(parsed(message))["text/calendar"]
    assert part.get_param("method") == item.method
    return calendar_bytes(message).decode("utf-8")


def with_icalendar(text: str) -> tuple[icalendar.Calendar, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(text)
    (event,) = calendar.walk("VEVENT")
    assert isinstance(event, icalendar.Event)
    return calendar, event


def with_vobject(text: str) -> Any:
    """The calendar as vobject (an independent implementation) reads it; strictly parsed."""
    return vobject.readOne(text, validate=True)


def unfold(text: str) -> str:
    """Content lines as written before folding at 75 octets (RFC 5545 3.1)."""
    return text.replace("\r\n ", "")


def attendees_of(event: icalendar.Event) -> list[icalendar.vCalAddress]:
    """The event's ATTENDEE properties as icalendar reads them (one or a list)."""
    found = event["ATTENDEE"]
    listed = found if isinstance(found, list) else [found]
    addresses = [address for address in listed if isinstance(address, icalendar.vCalAddress)]
    assert len(addresses) == len(listed)
    return addresses
