"""Creating an event (DESIGN.md section 11): `POST {owner}/events` and the calendars' `events`.

The caller's mailbox (the route's, as for every other use case) is the organizer's. One create
is at most two point reads (the default calendar or the named one, the organizer in the
directory; both kept by the adapters for a while, so most creates make none), one transaction
and, for a meeting, one queue put: the event row, its `ical|` index row, its `txn|` row and
the invitation's outbox row (`method: REQUEST`) commit together, so a meeting is never
stored without the promise to invite its attendees; the queue message only points at the
outbox row, and if the put fails the sweeper re-sends it (as for a cancel).

`transactionId` makes a create idempotent within the mailbox: a create whose transaction id
is taken answers the event the first create made, whatever its own body says (as Graph
does). It is not looked up beforehand: every create tries to commit, and the transaction row
makes a repeat's (or the loser's of a race) transaction fail with nothing written; the
transaction row then names the first event, which is the answer. If that event has since
been deleted (or cancelled), the retry is 404: the transaction id stays spent.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.calendar.errors import GraphError, ItemNotFound, PayloadTooLarge
from shared.calendar.model import (
    CALENDARS_READ_WRITE,
    AnyCalendar,
    Caller,
    Container,
    DateTimeTimeZone,
    DefaultCalendar,
    EmailAddress,
    Event,
    GroupMailbox,
    MailboxRef,
    Notification,
    NotificationPointer,
    Placement,
    Recipient,
    StoredEvent,
)
from shared.calendar.recurrence import local_datetime, zone
from shared.use_cases import mailboxes
from shared.use_cases.cancellation import change_key
from shared.use_cases.ports import (
    Calendars,
    Directory,
    EventCreated,
    NotificationQueue,
    QueueUnavailable,
    TransactionTaken,
)

if TYPE_CHECKING:
    from shared.graph.new_event import NewEvent

log = logging.getLogger(__name__)

EXCHANGE_UID_CLASS = "040000008200E00074C5B7101A82E008"
"""The first 16 bytes of every iCalUId Exchange makes (its Global Object Id class)."""
MAX_STORED_UNITS = 450_000
"""The most UTF-16 code units an event's (or its invitation's) JSON may take: a Table entity
holds 1 MiB, two bytes a unit, with room to spare for the row's other properties."""
INVITATION = "invitation"


class MailboxNotEnabled(GraphError):
    """Graph's answer for a user without a mailbox (here: no mailbox row, no directory entry)."""

    status = 404
    code = "MailboxNotEnabledForRESTAPI"
    message = "The mailbox is either inactive, soft-deleted, or is hosted on-premise."


@dataclass(frozen=True)
class CreateEvent:
    mailbox: MailboxRef
    container: Container
    event: NewEvent


def create_event(
    command: CreateEvent,
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
    queue: NotificationQueue,
    now: Callable[[], datetime],
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> StoredEvent:
    """The event as stored (201), or the first event of its `transactionId`."""
    mailboxes.require(caller, CALENDARS_READ_WRITE)
    mailboxes.check_syntax(command.mailbox, command.container)
    owner = mailboxes.resolve(command.mailbox, caller, directory)
    placement = _placement(owner, command.container, calendars)
    organizer = _organizer(command.mailbox, owner, directory)
    created = creation_of(owner, placement, organizer, command.event, now(), random_bytes)
    try:
        stored = calendars.create(created)
    except TransactionTaken as taken:
        return _first_event(owner, taken.event_id, calendars)
    if created.notification is not None:
        pointer = NotificationPointer(owner, created.notification.id)
        try:
            queue.enqueue(pointer)
        except QueueUnavailable:
            log.warning("create %s committed; queue put failed, the sweeper will re-send", pointer)
    return stored


def _placement(owner: str, container: Container, calendars: Calendars) -> Placement:
    """The calendar the new event goes to: the route's, which must exist (404), or the
    mailbox's default one."""
    if isinstance(container, AnyCalendar | DefaultCalendar):
        found = calendars.find_default_calendar(owner)
        if found is None:
            raise MailboxNotEnabled()
        return found
    found = calendars.find_calendar(owner, container.calendar)
    if found is None or not mailboxes.contains(container, found):
        raise ItemNotFound()
    return found


def _organizer(mailbox: MailboxRef, owner: str, directory: Directory) -> Recipient:
    """The mailbox's owner as Graph names an organizer: a user's, or a group's, mail and name."""
    if isinstance(mailbox, GroupMailbox):
        group = directory.find_group(owner)
        if group is None:  # pragma: no cover - resolve() found it a moment ago
            raise ItemNotFound()
        address, name = group.mail, group.display_name
    else:
        user = directory.find_user(owner.lower())
        if user is None:
            raise MailboxNotEnabled()  # a token's user the directory does not know
        address, name = user.mail, user.display_name
    return Recipient(email_address=EmailAddress(name=name, address=address))


def _first_event(owner: str, event_id: str, calendars: Calendars) -> StoredEvent:
    stored = calendars.find_event(owner, event_id)
    if stored is None:
        raise ItemNotFound()
    return stored


def creation_of(
    owner: str,
    placement: Placement,
    organizer: Recipient,
    new: NewEvent,
    at: datetime,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> EventCreated:
    """The rows a create writes: nothing is written until `Calendars.create` commits them."""
    stamp = _stamp(at)
    event_id = new_event_id(owner, random_bytes(32))
    event = Event(
        id=event_id,
        i_cal_u_id=exchange_ical_uid(at, random_bytes(16)),
        subject=new.subject,
        body=new.body,
        start=new.start,
        end=new.end,
        location=new.location,
        is_all_day=new.is_all_day,
        is_organizer=True,
        organizer=organizer,
        attendees=new.attendees,
        type="singleInstance" if new.recurrence is None else "seriesMaster",
        recurrence=new.recurrence,
        created_date_time=stamp,
        last_modified_date_time=stamp,
        change_key=change_key(event_id, stamp),
        transaction_id=new.transaction_id,
        sequence=0,
    )
    notification = None if not event.attendees else invitation_of(owner, event)
    for record in (event, notification):
        if record is not None and _units(record.model_dump_json(by_alias=True)) > MAX_STORED_UNITS:
            raise PayloadTooLarge(
                f"The event is larger than the {MAX_STORED_UNITS} characters of JSON a "
                "calendar item can hold."
            )
    return EventCreated(owner, event, placement, notification, new.transaction_id)


def invitation_of(owner: str, event: Event) -> Notification:
    """The `REQUEST` attendees are sent: a series' start and end in the series' zone."""
    start, end = event.start, event.end
    if event.recurrence is not None and not event.is_all_day:
        series_zone = event.recurrence.range.recurrence_time_zone
        start, end = (_in_zone(moment, series_zone) for moment in (start, end))
    return Notification(
        method="REQUEST",
        id=invitation_id(event.id),
        mailbox=owner,
        event_id=event.id,
        i_cal_u_id=event.i_cal_u_id,
        subject=event.subject,
        organizer=event.organizer,
        attendees=event.attendees,
        start=start,
        end=end,
        sequence=0,
        comment=None,
        cancelled_at=event.created_date_time,
        is_all_day=event.is_all_day,
        body=event.body,
        location=event.location,
        recurrence=event.recurrence,
    )


def invitation_id(event_id: str) -> str:
    """The outbox id of an event's invitation: never that of its cancellation (the event id)."""
    return f"{event_id}.{INVITATION}"


def new_event_id(owner: str, entropy: bytes) -> str:
    """A Graph-style item id (as `devtools/load.py: graph_id` makes), from random bytes."""
    digest = hashlib.sha256(owner.encode() + b"|event|" + entropy).digest()
    return "AAMk" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def exchange_ical_uid(at: datetime, entropy: bytes) -> str:
    """Exchange's Global Object Id in hex: class id, no instance date, creation time (a
    FILETIME), 8 reserved bytes, then the 16 bytes of data and their length."""
    filetime = (at - datetime(1601, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 10
    parts = (
        bytes(4),
        filetime.to_bytes(8, "little"),
        bytes(8),
        len(entropy).to_bytes(4, "little"),
        entropy,
    )
    return EXCHANGE_UID_CLASS + b"".join(parts).hex().upper()


def _in_zone(moment: DateTimeTimeZone, zone_name: str) -> DateTimeTimeZone:
    local = local_datetime(moment, zone(zone_name))
    written = f"{local.replace(microsecond=0).isoformat()}.{local.microsecond:06d}0"
    return DateTimeTimeZone(date_time=written, time_zone=zone_name)


def _units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
