"""Which mailbox a path names, whether the caller may reach it, and finding an event in it."""

from __future__ import annotations

from dataclasses import dataclass

from shared.calendar import ids
from shared.calendar.errors import AccessDenied, InvalidUser, ItemNotFound, MeRequiresDelegated
from shared.calendar.model import (
    AnyCalendar,
    CalendarInDefaultGroup,
    CalendarInGroup,
    Caller,
    Container,
    DefaultCalendar,
    Event,
    GroupMailbox,
    MailboxRef,
    Me,
    NamedCalendar,
    Placement,
    StoredEvent,
    UserMailbox,
)
from shared.calendar.recurrence import series_of
from shared.graph.paths import EventAddress
from shared.use_cases.ports import Calendars, Directory


def require(caller: Caller, permission: str) -> None:
    if not caller.holds(permission):
        raise AccessDenied()


def check_syntax(mailbox: MailboxRef, container: Container) -> None:
    """Refuse ids of the wrong shape before anything is looked up."""
    if isinstance(mailbox, GroupMailbox):
        ids.group_id(mailbox.group)
    elif isinstance(mailbox, UserMailbox):
        ids.user_key(mailbox.user)
    if isinstance(container, NamedCalendar | CalendarInDefaultGroup):
        ids.item_id(container.calendar)
    elif isinstance(container, CalendarInGroup):
        ids.item_id(container.calendar_group)
        ids.item_id(container.calendar)


def resolve(mailbox: MailboxRef, caller: Caller, directory: Directory) -> str:
    """The partition (owner id) of the mailbox the route names, if the caller may reach it."""
    if isinstance(mailbox, Me):
        if not caller.is_delegated:
            raise MeRequiresDelegated()
        return caller.object_id
    if isinstance(mailbox, UserMailbox):
        user = directory.find_user(ids.user_key(mailbox.user))
        if user is None:
            raise InvalidUser(mailbox.user)
        if caller.is_delegated and user.id != caller.object_id:
            raise AccessDenied()
        return user.id
    group = directory.find_group(ids.group_id(mailbox.group))
    if group is None:
        raise ItemNotFound()
    if caller.is_delegated and caller.object_id not in group.members:
        raise AccessDenied()
    return group.id


def contains(container: Container, placement: Placement) -> bool:
    if isinstance(container, AnyCalendar):
        return True
    if isinstance(container, DefaultCalendar):
        return placement.in_default_calendar
    if isinstance(container, NamedCalendar):
        return placement.calendar_id == container.calendar
    if isinstance(container, CalendarInDefaultGroup):
        return placement.in_default_calendar_group and placement.calendar_id == container.calendar
    return (
        placement.calendar_group_id == container.calendar_group
        and placement.calendar_id == container.calendar
    )


def require_container(owner: str, container: Container, calendars: Calendars) -> None:
    """A list of a named calendar (in a named group) needs that calendar there; else 404."""
    if isinstance(container, AnyCalendar | DefaultCalendar):
        return
    placement = calendars.find_calendar(owner, container.calendar)
    if placement is None or not contains(container, placement):
        raise ItemNotFound()


def locate(owner: str, container: Container, event_id: str, calendars: Calendars) -> StoredEvent:
    """The event in that container of the owner's mailbox; 404 when it is elsewhere or absent.

    A cancelled meeting an attendee has not removed is still in their calendar (as in Graph);
    only the organizer's cancel moves an event to Deleted Items, where it is not found.
    """
    stored = calendars.find_event(owner, event_id)
    if stored is None or not contains(container, stored.placement):
        raise ItemNotFound()
    return stored


@dataclass(frozen=True)
class Target:
    """What a path's event address means for the store: which event row to read, and which
    occurrence of it (if any) the caller named."""

    event_id: str
    occurrence: ids.OccurrenceId | None = None
    exception_only: bool = False
    """Named under `exceptionOccurrences/`: only a modified occurrence answers."""


def target_of(address: EventAddress | str) -> Target:
    """The stored event an address names; malformed ids are 400, impossible nestings 404."""
    if isinstance(address, str):
        address = EventAddress(address)
    named = ids.event_id(address.id)
    if address.below is None:
        if isinstance(named, ids.OccurrenceId):
            return Target(named.series_master_id, named)
        return Target(named)
    item = ids.event_id(address.item or "")
    if isinstance(named, ids.OccurrenceId) or not isinstance(item, ids.OccurrenceId):
        raise ItemNotFound()  # nothing lives below an occurrence; instances are occurrence ids
    if item.series_master_id != named:
        raise ItemNotFound()  # an occurrence of another series, asked for under this one
    return Target(named, item, exception_only=address.below == "exceptionOccurrences")


def live_occurrence(master: Event, target: Target) -> Event:
    """The occurrence a target names, if the pattern makes it and it is not cancelled; else 404."""
    named = target.occurrence
    if named is None or master.type != "seriesMaster" or master.recurrence is None:
        raise ItemNotFound()
    series = series_of(master)
    occurrence = (
        None if series.is_cancelled(named.local_date) else series.occurrence(named.local_date)
    )
    if occurrence is None or (target.exception_only and occurrence.type != "exception"):
        raise ItemNotFound()
    return occurrence
