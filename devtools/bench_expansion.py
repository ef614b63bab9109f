"""The growth benchmark: what reading a series costs as it gets long, or far away.

A daily series without end ("Pacific Standard Time", from 2027-01-01) is read through the
real HTTP functions in-process against Azurite:

- `instances` over 1 year, and over 10 and 100 years clamped to Graph's 1825-day cap (the
  five years that end 10 and 100 years after the series began), and a one-week window 1, 10,
  100 and 7,972 years in (the calendar's last week);
- `GET` of an occurrence id in the series' first week and on the calendar's last day,
  9999-12-30.

Each figure is the median of `rounds` calls beside its floor, the point read of the series
master with the raw SDK in the same round. Cost that grows with the occurrences in the window,
and not with the distance from the series' start, shows as a per-occurrence cost that stays
flat and a far GET that costs what a near one does.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import azure.functions as func
from azure.data.tables import TableClient

SERIES_START = date(2027, 1, 1)
ZONE = "Pacific Standard Time"
YEAR = timedelta(days=365)
CAP = timedelta(days=1825)


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    occurrences: int


@dataclass(frozen=True)
class Growth:
    """Median milliseconds of one request and of its floor, the point read of the master."""

    case: Case
    handler_ms: float
    floor_ms: float

    def line(self) -> str:
        per = (
            f" | {1000 * (self.handler_ms - self.floor_ms) / self.case.occurrences:.1f} µs "
            "per occurrence"
            if self.case.occurrences > 1
            else ""
        )
        return (
            f"growth {self.case.label:<30} {self.case.occurrences:>5} occ | "
            f"handler {self.handler_ms:8.2f} ms | master read {self.floor_ms:5.2f} ms | "
            f"ratio {self.handler_ms / self.floor_ms:7.2f}{per}"
        )


def series_event(owner: str) -> dict[str, Any]:
    """The daily series, as the loader reads it."""
    return {
        "key": "bench-daily",
        "owner": owner,
        "subject": "Daily stand-up (bench)",
        "start": {"dateTime": f"{SERIES_START}T09:00:00.0000000", "timeZone": ZONE},
        "end": {"dateTime": f"{SERIES_START}T09:15:00.0000000", "timeZone": ZONE},
        "recurrence": {
            "pattern": {"type": "daily"},
            "range": {"type": "noEnd", "startDate": f"{SERIES_START}", "recurrenceTimeZone": ZONE},
        },
    }


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def cases(master_id: str) -> list[Case]:
    def window(label: str, first: date, last: date) -> Case:
        query = f"startDateTime={_stamp(first)}&endDateTime={_stamp(last)}"
        return Case(label, f"me/events/{master_id}/instances?{query}", (last - first).days)

    found = [window("instances 1 year", SERIES_START, SERIES_START + YEAR)]
    for years in (10, 100):
        end = SERIES_START + years * YEAR
        found.append(window(f"instances {years} years (capped)", end - CAP, end))
    for years in (1, 10, 100):
        first = SERIES_START + years * YEAR
        found.append(window(f"one week {years} years in", first, first + timedelta(days=7)))
    found.append(window("one week at the calendar's end", date(9999, 12, 23), date(9999, 12, 30)))
    for label, day in (("near", SERIES_START + timedelta(days=3)), ("9999-12-30", None)):
        occurrence = f"OID.{master_id}.{day or '9999-12-30'}"
        found.append(Case(f"GET occurrence {label}", f"me/events/{occurrence}", 1))
    return found


def request(path: str, token: str) -> func.HttpRequest:
    route, _, query = path.partition("?")
    params = dict(part.split("=", 1) for part in query.split("&")) if query else {}
    return func.HttpRequest(
        "GET",
        f"http://localhost:7071/v1.0/{path}",
        headers={"Authorization": f"Bearer {token}"},
        params=params,
        route_params={"path": route},
        body=b"",
    )


def measure_growth(
    table: TableClient, mailbox: str, master_id: str, token: str, rounds: int
) -> list[Growth]:
    from cancel.graph import graph_v1

    results = []
    for case in cases(master_id):
        handler: Callable[[func.HttpRequest], func.HttpResponse] = graph_v1
        req = request(case.path, token)
        handler_ms, floor_ms = [], []
        for _ in range(rounds):
            started = time.perf_counter_ns()
            response = handler(req)
            handler_ms.append((time.perf_counter_ns() - started) / 1e6)
            if response.status_code != 200:
                raise RuntimeError(f"{case.path}: {response.status_code} {response.get_body()!r}")
            started = time.perf_counter_ns()
            table.get_entity(mailbox, f"event|{master_id}")
            floor_ms.append((time.perf_counter_ns() - started) / 1e6)
        results.append(Growth(case, statistics.median(handler_ms), statistics.median(floor_ms)))
    return results
