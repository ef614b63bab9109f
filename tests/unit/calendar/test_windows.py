"""Time windows of `instances`: Graph's 1825-day limit and the calendar's range, checked first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.calendar.errors import GraphError, MissingTimeWindow, WindowOutOfRange, WindowTooLarge
from shared.calendar.model import AnyCalendar, Me
from shared.calendar.windows import FIRST_INSTANT, LAST_INSTANT, MAX_WINDOW_DAYS, checked_window
from shared.use_cases.reading import list_instances
from tests.unit.use_cases import fakes

START = datetime(2027, 1, 1, tzinfo=UTC)
PLUS_14 = timezone(timedelta(hours=14))
MINUS_12 = timezone(timedelta(hours=-12))


def test_a_window_of_exactly_1825_days_is_served() -> None:
    assert checked_window(START, START + timedelta(days=1825)) == (
        START,
        START + timedelta(days=1825),
    )


def test_a_window_longer_than_1825_days_is_graph_s_400() -> None:
    with pytest.raises(WindowTooLarge) as raised:
        checked_window(START, START + timedelta(days=1825, seconds=1))

    assert (raised.value.status, raised.value.code) == (400, "ErrorInvalidRequest")
    assert raised.value.message == (
        "Your request can't be completed. The range between the start and end dates is "
        "greater than the allowed range. Maximum number of days: 1825"
    )
    assert MAX_WINDOW_DAYS == 1825


def test_a_window_ending_where_it_starts_has_no_window() -> None:
    with pytest.raises(MissingTimeWindow):
        checked_window(START, START)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC)),
        (datetime(1, 1, 1, tzinfo=PLUS_14), datetime(1, 1, 2, tzinfo=UTC)),
        (datetime(9999, 12, 31, 23, tzinfo=MINUS_12), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)),
        (datetime(2027, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (datetime(9999, 12, 30, tzinfo=UTC), datetime(9999, 12, 31, 0, 0, 1, tzinfo=UTC)),
        (datetime(1600, 12, 31, 23, 59, tzinfo=UTC), datetime(1601, 1, 2, tzinfo=UTC)),
    ],
)
def test_a_window_outside_the_calendar_is_refused_before_any_arithmetic(
    start: datetime, end: datetime
) -> None:
    with pytest.raises(WindowOutOfRange) as raised:
        checked_window(start, end)

    assert (raised.value.status, raised.value.code) == (400, "ErrorInvalidParameter")
    assert raised.value.message == (
        "The time window must lie between 1601-01-01T00:00:00Z and 9999-12-31T00:00:00Z."
    )


def test_the_calendar_s_edges_are_windows_too() -> None:
    checked_window(FIRST_INSTANT, FIRST_INSTANT + timedelta(days=1))
    checked_window(LAST_INSTANT - timedelta(days=1), LAST_INSTANT)


def test_offsets_are_read_as_utc() -> None:
    start = datetime(2027, 1, 1, 9, tzinfo=PLUS_14)

    assert checked_window(start, start + timedelta(hours=1))[0] == datetime(
        2026, 12, 31, 19, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("window", "error"),
    [
        ((START, START + timedelta(days=3650)), WindowTooLarge),
        ((datetime(1, 1, 1, tzinfo=UTC), START), WindowOutOfRange),
        ((START, START - timedelta(days=1)), MissingTimeWindow),
    ],
)
def test_instances_checks_the_window_before_reading_anything(
    window: tuple[datetime, datetime], error: type[GraphError]
) -> None:
    calendars, directory = fakes.FakeCalendars(), fakes.FakeDirectory()
    calendars.put(fakes.stored(item=fakes.series_master()))

    with pytest.raises(error):
        list_instances(
            Me(),
            AnyCalendar(),
            fakes.EVENT_ID,
            window,
            fakes.delegated(),
            directory=directory,
            calendars=calendars,
        )

    assert calendars.reads == []
