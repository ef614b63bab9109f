"""`DELETE` of an event (DESIGN.md section 11): what it means depends on who deletes what.

Being built (issue 10): the organizer of a meeting with attendees cancels it without a comment
(attendees get the CANCEL); an attendee's copy leaves their calendar and nothing is sent; one
occurrence is that occurrence only; an event without attendees is removed; a second delete is
404; `If-Match` is honoured as for cancel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.calendar.model import Caller, Container, EventCancelled, MailboxRef
from shared.graph.paths import EventAddress
from shared.use_cases.ports import Calendars, Directory, NotificationQueue


@dataclass(frozen=True)
class DeleteEvent:
    mailbox: MailboxRef
    container: Container
    event_id: EventAddress | str
    if_match: str | None = None


def delete_event(
    command: DeleteEvent,
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
    queue: NotificationQueue,
    now: Callable[[], datetime],
) -> EventCancelled:
    raise NotImplementedError("delete: being built (issue 10)")
