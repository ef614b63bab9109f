"""Hand-written fakes of the core's ports, and builders for the values the core works on.

The fakes are strict where the Protocols are precise: `FakeDirectory.find_user` only knows
lowercased keys (the Protocol promises the core passes them lowercased), and
`FakeCalendars.commit` refuses a stale ETag or an existing outbox row with `StaleEvent`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.calendar.model import (
    CALENDARS_READ_WRITE,
    Attendee,
    Caller,
    DateTimeTimeZone,
    EmailAddress,
    Event,
    EventCancelled,
    Group,
    Notification,
    NotificationPointer,
    PatternedRecurrence,
    Placement,
    Recipient,
    StoredEvent,
    User,
)
from shared.calendar.recurrence import span
from shared.calendar.windows import Window
from shared.use_cases.ports import (
    AlreadyNotified,
    Calendars,
    Directory,
    EventCreated,
    NotificationQueue,
    QueueUnavailable,
    StaleEvent,
    TransactionTaken,
)

TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
ORGANIZER_ID = "0f6e3e8a-1111-4222-8333-444455556666"
ORGANIZER_UPN = "adele.vance@contoso.com"
OTHER_USER_ID = "7c1d2e3f-2222-4333-8444-555566667777"
OTHER_USER_UPN = "megan.bowen@contoso.com"
GROUP_ID = "3a4b5c6d-3333-4444-8555-666677778888"

EVENT_ID = "AAMkAGI2TG93AAA="
DEFAULT_CALENDAR_ID = "AAMkDefaultCal"
DEFAULT_GROUP_ID = "AAMkDefaultGrp"
WORK_CALENDAR_ID = "AAMkWorkCal"
OTHER_GROUP_ID = "AAMkOtherGrp"
HOLIDAY_CALENDAR_ID = "AAMkHolidayCal"

NOW = datetime(2026, 3, 1, 12, 30, 15, tzinfo=UTC)
NOW_STAMP = "2026-03-01T12:30:15Z"


# Builders -------------------------------------------------------------------------------------


def delegated(object_id: str = ORGANIZER_ID, *permissions: str) -> Caller:
    """A signed-in user; holds Calendars.ReadWrite unless permissions are given."""
    return Caller("delegated", object_id, TENANT, frozenset(permissions or {CALENDARS_READ_WRITE}))


def application(*permissions: str) -> Caller:
    """A daemon app; holds the Calendars.ReadWrite role unless permissions are given."""
    granted = frozenset(permissions or {CALENDARS_READ_WRITE})
    return Caller("application", "5e6f7a8b-4444-4555-8666-777788889999", TENANT, granted)


def user(
    user_id: str = ORGANIZER_ID, upn: str = ORGANIZER_UPN, display_name: str = "Adele Vance"
) -> User:
    return User(id=user_id, user_principal_name=upn, mail=upn, display_name=display_name)


def group(group_id: str = GROUP_ID, members: Iterable[str] = ()) -> Group:
    return Group(
        id=group_id,
        display_name="Project Falcon",
        mail="falcon@contoso.com",
        members=frozenset(members),
    )


def attendee(address: str, name: str = "") -> Attendee:
    return Attendee(email_address=EmailAddress(name=name, address=address))


def event(
    event_id: str = EVENT_ID,
    *,
    is_organizer: bool = True,
    is_cancelled: bool = False,
    subject: str = "Quarterly review",
    sequence: int = 0,
    attendees: tuple[Attendee, ...] | None = None,
) -> Event:
    return Event(
        id=event_id,
        i_cal_u_id=f"040000008200E00074C5B7101A82E008-{event_id}",
        subject=subject,
        start=DateTimeTimeZone(date_time="2026-03-10T09:00:00.0000000", time_zone="UTC"),
        end=DateTimeTimeZone(date_time="2026-03-10T10:00:00.0000000", time_zone="UTC"),
        is_cancelled=is_cancelled,
        is_organizer=is_organizer,
        organizer=Recipient(email_address=EmailAddress(name="Adele Vance", address=ORGANIZER_UPN)),
        attendees=(
            attendees
            if attendees is not None
            else (
                attendee(OTHER_USER_UPN, "Megan Bowen"),
                attendee("someone@fabrikam.com"),
            )
        ),
        created_date_time="2026-02-01T08:00:00Z",
        last_modified_date_time="2026-02-01T08:00:00Z",
        change_key="DwAAABYAAAA=",
        sequence=sequence,
    )


def series_master(event_id: str = EVENT_ID) -> Event:
    """A daily series from 2026-03-10 without end, at the time `event` has."""
    return event(event_id).model_copy(
        update={
            "type": "seriesMaster",
            "recurrence": PatternedRecurrence.model_validate(
                {
                    "pattern": {"type": "daily"},
                    "range": {"type": "noEnd", "startDate": "2026-03-10"},
                }
            ),
        }
    )


def in_default_calendar() -> Placement:
    return Placement(DEFAULT_CALENDAR_ID, DEFAULT_GROUP_ID, True, True)


def in_named_calendar(calendar_id: str = WORK_CALENDAR_ID) -> Placement:
    """A secondary calendar in the default calendar group."""
    return Placement(calendar_id, DEFAULT_GROUP_ID, False, True)


def in_other_group(
    calendar_id: str = HOLIDAY_CALENDAR_ID, calendar_group_id: str = OTHER_GROUP_ID
) -> Placement:
    """A calendar in a calendar group other than the default one."""
    return Placement(calendar_id, calendar_group_id, False, False)


def stored(
    mailbox: str = ORGANIZER_ID,
    item: Event | None = None,
    placement: Placement | None = None,
    etag: str = "W/\"datetime'2026-02-01T08%3A00%3A00Z'\"",
) -> StoredEvent:
    return StoredEvent(
        mailbox=mailbox,
        event=item if item is not None else event(),
        placement=placement if placement is not None else in_default_calendar(),
        etag=etag,
    )


# Fakes ----------------------------------------------------------------------------------------


class FakeDirectory:
    """Users by object id and by UPN, groups by id; keys are kept lowercased."""

    def __init__(self, users: Iterable[User] = (), groups: Iterable[Group] = ()) -> None:
        self.users_by_id: dict[str, User] = {}
        self.users_by_upn: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.lookups: list[str] = []
        for u in users:
            self.add_user(u)
        for g in groups:
            self.add_group(g)

    def add_user(self, u: User) -> None:
        self.users_by_id[u.id.lower()] = u
        self.users_by_upn[u.user_principal_name.lower()] = u

    def add_group(self, g: Group) -> None:
        self.groups[g.id.lower()] = g

    def find_user(self, key: str) -> User | None:
        self.lookups.append(key)
        return self.users_by_id.get(key) or self.users_by_upn.get(key)

    def find_group(self, group_id: str) -> Group | None:
        self.lookups.append(group_id)
        return self.groups.get(group_id)


class FakeCalendars:
    """Events by `(mailbox, event_id)`, with ETags from a counter and an outbox.

    `commit` behaves like the entity-group transaction: it applies only when the event's ETag
    is still the one read and no outbox row with that id exists, else raises `StaleEvent`.
    A cancel that leaves the calendar moves the event to `deleted_items`, out of reach of
    `find_event`.
    """

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], StoredEvent] = {}
        self.deleted_items: dict[tuple[str, str], StoredEvent] = {}
        self.outbox: dict[tuple[str, str], Notification] = {}
        self.committed: list[EventCancelled] = []
        self.reads: list[tuple[str, str]] = []
        self.lists: list[tuple[str, Window | None]] = []
        self.after_find: Callable[[str, str], None] | None = None
        self._etag_counter = 0
        self.default_calendars: dict[str, Placement] = {}
        self.calendar_rows: dict[tuple[str, str], Placement] = {}
        self.transactions: dict[tuple[str, str], str] = {}
        self.ical_index: dict[tuple[str, str], str] = {}
        self.created: list[EventCreated] = []
        self.before_create: Callable[[EventCreated], None] | None = None

    def add_mailbox(self, mailbox: str, *calendars: Placement) -> None:
        """A mailbox's rows: its default calendar (`in_default_calendar()`) and `calendars`."""
        self.default_calendars[mailbox] = in_default_calendar()
        for placement in (in_default_calendar(), *calendars):
            self.calendar_rows[(mailbox, placement.calendar_id)] = placement

    def _next_etag(self) -> str:
        self._etag_counter += 1
        return f'W/"{self._etag_counter}"'

    def put(self, item: StoredEvent) -> StoredEvent:
        """Store the event under a fresh ETag; returns what `find_event` will return."""
        placed = StoredEvent(item.mailbox, item.event, item.placement, self._next_etag())
        self.events[(item.mailbox, item.event.id)] = placed
        return placed

    def touch(self, mailbox: str, event_id: str) -> None:
        """Someone else wrote the event: same content, new ETag."""
        self.put(self.events[(mailbox, event_id)])

    def find_event(self, mailbox: str, event_id: str) -> StoredEvent | None:
        self.reads.append((mailbox, event_id))
        found = self.events.get((mailbox, event_id))
        if self.after_find is not None:
            self.after_find(mailbox, event_id)
        return found

    def find_calendar(self, mailbox: str, calendar_id: str) -> Placement | None:
        """A calendar row of `add_mailbox`, or where some event of the mailbox is placed."""
        if (mailbox, calendar_id) in self.calendar_rows:
            return self.calendar_rows[(mailbox, calendar_id)]
        return next(
            (
                s.placement
                for (owner, _), s in self.events.items()
                if owner == mailbox and s.placement.calendar_id == calendar_id
            ),
            None,
        )

    def list_events(self, mailbox: str, window: Window | None) -> list[StoredEvent]:
        """Every event of the mailbox's calendars; a window narrows by span, as the query does."""
        self.lists.append((mailbox, window))
        found = [stored for (owner, _), stored in self.events.items() if owner == mailbox]
        if window is None:
            return found
        return [s for s in found if span(s.event)[0] < window[1] and span(s.event)[1] > window[0]]

    def commit(self, cancelled: EventCancelled) -> None:
        key = (cancelled.mailbox, cancelled.previous.event.id)
        current = self.events.get(key)
        outbox_key = (cancelled.mailbox, cancelled.notification.id)
        if current is None or current.etag != cancelled.previous.etag:
            raise StaleEvent(key)
        if not cancelled.silent and outbox_key in self.outbox:
            raise AlreadyNotified(outbox_key)
        after = StoredEvent(
            cancelled.mailbox, cancelled.event, cancelled.previous.placement, self._next_etag()
        )
        if cancelled.leaves_calendar:
            del self.events[key]
            self.deleted_items[key] = after
        else:
            self.events[key] = after
        if not cancelled.silent:  # as `TableCalendars`: a silent change writes no outbox row
            self.outbox[outbox_key] = cancelled.notification
        self.committed.append(cancelled)

    def find_default_calendar(self, mailbox: str) -> Placement | None:
        return self.default_calendars.get(mailbox)

    def create(self, created: EventCreated) -> StoredEvent:
        """All rows or none, as the transaction: a taken transaction id writes nothing."""
        if self.before_create is not None:
            self.before_create(created)
        mailbox, event = created.mailbox, created.event
        taken = (mailbox, created.transaction_id or "")
        if created.transaction_id is not None and taken in self.transactions:
            raise TransactionTaken(self.transactions[taken])
        if (mailbox, event.id) in self.events or (
            created.notification is not None and (mailbox, created.notification.id) in self.outbox
        ):
            raise AssertionError("a create's rows exist already")  # ids are random
        stored = self.put(StoredEvent(mailbox, event, created.placement, ""))
        self.ical_index[(mailbox, event.i_cal_u_id)] = event.id
        if created.transaction_id is not None:
            self.transactions[taken] = event.id
        if created.notification is not None:
            self.outbox[(mailbox, created.notification.id)] = created.notification
        self.created.append(created)
        return stored


@dataclass
class FakeQueue:
    """Records the pointers put; `failing` makes every put raise `QueueUnavailable`."""

    failing: bool = False
    pointers: list[NotificationPointer] = field(default_factory=list)
    attempts: int = 0

    def enqueue(self, pointer: NotificationPointer) -> None:
        self.attempts += 1
        if self.failing:
            raise QueueUnavailable("queue is down")
        self.pointers.append(pointer)


def fixed_clock(at: datetime = NOW) -> Callable[[], datetime]:
    return lambda: at


# The fakes satisfy the ports (checked by mypy --strict).
_directory: Directory = FakeDirectory()
_calendars: Calendars = FakeCalendars()
_queue: NotificationQueue = FakeQueue()
