"""A new event as a client POSTs it to `…/events` (DESIGN.md section 11): Graph's `event` JSON,
checked property by property, into what the product stores.

The edge (`cancel/http.py`) hands over the body as plain JSON values (objects as dicts, names
already unique); `parse_new_event` answers the `NewEvent` or raises Graph's 400:

- Shape (`RequestBodyRead`): a property the type does not define is Graph's own sentence
  (`The property 'x' does not exist on type 'microsoft.graph.event'. …`, with the nested
  type's name for nested objects); a value of the wrong JSON type is `Cannot convert the value
  of property '<path>' to the expected type '<type>'.`; an enumeration member Graph does not
  define is `Cannot convert the literal '<value>' to the expected type
  'microsoft.graph.<enum>'.` (members match in any letter case, as Graph's docs write
  `"contentType": "HTML"`). Property names are case-sensitive, as in Graph.
- OData annotations (`@odata.type`, `@odata.etag`, `name@odata.type`, …) are accepted
  anywhere and ignored: the official SDK sends `"@odata.type": "#microsoft.graph.event"` and
  `#microsoft.graph.attendee`. A `null` is the property left out.
- Properties of Graph's event the product does not keep (`showAs`, `importance`,
  `categories`, `isOnlineMeeting`, …) and read-only ones (`id`, `iCalUId`, `createdDateTime`,
  `organizer`, …, so a `GET` answer can be posted back) are accepted and ignored, whatever
  their value. Navigation properties (`attachments`, `extensions`, `instances`, …) would be
  a deep insert the product does not make: refused with 400 `ErrorInvalidRequest` unless
  empty.
- Meaning (`ErrorInvalidRequest`, `TimeZoneNotSupportedException`,
  `ErrorCalendarEndDateIsEarlierThanStartDate`): required `start`/`end` and their
  `dateTime`, known zones (Windows or IANA), end not before start, all-day events midnight to
  midnight and at least a day long, at most 500 attendees with valid addresses, a recurrence
  Graph would accept whose range starts on the start's local date, a `transactionId` of at
  most 255 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from shared.calendar.errors import GraphError, RequestBodyRead
from shared.calendar.model import (
    FIRST_DAY,
    LAST_DAY,
    Attendee,
    DateTimeTimeZone,
    EmailAddress,
    ItemBody,
    Location,
    PatternedRecurrence,
)
from shared.calendar.recurrence import UnknownTimeZone, local_datetime, zone

MAX_ATTENDEES = 500
"""Graph's (Exchange's) limit on an event's attendees."""
MAX_TRANSACTION_ID = 255
"""The longest `transactionId` kept (Graph documents none; a GUID is what clients send)."""
MAX_ZONE_NAME = 128


class InvalidEvent(GraphError):
    """What the event says cannot be stored: Graph's 400 `ErrorInvalidRequest`."""

    status = 400
    code = "ErrorInvalidRequest"


class TimeZoneNotSupported(GraphError):
    status = 400
    code = "TimeZoneNotSupportedException"

    def __init__(self, name: str) -> None:
        super().__init__(
            "A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{name}'."
        )


class EndBeforeStart(GraphError):
    """Exchange's own code and sentence for an event that ends before it starts."""

    status = 400
    code = "ErrorCalendarEndDateIsEarlierThanStartDate"
    message = "The end date you entered occurs before the start date."


@dataclass(frozen=True)
class NewEvent:
    """What a create stores of the posted event; everything else the product makes."""

    subject: str
    body: ItemBody
    start: DateTimeTimeZone
    end: DateTimeTimeZone
    is_all_day: bool
    location: Location
    attendees: tuple[Attendee, ...]
    recurrence: PatternedRecurrence | None
    transaction_id: str | None


# The wire: Graph's types as posted --------------------------------------------------------


def _member(value: str, members: tuple[str, ...], enum: str) -> str:
    """An enumeration member in Graph's spelling, matched in any letter case."""
    for member in members:
        if member.lower() == value.lower():
            return member
    raise PydanticCustomError(
        "graph_literal",
        "Cannot convert the literal '{value}' to the expected type 'microsoft.graph.{enum}'.",
        {"value": value, "enum": enum},
    )


_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


class _Wire(BaseModel):
    """A Graph complex type as posted: its own properties only, annotations and nulls dropped,
    the properties it `ignores` accepted and forgotten."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel)
    ignores: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _kept(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # pydantic reports the wrong type
        return {
            name: value
            for name, value in data.items()
            if "@" not in name and value is not None and name not in cls.ignores
        }


class _EmailAddress(_Wire):
    address: StrictStr
    name: StrictStr = ""


class _Attendee(_Wire):
    ignores = frozenset({"status", "proposedNewTime"})
    type: StrictStr = "required"
    email_address: _EmailAddress

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return _member(value, ("required", "optional", "resource"), "attendeeType")


class _ItemBody(_Wire):
    content_type: StrictStr = "text"
    content: StrictStr = ""

    @field_validator("content_type")
    @classmethod
    def _type(cls, value: str) -> str:
        return _member(value, ("text", "html"), "bodyType")


class _DateTimeTimeZone(_Wire):
    date_time: StrictStr
    time_zone: StrictStr = "UTC"


class _Location(_Wire):
    ignores = frozenset(
        {
            "locationType",
            "locationUri",
            "uniqueId",
            "uniqueIdType",
            "address",
            "coordinates",
            "locationEmailAddress",
        }
    )
    display_name: StrictStr = ""


class _Pattern(_Wire):
    type: StrictStr
    interval: StrictInt = 1
    month: StrictInt = 0
    day_of_month: StrictInt = 0
    days_of_week: tuple[StrictStr, ...] = ()
    first_day_of_week: StrictStr = "sunday"
    index: StrictStr = "first"

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        types = (
            "daily",
            "weekly",
            "absoluteMonthly",
            "relativeMonthly",
            "absoluteYearly",
            "relativeYearly",
        )
        return _member(value, types, "recurrencePatternType")

    @field_validator("days_of_week")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_member(day, _DAYS, "dayOfWeek") for day in value)

    @field_validator("first_day_of_week")
    @classmethod
    def _first_day(cls, value: str) -> str:
        return _member(value, _DAYS, "dayOfWeek")

    @field_validator("index")
    @classmethod
    def _index(cls, value: str) -> str:
        return _member(value, ("first", "second", "third", "fourth", "last"), "weekIndex")


class _Range(_Wire):
    type: StrictStr
    start_date: StrictStr
    end_date: StrictStr | None = None
    recurrence_time_zone: StrictStr | None = None
    number_of_occurrences: StrictInt = 0

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return _member(value, ("endDate", "noEnd", "numbered"), "recurrenceRangeType")


class _Recurrence(_Wire):
    pattern: _Pattern
    range: _Range


_NAVIGATION = (
    "attachments",
    "calendar",
    "exceptionOccurrences",
    "extensions",
    "instances",
    "multiValueExtendedProperties",
    "singleValueExtendedProperties",
)
"""Navigation properties of Graph's event: posting one is a deep insert, not made here."""

_IGNORED = frozenset(
    {
        # writable, not kept by the product
        "allowNewTimeProposals",
        "categories",
        "hideAttendees",
        "importance",
        "isDraft",
        "isOnlineMeeting",
        "isReminderOn",
        "onlineMeetingProvider",
        "reminderMinutesBeforeStart",
        "responseRequested",
        "sensitivity",
        "showAs",
        "originalStartTimeZone",
        "originalEndTimeZone",
        # read-only, or made by the product
        "bodyPreview",
        "cancelledOccurrences",
        "changeKey",
        "createdDateTime",
        "hasAttachments",
        "iCalUId",
        "id",
        "isCancelled",
        "isOrganizer",
        "lastModifiedDateTime",
        "occurrenceId",
        "onlineMeeting",
        "onlineMeetingUrl",
        "organizer",
        "originalStart",
        "responseStatus",
        "seriesMasterId",
        "type",
        "uid",
        "webLink",
    }
)


class _Event(_Wire):
    ignores = _IGNORED
    subject: StrictStr = ""
    body: _ItemBody | None = None
    start: _DateTimeTimeZone
    end: _DateTimeTimeZone
    is_all_day: StrictBool = False
    location: _Location | None = None
    locations: tuple[_Location, ...] = ()
    attendees: tuple[_Attendee, ...] = ()
    recurrence: _Recurrence | None = None
    transaction_id: StrictStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_deep_insert(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _NAVIGATION:
                value = data.get(name)
                if value in (None, [], {}):
                    data = {k: v for k, v in data.items() if k != name}
                    continue
                raise InvalidEvent(f"Creating an event with '{name}' is not supported.")
        return data


_TYPES: dict[tuple[str, ...], str] = {
    (): "event",
    ("body",): "itemBody",
    ("start",): "dateTimeTimeZone",
    ("end",): "dateTimeTimeZone",
    ("location",): "location",
    ("locations",): "location",
    ("attendees",): "attendee",
    ("attendees", "emailAddress"): "emailAddress",
    ("recurrence",): "patternedRecurrence",
    ("recurrence", "pattern"): "recurrencePattern",
    ("recurrence", "range"): "recurrenceRange",
}
"""Graph's type of the object at each place of the body (list indexes left out)."""

_PRIMITIVES = {
    "string_type": "Edm.String",
    "bool_type": "Edm.Boolean",
    "int_type": "Edm.Int32",
    "int_from_float": "Edm.Int32",
}


# Reading ----------------------------------------------------------------------------------


def parse_new_event(document: Mapping[str, Any]) -> NewEvent:
    """The event a create stores, or Graph's 400 for the first thing wrong with the body."""
    try:
        wire = _Event.model_validate(dict(document))
    except ValidationError as error:
        raise _refusal(error) from None
    return _checked(wire)


def path(loc: tuple[int | str, ...]) -> str:
    """A place in the body as a reader writes it: `attendees[2].emailAddress.address`."""
    written = ""
    for part in loc:
        written += f"[{part}]" if isinstance(part, int) else f".{part}" if written else part
    return written


def _refusal(error: ValidationError) -> GraphError:
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(first["loc"])
    kind = first["type"]
    where = tuple(part for part in loc if isinstance(part, str))
    if kind == "extra_forbidden":
        owner = _TYPES.get(where[:-1], "event")
        return RequestBodyRead(
            f"The property '{loc[-1]}' does not exist on type 'microsoft.graph.{owner}'. Make "
            "sure to only use property names that are defined by the type or mark the type as "
            "open type."
        )
    if kind == "graph_literal":
        return RequestBodyRead(first["msg"])
    if kind == "missing":
        return InvalidEvent(f"The property '{path(loc)}' is required.")
    if kind in _PRIMITIVES:
        expected = _PRIMITIVES[kind]
        if loc and isinstance(loc[-1], int) and where[-1:] == ("daysOfWeek",):
            expected = "microsoft.graph.dayOfWeek"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        expected = f"microsoft.graph.{_TYPES.get(where, 'event')}"
    elif kind in ("tuple_type", "list_type"):
        element = "dayOfWeek" if where[-1:] == ("daysOfWeek",) else _TYPES.get(where, "event")
        expected = f"Collection(microsoft.graph.{element})"
    else:  # pragma: no cover - every other kind is one of the above for these models
        return RequestBodyRead(f"The property '{path(loc)}' has an invalid value.")
    return RequestBodyRead(
        f"Cannot convert the value of property '{path(loc)}' to the expected type '{expected}'."
    )


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_LABEL}")
"""An SMTP address (RFC 5321's dot-atom local part, a domain of at least two labels)."""


def _checked(wire: _Event) -> NewEvent:
    """The rules Graph applies to what the body means, in the order a reader meets them."""
    start = _moment(wire.start, "start")
    end = _moment(wire.end, "end")
    begins, ends = (_utc(value) for value in (start, end))
    if ends < begins:
        raise EndBeforeStart()
    if wire.is_all_day:
        _whole_days(start, end)
    if len(wire.attendees) > MAX_ATTENDEES:
        raise InvalidEvent(f"An event can have at most {MAX_ATTENDEES} attendees.")
    attendees = tuple(
        _attendee(attendee, f"attendees[{number}]")
        for number, attendee in enumerate(wire.attendees)
    )
    location = wire.location or (wire.locations[0] if wire.locations else None)
    transaction = wire.transaction_id or None
    if transaction is not None and len(transaction) > MAX_TRANSACTION_ID:
        raise InvalidEvent(
            f"The property 'transactionId' is longer than {MAX_TRANSACTION_ID} characters."
        )
    body = wire.body or _ItemBody()
    return NewEvent(
        subject=wire.subject,
        body=ItemBody(content_type=body.content_type, content=body.content),
        start=start,
        end=end,
        is_all_day=wire.is_all_day,
        location=Location(display_name=location.display_name if location else ""),
        attendees=attendees,
        recurrence=None if wire.recurrence is None else _recurrence(wire.recurrence, start),
        transaction_id=transaction,
    )


def _known_zone(name: str) -> str:
    if not name or len(name) > MAX_ZONE_NAME:
        raise TimeZoneNotSupported(name)
    try:
        zone(name)
    except (UnknownTimeZone, ValueError, OSError):
        raise TimeZoneNotSupported(name) from None
    return name


def _moment(value: _DateTimeTimeZone, name: str) -> DateTimeTimeZone:
    """A dateTimeTimeZone as stored: wall-clock time in its (known) zone, Graph's form. A
    dateTime with an offset (or `Z`) names that instant, written in the zone's time."""
    zone_name = _known_zone(value.time_zone)
    try:
        moment = datetime.fromisoformat(value.date_time.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEvent(
            f"The value '{value.date_time}' of property '{name}.dateTime' is not a valid date "
            "and time."
        ) from None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(zone(zone_name)).replace(tzinfo=None)
        except OverflowError:
            moment = datetime.min  # refused below: outside the calendar
    if not FIRST_DAY <= moment.date() <= LAST_DAY:
        raise InvalidEvent(
            f"The property '{name}.dateTime' must lie between {FIRST_DAY} and {LAST_DAY}."
        )
    written = f"{moment.replace(microsecond=0).isoformat()}.{moment.microsecond:06d}0"
    return DateTimeTimeZone(date_time=written, time_zone=zone_name)


def _utc(value: DateTimeTimeZone) -> datetime:
    return local_datetime(value, zone("UTC"))


def _whole_days(start: DateTimeTimeZone, end: DateTimeTimeZone) -> None:
    """An all-day event is midnight to midnight of its own dates, at least one day long."""
    first, last = (datetime.fromisoformat(v.date_time) for v in (start, end))
    if first.time() != time() or last.time() != time():
        raise InvalidEvent(
            "An all-day event's start and end must be at midnight (a dateTime with a time of "
            "00:00:00)."
        )
    if start.time_zone != end.time_zone:
        raise InvalidEvent("An all-day event's start and end must be in the same time zone.")
    if last.date() <= first.date():
        raise InvalidEvent("An all-day event must end at least one day after it starts.")


def _attendee(attendee: _Attendee, where: str) -> Attendee:
    address = attendee.email_address.address.strip()
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        raise InvalidEvent(
            f"The property '{where}.emailAddress.address' is not a valid email address."
        )
    return Attendee(
        type=attendee.type,
        email_address=EmailAddress(name=attendee.email_address.name, address=address),
    )


def _recurrence(wire: _Recurrence, start: DateTimeTimeZone) -> PatternedRecurrence:
    """Graph's patternedRecurrence, checked by the model the store keeps; the range's zone is
    the start's when not given, and the range starts on the start's date in that zone."""
    zone_name = _known_zone(wire.range.recurrence_time_zone or start.time_zone)
    graph_range: dict[str, Any] = {
        "type": wire.range.type,
        "startDate": _date(wire.range.start_date, "recurrence.range.startDate"),
        "recurrenceTimeZone": zone_name,
        "numberOfOccurrences": wire.range.number_of_occurrences,
    }
    if wire.range.end_date is not None:
        graph_range["endDate"] = _date(wire.range.end_date, "recurrence.range.endDate")
    if wire.range.type == "endDate" and wire.range.end_date is None:
        raise InvalidEvent("The property 'recurrence.range.endDate' is required.")
    pattern = wire.pattern.model_dump(by_alias=True)
    try:
        recurrence = PatternedRecurrence.model_validate({"pattern": pattern, "range": graph_range})
    except ValidationError as error:
        first = error.errors()[0]
        where = path(("recurrence", *first["loc"]))
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidEvent(f"The property '{where}' is invalid: {reason}.") from None
    first_day = local_datetime(start, zone(zone_name)).date()
    if recurrence.range.start_date != first_day:
        raise InvalidEvent(
            f"The recurrence's range must start on the event's start date ({first_day}), "
            f"not {recurrence.range.start_date}."
        )
    return recurrence


def _date(value: str, where: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(
            f"The value '{value}' of property '{where}' is not a valid date."
        ) from None
