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
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from shared.calendar.errors import ChangeKeyMismatch, ItemBusy, ItemNotFound, NotOrganizer
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
from shared.graph.paths import EventAddress
from shared.use_cases import mailboxes
from shared.use_cases.ports import (
    AlreadyNotified,
    Calendars,
    Directory,
    NotificationQueue,
    QueueUnavailable,
    StaleEvent,
)

MAX_CONFLICTS = 50
"""Reads of one event a cancel makes while other writers keep changing it: each round one
writer wins, so this many concurrent writers of one series master all get through."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CancelEvent:
    mailbox: MailboxRef
    container: Container
    event_id: EventAddress | str
    comment: str | None
    if_match: str | None = None
    """The request's `If-Match`: the versions (`@odata.etag`s) the caller's change applies to."""


Decide = Callable[[StoredEvent, mailboxes.Target, datetime], EventCancelled]
"""What a change makes of the event as read (and the target the path names), at a moment;
raises the caller's refusal (a `GraphError`) instead."""


def cancel_event(
    command: CancelEvent,
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
    queue: NotificationQueue,
    now: Callable[[], datetime],
) -> EventCancelled:
    def decide(stored: StoredEvent, target: mailboxes.Target, at: datetime) -> EventCancelled:
        return _cancellation(stored, target, command.comment, at)

    return change_event(
        command.mailbox,
        command.container,
        command.event_id,
        command.if_match,
        caller,
        decide,
        directory=directory,
        calendars=calendars,
        queue=queue,
        now=now,
    )


def change_event(
    mailbox: MailboxRef,
    container: Container,
    event_id: EventAddress | str,
    if_match: str | None,
    caller: Caller,
    decide: Decide,
    *,
    directory: Directory,
    calendars: Calendars,
    queue: NotificationQueue,
    now: Callable[[], datetime],
) -> EventCancelled:
    """Read the event, `decide` its change, commit it if nobody wrote the event meanwhile (else
    read and decide again), then queue the pointer to its outbox row unless it is silent.
    The path of a cancel and of a delete."""
    mailboxes.require(caller, CALENDARS_READ_WRITE)
    target = mailboxes.target_of(event_id)
    mailboxes.check_syntax(mailbox, container)
    owner = mailboxes.resolve(mailbox, caller, directory)
    # A conflict means another writer changed the event between our read and our commit
    # (on a series master: most often a cancel of another occurrence). Read it again and
    # decide again; a loser of a race for the same item then finds it gone (404).
    for _ in range(MAX_CONFLICTS):
        stored = mailboxes.locate(owner, container, target.event_id, calendars)
        if not matches(if_match, stored.event.change_key):
            raise ChangeKeyMismatch()
        cancelled = decide(stored, target, now())
        try:
            calendars.commit(cancelled)
        except AlreadyNotified:
            raise ItemNotFound() from None
        except StaleEvent:
            continue
        break
    else:
        raise ItemBusy()
    if cancelled.silent:
        return cancelled
    pointer = NotificationPointer(owner, cancelled.notification.id)
    try:
        queue.enqueue(pointer)
    except QueueUnavailable:
        log.warning("cancel %s committed; queue put failed, the sweeper will re-send", pointer)
    return cancelled


def _cancellation(
    stored: StoredEvent, target: mailboxes.Target, comment: str | None, at: datetime
) -> EventCancelled:
    """The cancellation of `target` in the event as read, if the caller's rules allow it."""
    occurrence = (
        None if target.occurrence is None else mailboxes.live_occurrence(stored.event, target)
    )
    if not stored.event.is_organizer:
        raise NotOrganizer()  # also for an attendee's copy the organizer already cancelled
    if stored.event.is_cancelled:
        raise ItemNotFound()
    if occurrence is None:
        return cancellation_of(stored, comment, at)
    return occurrence_cancellation_of(stored, occurrence, comment, at)


def matches(if_match: str | None, change_key: str) -> bool:
    """Whether an `If-Match` header names the item's current version (or any, `*`)."""
    if if_match is None:
        return True
    for tag in if_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/").strip('"') == change_key:
            return True
    return False


def cancellation_of(stored: StoredEvent, comment: str | None, at: datetime) -> EventCancelled:
    """The record of cancelling `stored` at `at`: nothing is written until it is committed."""
    return _recorded(stored, stored.event, comment, at, {"is_cancelled": True})


def occurrence_cancellation_of(
    stored: StoredEvent, occurrence: Event, comment: str | None, at: datetime
) -> EventCancelled:
    """One occurrence cancelled: the master stays and lists it in `cancelledOccurrences`."""
    listed = (*stored.event.cancelled_occurrences, occurrence.id)
    return _recorded(stored, occurrence, comment, at, {"cancelled_occurrences": listed})


def removal_of(stored: StoredEvent, at: datetime) -> EventCancelled:
    """`stored` moved out of the calendar as it is (a new version), telling nobody: a delete of
    an event without attendees, or of an attendee's own copy. No outbox row, nothing queued."""
    return replace(_recorded(stored, stored.event, None, at, {}), silent=True)


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
        is_all_day=cancelled.is_all_day,
        location=cancelled.location,
    )
    leaves = cancelled.id == event.id
    return EventCancelled(stored, updated, leaves_calendar=leaves, notification=notification)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def change_key(event_id: str, stamp: str) -> str:
    """Graph's opaque version tag of an item: new whenever the item changes."""
    digest = hashlib.sha256(f"{event_id}|{stamp}".encode()).digest()[:16]
    return base64.b64encode(digest).decode()
