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
from datetime import datetime

from shared import ids, mailboxes
from shared.errors import AccessDenied, ItemNotFound, NotOrganizer
from shared.model import (
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
from shared.ports import Calendars, Directory, NotificationQueue, QueueUnavailable, StaleEvent

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
    if isinstance(target, ids.OccurrenceId):
        raise ItemNotFound()  # occurrences of recurring series are not cancellable yet
    stored = mailboxes.locate(owner, command.container, target, calendars)
    if not stored.event.is_organizer:
        raise NotOrganizer()

    cancelled = cancellation_of(stored, command.comment, now())
    try:
        calendars.commit(cancelled)
    except StaleEvent:
        raise ItemNotFound() from None
    pointer = NotificationPointer(owner, cancelled.notification.id)
    try:
        queue.enqueue(pointer)
    except QueueUnavailable:
        log.warning("cancel %s committed; queue put failed, the sweeper will re-send", pointer)
    return cancelled


def cancellation_of(stored: StoredEvent, comment: str | None, at: datetime) -> EventCancelled:
    """The record of cancelling `stored` at `at`: nothing is written until it is committed."""
    event = stored.event
    stamp = at.isoformat().replace("+00:00", "Z")
    sequence = event.sequence + 1
    updated = event.model_copy(
        update={
            "is_cancelled": True,
            "last_modified_date_time": stamp,
            "change_key": change_key(event.id, stamp),
            "sequence": sequence,
        }
    )
    notification = Notification(
        id=event.id,
        mailbox=stored.mailbox,
        event_id=event.id,
        i_cal_u_id=event.i_cal_u_id,
        subject=event.subject,
        organizer=event.organizer,
        attendees=event.attendees,
        start=event.start,
        end=event.end,
        sequence=sequence,
        comment=comment,
        cancelled_at=stamp,
    )
    return EventCancelled(stored, updated, leaves_calendar=True, notification=notification)


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
    """`GET` of an event by the same route shapes, for observing what cancel did."""
    if not (caller.holds("Calendars.Read") or caller.holds(CALENDARS_READ_WRITE)):
        raise AccessDenied()
    target = ids.event_id(event_id)
    mailboxes.check_syntax(mailbox, container)
    owner = mailboxes.resolve(mailbox, caller, directory)
    if isinstance(target, ids.OccurrenceId):
        raise ItemNotFound()
    return mailboxes.locate(owner, container, target, calendars).event
