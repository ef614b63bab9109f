"""Reading a mailbox's calendar as Graph does: one event, a list of events, a calendar view,
a series' instances. Each list is one partition read (through the `Calendars` port), with
series expanded in memory; query options ($filter, $orderby, paging) apply last."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.calendar.errors import AccessDenied, ItemNotFound
from shared.calendar.model import CALENDARS_READ_WRITE, Caller, Container, Event, MailboxRef
from shared.calendar.recurrence import naive_utc, naive_utc_of, series_of, utc_start
from shared.calendar.windows import Window, checked_window
from shared.graph.paths import EventAddress
from shared.graph.query import ListOptions
from shared.use_cases import mailboxes
from shared.use_cases.ports import Calendars, Directory


@dataclass(frozen=True)
class Page:
    """One page of a list, and where the next one starts (None on the last page)."""

    events: tuple[Event, ...]
    next_skip: int | None


def read_event(
    mailbox: MailboxRef,
    container: Container,
    event_id: EventAddress | str,
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
) -> Event:
    """`GET` of an event, or of an occurrence or exception of a series."""
    target = _readable_target(caller, event_id)
    owner = _readable(mailbox, container, caller, directory)
    stored = mailboxes.locate(owner, container, target.event_id, calendars).event
    return stored if target.occurrence is None else mailboxes.live_occurrence(stored, target)


def list_instances(
    mailbox: MailboxRef,
    container: Container,
    event_id: EventAddress | str,
    window: Window,
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
) -> list[Event]:
    """`GET …/{id}/instances`: a series' occurrences in a window, cancelled ones left out; a
    single event lists itself when it overlaps."""
    window = checked_window(*window)
    target = _readable_target(caller, event_id)
    owner = _readable(mailbox, container, caller, directory)
    if target.occurrence is not None:
        raise ItemNotFound()
    master = mailboxes.locate(owner, container, target.event_id, calendars).event
    return list(_expanded([master], window))


def list_events(
    mailbox: MailboxRef,
    container: Container,
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
) -> list[Event]:
    """`GET …/events`: the single events and series masters in the container, by start."""
    owner = _readable(mailbox, container, caller, directory)
    mailboxes.require_container(owner, container, calendars)
    found = [
        stored.event
        for stored in calendars.list_events(owner, None)
        if mailboxes.contains(container, stored.placement)
    ]
    return sorted(found, key=start_of)


def calendar_view(
    mailbox: MailboxRef,
    container: Container,
    window: Window,
    caller: Caller,
    *,
    directory: Directory,
    calendars: Calendars,
) -> list[Event]:
    """`GET …/calendarView`: single events and occurrences overlapping the window, by start;
    cancelled occurrences left out."""
    window = checked_window(*window)
    owner = _readable(mailbox, container, caller, directory)
    mailboxes.require_container(owner, container, calendars)
    candidates = [
        stored.event
        for stored in calendars.list_events(owner, window)
        if mailboxes.contains(container, stored.placement)
    ]
    return list(_expanded(candidates, window))


def page(events: Sequence[Event], options: ListOptions) -> Page:
    """$filter, $orderby (by start; lists come ordered by start), then $skip/$top."""
    chosen = [e for e in events if options.filter is None or options.filter.matches(e)]
    if options.descending:
        chosen.reverse()
    end = options.skip + options.top
    return Page(tuple(chosen[options.skip : end]), end if end < len(chosen) else None)


def start_of(event: Event) -> datetime:
    """When an event starts, in UTC: the order of every list."""
    return utc_start(event.start)


def _expanded(events: Iterable[Event], window: Window) -> list[Event]:
    """The single events and occurrences in the window, by start (`start_of`; the order of
    `events` among equal starts), each occurrence's start as its series made it."""
    found: list[tuple[datetime, Event]] = []  # each with its start in UTC, naive
    window_from, window_to = (naive_utc_of(moment) for moment in window)
    for event in events:
        if event.type == "seriesMaster" and event.recurrence is not None:
            found.extend(series_of(event).dated_instances(*window))
        else:
            starts = naive_utc(event.start)
            if starts < window_to and naive_utc(event.end) > window_from:
                found.append((starts, event))
    found.sort(key=_start)
    return [event for _, event in found]


def _start(dated: tuple[datetime, Event]) -> datetime:
    return dated[0]


def _may_read(caller: Caller) -> None:
    if not (caller.holds("Calendars.Read") or caller.holds(CALENDARS_READ_WRITE)):
        raise AccessDenied()


def _readable_target(caller: Caller, event_id: EventAddress | str) -> mailboxes.Target:
    """The event a read names, checked after the permission and before the mailbox."""
    _may_read(caller)
    return mailboxes.target_of(event_id)


def _readable(
    mailbox: MailboxRef, container: Container, caller: Caller, directory: Directory
) -> str:
    _may_read(caller)
    mailboxes.check_syntax(mailbox, container)
    return mailboxes.resolve(mailbox, caller, directory)
