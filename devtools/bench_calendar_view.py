"""The calendar view benchmark: one week of a full mailbox, against the query it cannot avoid.

A mailbox of 1,000 events (980 single events spread over 2026 and 2027, 20 weekly series on
different days, times and zones, with noEnd, endDate and numbered ranges, some with attendees)
is read as `GET /v1.0/me/calendarView?startDateTime=…&endDateTime=…` (what the SDK's
`me.calendar_view` sends) for the week of 2027-03-01, through the real HTTP function `graph_v1`
in-process against Azurite:

- with `$top=1000`, the whole week in one answer (the headline);
- as written without `$top`, which answers Graph's default page of 10 (and a next link);
- as `/users/{upn}/calendarView`, which also reads the directory once (the user the path names),
  a point read the floor does not make.

The floor is the one partition query the product makes for that window (the event rows of the
mailbox in the calendar whose span overlaps it), made with the raw SDK and materialised as a
list of entities: nothing else. The handler also parses the rows the query returns (once per
row version: see `shared/storage/tables.py: ParsedEvents`), expands the series and writes the
answer's JSON.

Handler and floor alternate, warm-up first; p50 and p99 of each and their ratios.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import azure.functions as func
from azure.data.tables import TableClient

from devtools.bench_expansion import request

VIEW_USER_ID = "5e1f3a2b-0c4d-4e6f-8a9b-00000000ca1e"
VIEW_UPN = "bench.viewer@contoso.example"
EVENTS = 1000
SERIES = 20
ZONES = ("Pacific Standard Time", "W. Europe Standard Time", "UTC")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
FIRST_DAY = date(2026, 1, 1)
DAYS = 730
"""The single events lie in the two years from FIRST_DAY."""
WEEK_START = datetime(2027, 3, 1, tzinfo=UTC)
WEEK = (WEEK_START, WEEK_START + timedelta(days=7))
WHOLE_WEEK_TOP = 1000

FLOOR_QUERY = (
    "PartitionKey eq @mailbox and RowKey ge 'event|' and RowKey lt 'event}' "
    "and Folder eq 'calendar' and SpanStart lt @end and SpanEnd gt @start"
)
"""`TableCalendars.list_events` with a window, word for word."""


# --- the mailbox ---------------------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000")


def _attendees(key: str, count: int) -> list[dict[str, Any]]:
    return [
        {"type": "required" if a else "optional",
         "emailAddress": {"name": f"Guest {key}-{a}", "address": f"{key}.{a}@fabrikam.example"}}
        for a in range(count)
    ]  # fmt: skip


def _series(number: int, owner: str) -> dict[str, Any]:
    """Weekly series `number`: one or two weekdays, its own time and zone, one of three ranges."""
    days = [WEEKDAYS[number % 5]]
    if number % 4 == 3:
        days.append(WEEKDAYS[(number + 2) % 5])
    first = FIRST_DAY + timedelta(days=7 * number)
    while first.strftime("%A").lower() not in days:
        first += timedelta(days=1)
    zone = ZONES[number % 3]
    start = datetime.combine(first, datetime.min.time()) + timedelta(
        hours=8 + number % 9, minutes=30 * (number % 2)
    )
    end = start + timedelta(minutes=30 if number % 2 else 60)
    kind = ("noEnd", "endDate", "numbered")[number % 3]
    span: dict[str, Any] = {"type": kind, "startDate": first.isoformat(),
                            "recurrenceTimeZone": zone}  # fmt: skip
    if kind == "endDate":
        span["endDate"] = (first + timedelta(days=365 + 30 * number)).isoformat()
    elif kind == "numbered":
        span["numberOfOccurrences"] = 40 + 5 * number
    key = f"view-series-{number}"
    event: dict[str, Any] = {
        "key": key,
        "owner": owner,
        "subject": f"Weekly sync {number}",
        "body": {"contentType": "html", "content": f"<p>Standing agenda of sync {number}.</p>"},
        "start": {"dateTime": _stamp(start), "timeZone": zone},
        "end": {"dateTime": _stamp(end), "timeZone": zone},
        "location": {"displayName": f"Room {100 + number}"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": days,
                        "firstDayOfWeek": "monday"},
            "range": span,
        },
    }  # fmt: skip
    if number % 2 == 0:
        event["attendees"] = _attendees(key, 2 + number % 3)
    return event


def _single(number: int, owner: str) -> dict[str, Any]:
    """Single event `number`: spread evenly over DAYS, times, lengths and zones varying."""
    day = FIRST_DAY + timedelta(days=number * DAYS // (EVENTS - SERIES))
    start = datetime.combine(day, datetime.min.time()) + timedelta(
        hours=7 + (number * 5) % 11, minutes=15 * (number % 4)
    )
    end = start + timedelta(minutes=(30, 45, 60, 90)[number % 4])
    zone = ZONES[number % 3]
    key = f"view-single-{number}"
    event: dict[str, Any] = {
        "key": key,
        "owner": owner,
        "subject": f"Meeting {number}",
        "body": {"contentType": "html", "content": f"<p>Notes for meeting {number}.</p>"},
        "start": {"dateTime": _stamp(start), "timeZone": zone},
        "end": {"dateTime": _stamp(end), "timeZone": zone},
        "location": {"displayName": f"Room {number % 40}"},
    }
    if number % 3 == 0:
        event["attendees"] = _attendees(key, 1 + number % 4)
    return event


def view_tenant() -> dict[str, Any]:
    """One user of its own (its own partition, beside the other benchmarks') and 1,000 events."""
    events = [_series(number, VIEW_UPN) for number in range(SERIES)]
    events += [_single(number, VIEW_UPN) for number in range(EVENTS - SERIES)]
    return {
        "users": [{"id": VIEW_USER_ID, "userPrincipalName": VIEW_UPN, "mail": VIEW_UPN,
                   "displayName": "Bench Viewer"}],
        "events": events,
    }  # fmt: skip


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def view_path(owner: str, window: tuple[datetime, datetime], top: int | None = None) -> str:
    """The request's path and query, below `/v1.0/`; `owner` is `me` or `users/{user}`."""
    query = f"startDateTime={_utc(window[0])}&endDateTime={_utc(window[1])}"
    if top is not None:
        query += f"&$top={top}"
    return f"{owner}/calendarView?{query}"


# --- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """One request's samples in milliseconds, handler and floor taken interleaved, and what the
    answer held: `answered` events of the `in_week` the week holds, out of `in_mailbox`;
    the floor's query returned `rows` rows (single events and series masters). Its figures and
    summary line are `devtools.bench`'s, beside the cancel latency's."""

    key: str
    """Its name in the benchmark's JSON."""
    label: str
    answered: int
    in_week: int
    in_mailbox: int
    rows: int
    handler_ms: tuple[float, ...]
    floor_ms: tuple[float, ...]


# --- measuring -----------------------------------------------------------------------------------


def _timed_handler(
    handler: Callable[[func.HttpRequest], func.HttpResponse], req: func.HttpRequest
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter_ns()
    response = handler(req)
    elapsed = (time.perf_counter_ns() - started) / 1e6
    if response.status_code != 200:
        raise RuntimeError(f"{req.url}: {response.status_code} {response.get_body()[:500]!r}")
    body: dict[str, Any] = json.loads(response.get_body())
    if not body.get("value"):
        raise RuntimeError(f"{req.url}: an empty calendar view")
    return elapsed, body


def _timed_floor(table: TableClient, mailbox: str) -> tuple[float, int]:
    parameters = {"mailbox": mailbox, "start": WEEK[0], "end": WEEK[1]}
    started = time.perf_counter_ns()
    rows = list(table.query_entities(FLOOR_QUERY, parameters=parameters))
    elapsed = (time.perf_counter_ns() - started) / 1e6
    if not rows:
        raise RuntimeError("the floor's query found no rows")
    return elapsed, len(rows)


def measure_view(
    table: TableClient, mailbox: str, token: str, rounds: int, warmup: int
) -> list[View]:
    """Each request beside its floor, alternating which goes first, `warmup` rounds untimed."""
    from cancel.graph import graph_v1

    handler: Callable[[func.HttpRequest], func.HttpResponse] = graph_v1
    user = f"users/{VIEW_UPN}"
    cases = [
        ("whole_week", f"/me, $top={WHOLE_WEEK_TOP}",
         request(view_path("me", WEEK, WHOLE_WEEK_TOP), token)),
        ("default_page", "/me, Graph's default page", request(view_path("me", WEEK), token)),
        ("user_whole_week", f"/users/{{upn}}, $top={WHOLE_WEEK_TOP}: + a directory read",
         request(view_path(user, WEEK, WHOLE_WEEK_TOP), token)),
    ]  # fmt: skip
    _, whole = _timed_handler(handler, cases[0][2])
    if "@odata.nextLink" in whole:
        raise RuntimeError(f"the week holds more than {WHOLE_WEEK_TOP} events")
    in_week = len(whole["value"])

    results = []
    for key, label, req in cases:
        handler_ms: list[float] = []
        floor_ms: list[float] = []
        answered = rows = 0
        for number in range(warmup + rounds):
            if number % 2 == 0:
                handler_time, body = _timed_handler(handler, req)
                floor_time, rows = _timed_floor(table, mailbox)
            else:
                floor_time, rows = _timed_floor(table, mailbox)
                handler_time, body = _timed_handler(handler, req)
            answered = len(body["value"])
            if number >= warmup:
                handler_ms.append(handler_time)
                floor_ms.append(floor_time)
        results.append(
            View(key, label, answered, in_week, EVENTS, rows, tuple(handler_ms), tuple(floor_ms))
        )
    return results
