"""The calendar as the core sees it: Graph's shapes, who is calling, and what a cancel records.

Graph resources are pydantic models whose aliases are Graph's camelCase names, so the same
model reads the loader's JSON, is kept in the store and is returned by `GET` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

CALENDARS_READ_WRITE = "Calendars.ReadWrite"

FIRST_DAY = date(1601, 1, 1)
LAST_DAY = date(9999, 12, 30)
"""The dates a calendar holds, in any zone: from Exchange's first day (Windows' epoch) to the
day before the last one Python holds, so that no zone offset carries a time past year 9999."""

MAX_OCCURRENCES = 999
"""The most occurrences a numbered range may have (Exchange's NumberOfOccurrences: 1 to 999)."""


class GraphModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def to_graph(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)


class EmailAddress(GraphModel):
    name: str = ""
    address: str


class Recipient(GraphModel):
    email_address: EmailAddress


class ResponseStatus(GraphModel):
    response: str = "none"
    time: str = "0001-01-01T00:00:00Z"


class Attendee(GraphModel):
    type: Literal["required", "optional", "resource"] = "required"
    status: ResponseStatus = ResponseStatus()
    email_address: EmailAddress


class DateTimeTimeZone(GraphModel):
    date_time: str
    time_zone: str = "UTC"

    @field_validator("date_time")
    @classmethod
    def _in_the_calendar(cls, value: str) -> str:
        moment = datetime.fromisoformat(value.removesuffix("Z"))
        if not FIRST_DAY <= moment.date() <= LAST_DAY:
            raise ValueError(f"{value} is outside {FIRST_DAY} to {LAST_DAY}")
        return value


class ItemBody(GraphModel):
    content_type: Literal["text", "html"] = "text"
    content: str = ""


class Location(GraphModel):
    display_name: str = ""


EventType = Literal["singleInstance", "occurrence", "exception", "seriesMaster"]
DayOfWeek = Literal["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
WeekIndex = Literal["first", "second", "third", "fourth", "last"]
PatternType = Literal[
    "daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly"
]


class RecurrencePattern(GraphModel):
    type: PatternType
    interval: int = Field(default=1, ge=1, le=99)
    month: int = Field(default=0, ge=0, le=12)
    day_of_month: int = Field(default=0, ge=0, le=31)
    days_of_week: tuple[DayOfWeek, ...] = ()
    first_day_of_week: DayOfWeek = "sunday"
    index: WeekIndex = "first"

    @model_validator(mode="after")
    def _complete(self) -> RecurrencePattern:
        needs_days = self.type in ("weekly", "relativeMonthly", "relativeYearly")
        if needs_days and not self.days_of_week:
            raise ValueError(f"a {self.type} pattern needs daysOfWeek")
        if self.type in ("absoluteMonthly", "absoluteYearly") and not self.day_of_month:
            raise ValueError(f"an {self.type} pattern needs dayOfMonth")
        if self.type in ("absoluteYearly", "relativeYearly") and not self.month:
            raise ValueError(f"a {self.type} pattern needs month")
        if self.type == "absoluteYearly" and self.day_of_month > _LONGEST_MONTH[self.month]:
            raise ValueError(f"month {self.month} has no day {self.day_of_month}")
        return self


_LONGEST_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class RecurrenceRange(GraphModel):
    type: Literal["endDate", "noEnd", "numbered"]
    start_date: date
    end_date: date = date(1, 1, 1)
    """Graph writes 0001-01-01 when the range has no end date."""
    recurrence_time_zone: str = "UTC"
    number_of_occurrences: int = Field(default=0, ge=0, le=MAX_OCCURRENCES)

    @model_validator(mode="after")
    def _complete(self) -> RecurrenceRange:
        if not FIRST_DAY <= self.start_date <= LAST_DAY:
            raise ValueError(f"a range starts between {FIRST_DAY} and {LAST_DAY}")
        if self.type == "endDate" and self.end_date < self.start_date:
            raise ValueError("an endDate range needs an endDate on or after its startDate")
        if self.type == "numbered" and self.number_of_occurrences < 1:
            raise ValueError("a numbered range needs numberOfOccurrences of at least 1")
        return self


class PatternedRecurrence(GraphModel):
    pattern: RecurrencePattern
    range: RecurrenceRange


class ModifiedOccurrence(GraphModel):
    """An exception of a series: what one occurrence, named by its original date, changes."""

    original_date: date
    subject: str | None = None
    body: ItemBody | None = None
    start: DateTimeTimeZone | None = None
    end: DateTimeTimeZone | None = None
    location: Location | None = None


class Event(GraphModel):
    """A Graph `event` in one mailbox (the organizer's or an attendee's copy)."""

    id: str
    i_cal_u_id: str
    subject: str = ""
    body: ItemBody = ItemBody()
    start: DateTimeTimeZone
    end: DateTimeTimeZone
    location: Location = Location()
    is_all_day: bool = False
    is_cancelled: bool = False
    is_organizer: bool
    response_status: ResponseStatus | None = None
    """The mailbox owner's response; when not stored, Graph's for who they are: `organizer`
    on the organizer's event, `notResponded` on an attendee's copy."""
    organizer: Recipient
    attendees: tuple[Attendee, ...] = ()
    type: EventType = "singleInstance"
    series_master_id: str | None = None
    occurrence_id: str | None = None
    original_start: str | None = None
    recurrence: PatternedRecurrence | None = None
    cancelled_occurrences: tuple[str, ...] = ()
    created_date_time: str
    last_modified_date_time: str
    change_key: str
    transaction_id: str | None = None
    """The `transactionId` the organizer's create carried (Graph returns it on that event)."""
    sequence: int = 0
    """iCalendar SEQUENCE of the meeting (not a Graph property; never returned by GET)."""
    exceptions: tuple[ModifiedOccurrence, ...] = ()
    """A series master's modified occurrences, kept with it so one read finds them."""

    def to_graph(self, *, leaving_out: frozenset[str] = frozenset()) -> dict[str, object]:
        """Graph's properties, by their Graph names (`recurrence` null without one), less the
        fields `leaving_out` names (by their names here)."""
        # (a set: pydantic takes a frozenset to exclude more slowly)
        graph = self.model_dump(
            by_alias=True, mode="json", exclude_none=True, exclude={*_NOT_GRAPH, *leaving_out}
        )
        graph.setdefault("recurrence", None)
        if self.response_status is None:
            response = "organizer" if self.is_organizer else "notResponded"
            graph["responseStatus"] = {"response": response, "time": _NO_RESPONSE_TIME}
        return graph


_NOT_GRAPH = frozenset({"sequence", "exceptions"})
"""Fields of `Event` that are the product's own, never Graph properties."""
_NO_RESPONSE_TIME = ResponseStatus().time


@dataclass(frozen=True)
class Placement:
    """Where an event sits in its mailbox: what the route's container must match."""

    calendar_id: str
    calendar_group_id: str
    in_default_calendar: bool
    in_default_calendar_group: bool


@dataclass(frozen=True)
class StoredEvent:
    mailbox: str
    event: Event
    placement: Placement
    etag: str


@dataclass(frozen=True)
class Caller:
    """The principal a validated bearer token names."""

    kind: Literal["delegated", "application"]
    object_id: str
    tenant_id: str
    permissions: frozenset[str]

    @property
    def is_delegated(self) -> bool:
        return self.kind == "delegated"

    def holds(self, permission: str) -> bool:
        wanted = permission.casefold()
        return any(p.casefold() == wanted for p in self.permissions)


@dataclass(frozen=True)
class User:
    id: str
    user_principal_name: str
    mail: str
    display_name: str


@dataclass(frozen=True)
class Group:
    id: str
    display_name: str
    mail: str
    members: frozenset[str]


# Which mailbox a route names.
@dataclass(frozen=True)
class Me:
    pass


@dataclass(frozen=True)
class UserMailbox:
    user: str  # object id or userPrincipalName, as written in the path


@dataclass(frozen=True)
class GroupMailbox:
    group: str


MailboxRef = Me | UserMailbox | GroupMailbox


# Which container inside the mailbox a route names; the event must really be in it.
@dataclass(frozen=True)
class AnyCalendar:
    pass


@dataclass(frozen=True)
class DefaultCalendar:
    pass


@dataclass(frozen=True)
class NamedCalendar:
    calendar: str


@dataclass(frozen=True)
class CalendarInDefaultGroup:
    calendar: str


@dataclass(frozen=True)
class CalendarInGroup:
    calendar_group: str
    calendar: str


Container = AnyCalendar | DefaultCalendar | NamedCalendar | CalendarInDefaultGroup | CalendarInGroup


NotificationMethod = Literal["CANCEL", "REQUEST"]


class Notification(GraphModel):
    """The outbox record of one change attendees must be told of: a cancellation (`CANCEL`, of
    a meeting or one occurrence) or an invitation (`REQUEST`, when a meeting is created).
    Everything the mail worker needs to write the message and each attendee's copy; rows
    written before invitations existed read as cancellations."""

    method: NotificationMethod = "CANCEL"
    id: str
    mailbox: str
    event_id: str
    occurrence_id: str | None = None
    i_cal_u_id: str
    subject: str
    organizer: Recipient
    attendees: tuple[Attendee, ...]
    start: DateTimeTimeZone
    end: DateTimeTimeZone
    original_start: str | None = None
    sequence: int
    comment: str | None
    cancelled_at: str
    """The moment of the change (the cancel's, or the create's): the message's Date and
    DTSTAMP, so that a re-sent message is the same message."""
    status: Literal["pending", "delivered", "failed"] = "pending"
    reason: str | None = None
    is_all_day: bool = False
    body: ItemBody | None = None
    """`REQUEST`: the meeting's body (the message's text and the iCalendar DESCRIPTION)."""
    location: Location | None = None
    recurrence: PatternedRecurrence | None = None
    """`REQUEST` of a series: its pattern (RRULE); `start`/`end` are then its first
    occurrence's, in the series' zone."""
    cancelled_occurrences: tuple[str, ...] = ()
    """`REQUEST` of a series: occurrences already cancelled (EXDATE)."""


@dataclass(frozen=True)
class NotificationPointer:
    """What the queue message carries: where the outbox row is, and the W3C trace context of
    the put (telemetry only: not part of what it points at, so not compared)."""

    mailbox: str
    notification_id: str
    traceparent: str | None = field(default=None, compare=False, repr=False)
    tracestate: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class EventCancelled:
    """What a successful cancel records: the event as read, its new state, and its outbox row."""

    previous: StoredEvent
    event: Event
    leaves_calendar: bool
    """True when the event moves to Deleted Items; False when a series master stays."""
    notification: Notification
    silent: bool = False
    """True when nobody is told (a delete of an event without attendees, or of an attendee's
    own copy): no outbox row is written and nothing is queued."""

    @property
    def mailbox(self) -> str:
        return self.previous.mailbox
