"""The calendar view benchmark's pure parts: its summary line, its mailbox, its request."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from devtools.bench import view_figures, view_line
from devtools.bench_calendar_view import (
    EVENTS,
    VIEW_UPN,
    VIEW_USER_ID,
    WEEK,
    ZONES,
    View,
    view_path,
    view_tenant,
)
from devtools.bench_expansion import request
from devtools.load import build
from shared.calendar.model import Event
from shared.calendar.recurrence import Series, local_datetime, zone
from shared.storage.tables import get_text

UTC_ZONE = zone("UTC")


def _view(answered: int, floor_ms: tuple[float, ...] = (1.0, 2.0)) -> View:
    return View("default_page", "Graph's default page", answered, 30, EVENTS, 26,
                handler_ms=(2.0, 4.0), floor_ms=floor_ms)  # fmt: skip


def test_the_summary_line_is_shaped_as_the_cancel_latency_s() -> None:
    assert view_line(_view(10)) == (
        "calendar view   handler p50 3.00 ms  p99 3.98 ms | floor p50 1.50 ms  p99 1.99 ms"
        " | ratio p50 2.00  p99 2.00  (10 of 30 events in a week of 1,000, Graph's default page)"
    )
    assert view_line(_view(30)).endswith("(30 events in a week of 1,000, Graph's default page)")


def test_the_figures_are_the_latencies_and_what_the_answer_held() -> None:
    figures = view_figures(_view(10))
    assert figures["ratio_p50"] == 2.0
    assert (figures["events_answered"], figures["events_in_week"]) == (10, 30)
    assert (figures["mailbox_events"], figures["rows_queried"]) == (1000, 26)
    without_floor = _view(10, floor_ms=(0.0,))
    assert math.isnan(view_figures(without_floor)["ratio_p50"])
    assert "ratio p50 n/a  p99 n/a" in view_line(without_floor)


def _events() -> list[Event]:
    loaded, _, rows = build(view_tenant())
    assert list(loaded.users) == [VIEW_UPN]
    assert {owner for owner, _ in loaded.events.values()} == {VIEW_USER_ID}
    assert not any(loaded.copies.values())  # every attendee is external: no copies elsewhere
    return [
        Event.model_validate_json(get_text(row, "Event"))
        for row in rows
        if row["RowKey"].startswith("event|")
    ]


def _utc(event: Event) -> tuple[datetime, datetime]:
    start, end = (local_datetime(m, UTC_ZONE).replace(tzinfo=UTC) for m in (event.start, event.end))
    return start, end


def test_the_mailbox_holds_1000_events_of_which_20_weekly_series_of_every_kind() -> None:
    events = _events()
    assert len(events) == EVENTS == 1000
    series = [e for e in events if e.recurrence is not None]
    assert len(series) == 20
    assert all(e.type == "seriesMaster" for e in series)
    assert {e.recurrence.pattern.type for e in series if e.recurrence} == {"weekly"}
    assert {e.recurrence.range.type for e in series if e.recurrence} == {
        "noEnd",
        "endDate",
        "numbered",
    }
    assert {e.start.time_zone for e in series} == set(ZONES)
    assert len({e.recurrence.pattern.days_of_week for e in series if e.recurrence}) >= 5
    assert len({(e.start.date_time[11:16], e.start.time_zone) for e in series}) >= 10
    assert 0 < sum(bool(e.attendees) for e in series) < len(series)


def test_the_single_events_lie_over_two_years_in_every_zone() -> None:
    singles = [e for e in _events() if e.recurrence is None]
    assert len(singles) == 980
    starts = sorted(_utc(e)[0] for e in singles)
    assert (starts[0].year, starts[-1].year) == (2026, 2027)
    assert (starts[-1] - starts[0]).days > 700
    assert {e.start.time_zone for e in singles} == set(ZONES)
    assert 0 < sum(bool(e.attendees) for e in singles) < len(singles)


def test_the_week_holds_several_single_events_and_occurrences_of_most_series() -> None:
    events = _events()
    singles = [
        e for e in events if e.recurrence is None and _utc(e)[0] < WEEK[1] and _utc(e)[1] > WEEK[0]
    ]
    occurring = {e.id: len(Series(e).instances(*WEEK)) for e in events if e.recurrence is not None}
    assert 5 <= len(singles) <= 20
    assert sum(1 for count in occurring.values() if count) >= 15
    # More than Graph's default page of 10: the two cases of the benchmark differ.
    assert len(singles) + sum(occurring.values()) > 10


def test_the_request_is_the_documented_calendar_view() -> None:
    path = view_path(f"users/{VIEW_UPN}", WEEK)
    assert path == (
        f"users/{VIEW_UPN}/calendarView"
        "?startDateTime=2027-03-01T00:00:00Z&endDateTime=2027-03-08T00:00:00Z"
    )
    assert view_path(f"users/{VIEW_UPN}", WEEK, 1000).endswith("&$top=1000")
    req = request(view_path(f"users/{VIEW_UPN}", WEEK, 1000), "token")
    assert req.method == "GET"
    assert req.url == f"http://localhost:7071/v1.0/{view_path(f'users/{VIEW_UPN}', WEEK, 1000)}"
    assert req.route_params == {"path": f"users/{VIEW_UPN}/calendarView"}
    assert req.params == {
        "startDateTime": "2027-03-01T00:00:00Z",
        "endDateTime": "2027-03-08T00:00:00Z",
        "$top": "1000",
    }
    assert req.headers["authorization"] == "Bearer token"
