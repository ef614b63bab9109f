"""Every path the product serves under a base URL, in one table, and the grammar that reads it.

A path is an owner, a container of events in the owner's mailbox, and then an event, a list,
or an action on an event:

    {owner}        me | users/{user} | groups/{group}
    {container}    events | calendar/events | calendars/{calendar}/events
                   | calendarGroup/calendars/{calendar}/events
                   | calendarGroups/{calendarGroup}/calendars/{calendar}/events
                   | calendarView | calendar/calendarView | calendars/{calendar}/calendarView
    {event}        {container}/{id}
                   | {container}/{id}/instances/{occurrence}
                   | {container}/{id}/exceptionOccurrences/{exception}
    served         {container} (GET: a list), {container}/{id}/instances (GET: a list),
                   {event} (GET), {event}/cancel and {event}/microsoft.graph.cancel (POST)

A group has one calendar: under `groups/{group}` only `events`, `calendar/events`,
`calendarView` and `calendar/calendarView`. Literal segments match in any letter case. Which
methods each path takes is `allowed_methods`; everything else is Graph's 400 for the first
segment the table does not know, or 405 for a method a known path does not take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from shared.calendar.errors import MethodNotAllowed, UnknownSegment
from shared.calendar.model import (
    AnyCalendar,
    CalendarInDefaultGroup,
    CalendarInGroup,
    Container,
    DefaultCalendar,
    GroupMailbox,
    MailboxRef,
    Me,
    NamedCalendar,
    UserMailbox,
)

ListKind = Literal["events", "calendarView", "instances"]
Below = Literal["instances", "exceptionOccurrences"]


@dataclass(frozen=True)
class EventAddress:
    """Which event a path names: `id` itself, or an occurrence or exception `below` it."""

    id: str
    below: Below | None = None
    item: str | None = None
    """The occurrence or exception id named under `instances/` or `exceptionOccurrences/`."""

    @property
    def target(self) -> str:
        """The id of the event the path finally names."""
        return self.item if self.item is not None else self.id


@dataclass(frozen=True)
class EventPath:
    mailbox: MailboxRef
    container: Container
    event: EventAddress
    cancel: bool = False
    """`…/cancel` or `…/microsoft.graph.cancel` after the event."""


@dataclass(frozen=True)
class ListPath:
    mailbox: MailboxRef
    container: Container
    kind: ListKind
    of: str | None = None
    """For `instances`: the event whose occurrences are listed."""


Resource = EventPath | ListPath


def allowed_methods(resource: Resource) -> tuple[str, ...]:
    """An event: GET and DELETE (its `cancel`: POST). A container's `events`: GET and POST
    (create). A calendar view or a series' instances: GET."""
    if isinstance(resource, EventPath):
        return ("POST",) if resource.cancel else ("GET", "DELETE")
    return ("GET", "POST") if resource.kind == "events" else ("GET",)


def route(method: str, segments: Sequence[str]) -> Resource:
    """The resource a request names (segments after the version, percent-decoded), if the
    method is one it takes; else Graph's 400 (unknown segment) or 405 (method)."""
    resource = parse(segments)
    allowed = allowed_methods(resource)
    if method.upper() not in allowed:
        raise MethodNotAllowed(allowed)
    return resource


def parse(segments: Sequence[str]) -> Resource:
    node, params = _tree(), []
    for segment in segments:
        following = node.literals.get(segment.lower())
        if following is None and node.parameter is not None and segment:
            following = node.parameter
            params.append(segment)
        if following is None:
            raise UnknownSegment(segment)
        node = following
    if node.build is None:
        # A path the product serves only the beginning of (`me`, `me/calendars/{id}`): Graph
        # serves these, this product does not, and says so for the last segment.
        raise UnknownSegment(segments[-1] if segments else "")
    return node.build(params)


# The table ------------------------------------------------------------------------------------

Build = Callable[[list[str]], Resource]
MailboxOf = Callable[[list[str]], MailboxRef]
ContainerOf = Callable[[list[str]], Container]

_OWNERS: list[tuple[str, MailboxOf, bool]] = [
    ("me", lambda p: Me(), True),
    ("users/{user}", lambda p: UserMailbox(p[0]), True),
    ("groups/{group}", lambda p: GroupMailbox(p[0]), False),
]
"""Owner template, its mailbox from the owner's parameters, whether it has named calendars."""

_CONTAINERS: list[tuple[str, Callable[[list[str]], Container], bool]] = [
    ("events", lambda p: AnyCalendar(), False),
    ("calendar/events", lambda p: DefaultCalendar(), False),
    ("calendars/{calendar}/events", lambda p: NamedCalendar(p[0]), True),
    ("calendarGroup/calendars/{calendar}/events", lambda p: CalendarInDefaultGroup(p[0]), True),
    (
        "calendarGroups/{calendarGroup}/calendars/{calendar}/events",
        lambda p: CalendarInGroup(p[0], p[1]),
        True,
    ),
    ("calendarView", lambda p: AnyCalendar(), False),
    ("calendar/calendarView", lambda p: DefaultCalendar(), False),
    ("calendars/{calendar}/calendarView", lambda p: NamedCalendar(p[0]), True),
]
"""Container template, the container from its parameters, whether only named calendars have it."""

_EVENTS: list[tuple[str, Below | None]] = [
    ("{id}", None),
    ("{id}/instances/{occurrence}", "instances"),
    ("{id}/exceptionOccurrences/{exception}", "exceptionOccurrences"),
]
_CANCEL = ("cancel", "microsoft.graph.cancel")


@dataclass(frozen=True)
class Served:
    """One line of the table: a path template and what it names."""

    template: str
    build: Build


def served() -> Iterator[Served]:
    """Every path template the product serves, with how each becomes a resource."""
    for owner, mailbox_of, has_calendars in _OWNERS:
        for container, container_of, needs_calendars in _CONTAINERS:
            if needs_calendars and not has_calendars:
                continue
            before = owner.count("{")
            bind = _binder(mailbox_of, container_of, before, before + container.count("{"))
            yield from _shapes(f"{owner}/{container}", container.rsplit("/", 1)[-1], bind)


def _binder(
    mailbox_of: MailboxOf, container_of: ContainerOf, owner_count: int, count: int
) -> Callable[[list[str]], tuple[MailboxRef, Container, list[str]]]:
    def bind(params: list[str]) -> tuple[MailboxRef, Container, list[str]]:
        return (
            mailbox_of(params[:owner_count]),
            container_of(params[owner_count:count]),
            params[count:],
        )

    return bind


def _shapes(
    base: str,
    last: str,
    bind: Callable[[list[str]], tuple[MailboxRef, Container, list[str]]],
) -> Iterator[Served]:
    kind: ListKind = "calendarView" if last == "calendarView" else "events"

    def listed(params: list[str]) -> Resource:
        mailbox, container, _ = bind(params)
        return ListPath(mailbox, container, kind)

    def instances(params: list[str]) -> Resource:
        mailbox, container, rest = bind(params)
        return ListPath(mailbox, container, "instances", of=rest[0])

    yield Served(base, listed)
    yield Served(f"{base}/{{id}}/instances", instances)
    for shape, below in _EVENTS:
        for action in (None, *_CANCEL):

            def event(
                params: list[str], below: Below | None = below, act: str | None = action
            ) -> Resource:
                mailbox, container, rest = bind(params)
                address = EventAddress(rest[0], below, rest[1] if below else None)
                return EventPath(mailbox, container, address, cancel=act is not None)

            yield Served(f"{base}/{shape}" + (f"/{action}" if action else ""), event)


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    parameter: _Node | None = None
    build: Build | None = None


@cache
def _tree() -> _Node:
    """The table as a tree of segments, built on the first request, not at import."""
    root = _Node()
    for line in served():
        node = root
        for segment in line.template.split("/"):
            if segment.startswith("{"):
                node.parameter = node.parameter or _Node()
                node = node.parameter
            else:
                node = node.literals.setdefault(segment.lower(), _Node())
        node.build = line.build
    return root
