"""`DELETE` of an event (DESIGN.md section 11): what it means depends on who deletes what.

- The organizer's meeting with attendees (anyone but the organizer): exactly a cancel without a
  comment. The event moves to Deleted Items with its outbox row, and the attendees get the
  CANCEL through the queue, as `cancel_event` does.
- The organizer's event without attendees, or an attendee's own copy (`isOrganizer` false, also
  one the organizer already cancelled; an organizer's event cancelled but still in the
  calendar, as loaded data may hold): the event moves to Deleted Items as it is, silently: no
  outbox row, nothing queued, nobody told. The organizer's event is not touched.
- One occurrence (`…/instances/{OID…}`, `calendarView/{OID…}`, `events/{OID…}`) or one modified
  occurrence (`…/exceptionOccurrences/{OID…}`): that occurrence only joins the series master's
  `cancelledOccurrences` (the master stays). The organizer of a meeting: with the CANCEL for
  that occurrence (`RECURRENCE-ID`), as an occurrence cancel; otherwise silently.
- A second delete: 404 (the event is in Deleted Items, the occurrence already cancelled). A
  stale `If-Match`: 412, nothing changed. Mailbox rules and the read-write permission: as for
  cancel. One point read, one conditional write (with the outbox row when attendees are told),
  read again on a conflict: `cancellation.change_event`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from shared.calendar.model import Caller, Container, Event, EventCancelled, MailboxRef, StoredEvent
from shared.graph.paths import EventAddress
from shared.use_cases import mailboxes
from shared.use_cases.cancellation import (
    cancellation_of,
    change_event,
    occurrence_cancellation_of,
    removal_of,
)
from shared.use_cases.ports import Calendars, Directory, NotificationQueue


@dataclass(frozen=True)
class DeleteEvent:
    mailbox: MailboxRef
    container: Container
    event_id: EventAddress | str
    if_match: str | None = None
    """The request's `If-Match`: the versions (`@odata.etag`s) the delete applies to."""


def delete_event(
    command: DeleteEvent,
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
    queue: NotificationQueue,
    now: Callable[[], datetime],
) -> EventCancelled:
    return change_event(
        command.mailbox,
        command.container,
        command.event_id,
        command.if_match,
        caller,
        deletion_of,
        directory=directory,
        calendars=calendars,
        queue=queue,
        now=now,
    )


def deletion_of(stored: StoredEvent, target: mailboxes.Target, at: datetime) -> EventCancelled:
    """What deleting `target` of the event as read records; nothing is written until committed."""
    occurrence = (
        None if target.occurrence is None else mailboxes.live_occurrence(stored.event, target)
    )
    tells_attendees = notifies(stored.event)
    if occurrence is not None:
        cancelled = occurrence_cancellation_of(stored, occurrence, None, at)
        return cancelled if tells_attendees else replace(cancelled, silent=True)
    if tells_attendees:
        return cancellation_of(stored, None, at)
    return removal_of(stored, at)


def notifies(event: Event) -> bool:
    """Whether deleting the event cancels a meeting: the organizer's own, not yet cancelled,
    with an attendee other than the organizer."""
    if not event.is_organizer or event.is_cancelled:
        return False
    organizer = event.organizer.email_address.address.casefold()
    return any(a.email_address.address.casefold() != organizer for a in event.attendees)
