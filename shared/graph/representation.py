"""An event on the wire, as Graph v1.0 answers it (DESIGN.md section 12).

`start`/`end` are in UTC unless the request carries `Prefer: outlook.timezone="<zone>"`
(a Windows or IANA name), and then in that zone, labelled with the name as the caller wrote
it; `originalStartTimeZone`/`originalEndTimeZone` keep the zones the event was stored with.
An occurrence or exception is converted the same way as a single event.

All-day events are the exception Graph makes: they come back midnight to midnight of their
own dates whatever zone is asked for ("This is by design. All day events always return
midnight-to-midnight regardless of time zone", Graph's docs team in
microsoftgraph/microsoft-graph-docs#1802; the same in #6003 and #16798). Here the dates are
the event's local dates in the zone it was stored with, written at midnight and labelled
with the zone of the answer.

`cancelledOccurrences` is returned on series masters only, by default and when selected; on
other events it is left out even when selected. `exceptionOccurrences` is a navigation
property in Graph (it needs `$expand`, which the product refuses), so it is never inlined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, time
from zoneinfo import ZoneInfo

from shared.calendar.model import DateTimeTimeZone, Event
from shared.calendar.recurrence import UnknownTimeZone, local_datetime, zone

_HIDDEN = ("sequence", "exceptions")
"""Fields of `Event` that are the product's own, never Graph properties."""

PROPERTIES: tuple[str, ...] = (
    *(info.alias or name for name, info in Event.model_fields.items() if name not in _HIDDEN),
    "originalStartTimeZone",
    "originalEndTimeZone",
)
"""Graph's names of the event properties this product returns (what `$select` may name)."""

_UTC = "UTC"
_ZONE_NAME = re.compile(r"[A-Za-z0-9 ._+\-/]{1,64}")
"""What a Windows or IANA zone name can look like: anything else is not looked up at all."""


def preferred_zone(prefer: str | None) -> str | None:
    """The zone of `Prefer: outlook.timezone="<zone>"`, as written, if the product knows it.

    The header may hold several comma-separated preferences (RFC 7240), each perhaps with
    `;` parameters, values quoted or not; preference names are case-insensitive and only the
    first `outlook.timezone` counts. None when there is none, or when its zone is unknown
    (the answer is then in UTC and carries no `Preference-Applied`).
    """
    if prefer is None:
        return None
    for preference in _split(prefer, ","):
        token = _split(preference, ";")[0]
        name, equals, value = token.partition("=")
        if name.strip().lower() != "outlook.timezone":
            continue
        wanted = _unquoted(value.strip()) if equals else ""
        return wanted if _known_zone(wanted) is not None else None
    return None


def event_json(
    event: Event, *, zone_name: str | None, select: tuple[str, ...] | None
) -> dict[str, object]:
    """The event's Graph JSON: `@odata.etag` and `id` first, times in UTC or `zone_name`.

    `zone_name` is what `preferred_zone` returned (a name it does not know falls back to
    UTC). `select` holds canonical names from `PROPERTIES` (as `query.list_options` gives
    them), or None for every property; `id` and `@odata.etag` are always returned, and a
    selected property the event has no value for is null.
    """
    return _event_json(event, *_answer_zone(zone_name), select)


def events_json(
    events: Iterable[Event], *, zone_name: str | None, select: tuple[str, ...] | None
) -> list[dict[str, object]]:
    """`event_json` of each event of a list, the answer's zone looked up once."""
    target, label = _answer_zone(zone_name)
    return [_event_json(event, target, label, select) for event in events]


def _answer_zone(zone_name: str | None) -> tuple[ZoneInfo, str]:
    """The zone an answer's times are in, and its label."""
    if zone_name is not None and (known := _known_zone(zone_name)) is not None:
        return known, zone_name
    return zone(_UTC), _UTC


_LEFT_OUT = frozenset({"id", "cancelled_occurrences"})
_LEFT_OUT_OF_MASTER = frozenset({"id"})
"""`id` comes first, with `@odata.etag`; `cancelledOccurrences` only on series masters."""
_FIELDS = tuple(Event.model_fields)
assert _FIELDS.index("end") == _FIELDS.index("start") + 1, "end follows start"


def _event_json(
    event: Event, target: ZoneInfo, label: str, select: tuple[str, ...] | None
) -> dict[str, object]:
    is_master = event.type == "seriesMaster"
    graph = event.to_graph(leaving_out=_LEFT_OUT_OF_MASTER if is_master else _LEFT_OUT)
    body: dict[str, object] = {"@odata.etag": f'W/"{event.change_key}"', "id": event.id}
    properties = iter(graph.items())
    for key, value in properties:  # the properties before `start`, then start and end
        if key == "start":
            break
        body[key] = value
    next(properties)  # end, right after start
    start, end = event.start, event.end
    body["start"] = _in_zone(start, target, label, all_day=event.is_all_day)
    body["end"] = _in_zone(end, target, label, all_day=event.is_all_day)
    body["originalStartTimeZone"] = start.time_zone
    body["originalEndTimeZone"] = end.time_zone
    body.update(properties)
    if select is None:
        return body

    kept = {key: body[key] for key in body if key in ("@odata.etag", "id") or key in select}
    for name in select:
        if name not in kept and (name != "cancelledOccurrences" or is_master):
            kept[name] = None
    return kept


def _in_zone(
    value: DateTimeTimeZone, target: ZoneInfo, label: str, *, all_day: bool
) -> dict[str, str]:
    if all_day:
        own_date = local_datetime(value, zone(value.time_zone)).date()
        moment = datetime.combine(own_date, time())
    else:
        moment = local_datetime(value, target)
    return {"dateTime": _graph_datetime(moment), "timeZone": label}


def _graph_datetime(moment: datetime) -> str:
    """Graph's form, with its 7-digit fraction: `2027-01-04T17:00:00.0000000`."""
    if moment.microsecond:  # (isoformat's keyword arguments cost more than slicing its text)
        return f"{moment.isoformat()[:19]}.{moment.microsecond:06d}0"
    return f"{moment.isoformat()}.0000000"


def _known_zone(name: str) -> ZoneInfo | None:
    if not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return zone(name)
    except (UnknownTimeZone, OSError, ValueError):
        # zoneinfo raises OSError for a name that is a folder of the zone database
        # ("America") rather than ZoneInfoNotFoundError.
        return None


def _split(text: str, separator: str) -> list[str]:
    """`text` split at `separator` where it is not inside a quoted string."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value
