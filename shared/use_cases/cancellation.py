"""The `event: cancel` use case: the organizer cancels a meeting; attendees are told later.

One cancel is one point read of the event, one conditional transaction (the event's move to
Deleted Items plus its outbox row) and one queue put that only points at the outbox row. The
outbox row is the durable promise to notify; the queue message is a hint that a sweeper
re-sends when the put fails.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.calendar import ids
from shared.calendar.errors import AccessDenied, ItemBusy, ItemNotFound, NotOrganizer
from shared.calendar.model import (
    CALENDARS_READ_WRITE,
    Caller,
    Container,
    Event,
    EventCancelled,
    MailboxRef,
    Notification,
    NotificationPointer,
    StoredEvent,
)
from shared.calendar.recurrence import Series, local_datetime, zone
from shared.calendar.windows import checked_window
from shared.use_cases import mailboxes
from shared.use_cases.ports import (
    AlreadyNotified,
    Calendars,
    Directory,
    NotificationQueue,
    QueueUnavailable,
    StaleEvent,
)

UTC_ZONE = zone("UTC")

MAX_CONFLICTS = 50
"""Reads of one event a cancel makes while other writers keep changing it: each round one
writer wins, so this many concurrent writers of one series master all get through."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CancelEvent:
    mailbox: MailboxRef
    container: Container
    event_id: str
    comment: str | None


def cancel_event(
    command: CancelEvent,
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
    queue: NotificationQueue,
    now: Callable[[], datetime],
) -> EventCancelled:
    mailboxes.require(caller, CALENDARS_READ_WRITE)
    target = ids.event_id(command.event_id)
    mailboxes.check_syntax(command.mailbox, command.container)
    owner = mailboxes.resolve(command.mailbox, caller, directory)
    master_id = target.series_master_id if isinstance(target, ids.OccurrenceId) else target
    # A conflict means another writer changed the event between our read and our commit
    # (on a series master: most often a cancel of another occurrence). Read it again and
    # decide again; a loser of a race for the same item then finds it gone (404).
    for _ in range(MAX_CONFLICTS):
        stored = mailboxes.locate(owner, command.container, master_id, calendars)
        cancelled = _cancellation(stored, target, command.comment, now())
        try:
            calendars.commit(cancelled)
        except AlreadyNotified:
            raise ItemNotFound() from None
        except StaleEvent:
            continue
        break
    else:
        raise ItemBusy()
    pointer = NotificationPointer(owner, cancelled.notification.id)
    try:
        queue.enqueue(pointer)
    except QueueUnavailable:
        log.warning("cancel %s committed; queue put failed, the sweeper will re-send", pointer)
    return cancelled


def _cancellation(
    stored: StoredEvent, target: str | ids.OccurrenceId, comment: str | None, at: datetime
) -> EventCancelled:
    """The cancellation of `target` in the event as read, if the caller's rules allow it."""
    if stored.event.is_cancelled:
        raise ItemNotFound()  # an attendee's copy the organizer already cancelled
    occurrence = (
        live_occurrence(stored.event, target) if isinstance(target, ids.OccurrenceId) else None
    )
    if not stored.event.is_organizer:
        raise NotOrganizer()
    if occurrence is None:
        return cancellation_of(stored, comment, at)
    return occurrence_cancellation_of(stored, occurrence, comment, at)


def cancellation_of(stored: StoredEvent, comment: str | None, at: datetime) -> EventCancelled:
    """The record of cancelling `stored` at `at`: nothing is written until it is committed."""
    return _recorded(stored, stored.event, comment, at, {"is_cancelled": True})


def live_occurrence(master: Event, target: ids.OccurrenceId) -> Event:
    """The occurrence an id names, if the pattern makes it and it is not cancelled; else 404."""
    if master.type != "seriesMaster" or master.recurrence is None:
        raise ItemNotFound()
    series = Series(master)
    occurrence = (
        None if series.is_cancelled(target.local_date) else series.occurrence(target.local_date)
    )
    if occurrence is None:
        raise ItemNotFound()
    return occurrence


def occurrence_cancellation_of(
    stored: StoredEvent, occurrence: Event, comment: str | None, at: datetime
) -> EventCancelled:
    """One occurrence cancelled: the master stays and lists it in `cancelledOccurrences`."""
    listed = (*stored.event.cancelled_occurrences, occurrence.id)
    return _recorded(stored, occurrence, comment, at, {"cancelled_occurrences": listed})


def _recorded(
    stored: StoredEvent,
    cancelled: Event,
    comment: str | None,
    at: datetime,
    change: dict[str, object],
) -> EventCancelled:
    """`stored` changed by `change` as a new version, and the notification about `cancelled`.

    `cancelled` is the stored event itself, or one occurrence of it (a series master).
    """
    event, stamp = stored.event, _stamp(at)
    sequence = event.sequence + 1
    updated = event.model_copy(
        update={
            **change,
            "last_modified_date_time": stamp,
            "change_key": change_key(event.id, stamp),
            "sequence": sequence,
        }
    )
    notification = Notification(
        id=cancelled.id,
        mailbox=stored.mailbox,
        event_id=event.id,
        occurrence_id=cancelled.occurrence_id,
        i_cal_u_id=event.i_cal_u_id,
        subject=cancelled.subject,
        organizer=event.organizer,
        attendees=event.attendees,
        start=cancelled.start,
        end=cancelled.end,
        original_start=cancelled.original_start,
        sequence=sequence,
        comment=comment,
        cancelled_at=stamp,
    )
    leaves = cancelled.id == event.id
    return EventCancelled(stored, updated, leaves_calendar=leaves, notification=notification)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def change_key(event_id: str, stamp: str) -> str:
    """Graph's opaque version tag of an item: new whenever the item changes."""
    digest = hashlib.sha256(f"{event_id}|{stamp}".encode()).digest()[:16]
    return base64.b64encode(digest).decode()


def read_event(
    mailbox: MailboxRef,
    container: Container,
    event_id: str,
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
) -> Event:
    """`GET` of an event or an occurrence by the same route shapes, to observe what cancel did."""
    owner, target = _readable(mailbox, container, event_id, caller, directory)
    if isinstance(target, ids.OccurrenceId):
        master = mailboxes.locate(owner, container, target.series_master_id, calendars).event
        return live_occurrence(master, target)
    return mailboxes.locate(owner, container, target, calendars).event


def list_instances(
    mailbox: MailboxRef,
    container: Container,
    event_id: str,
    window: tuple[datetime, datetime],
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
) -> list[Event]:
    """`GET …/events/{id}/instances`: a series' occurrences in a window, cancelled ones left out."""
    window = checked_window(*window)
    owner, target = _readable(mailbox, container, event_id, caller, directory)
    if isinstance(target, ids.OccurrenceId):
        raise ItemNotFound()
    master = mailboxes.locate(owner, container, target, calendars).event
    if master.type != "seriesMaster" or master.recurrence is None:
        return [master] if _overlaps(master, window) else []
    return Series(master).instances(*window)


def _overlaps(event: Event, window: tuple[datetime, datetime]) -> bool:
    start = local_datetime(event.start, UTC_ZONE).replace(tzinfo=UTC)
    end = local_datetime(event.end, UTC_ZONE).replace(tzinfo=UTC)
    return start < window[1] and end > window[0]


def _readable(
    mailbox: MailboxRef, container: Container, event_id: str, caller: Caller, directory: Directory
) -> tuple[str, str | ids.OccurrenceId]:
    if not (caller.holds("Calendars.Read") or caller.holds(CALENDARS_READ_WRITE)):
        raise AccessDenied()
    target = ids.event_id(event_id)
    mailboxes.check_syntax(mailbox, container)
    return mailboxes.resolve(mailbox, caller, directory), target
