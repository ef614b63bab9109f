"""Time windows of `instances` (and calendar views): checked before anything is expanded.

Graph refuses a window longer than 1825 days (microsoftgraph/microsoft-graph-docs#6284 quotes
the error); a window must also lie within the dates the calendar holds, so that no zone
conversion of its ends can leave the range Python's datetime holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from shared.calendar.errors import MissingTimeWindow, WindowOutOfRange, WindowTooLarge
from shared.calendar.model import FIRST_DAY, LAST_DAY

MAX_WINDOW_DAYS = 1825
FIRST_INSTANT = datetime.combine(FIRST_DAY, time(), UTC)
LAST_INSTANT = datetime.combine(LAST_DAY, time(), UTC) + timedelta(days=1)

Window = tuple[datetime, datetime]


def checked_window(start: datetime, end: datetime) -> Window:
    """The window [start, end) in UTC, if Graph would take it; aware datetimes only."""
    try:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
    except OverflowError:
        raise _out_of_range() from None
    if not (FIRST_INSTANT <= start <= LAST_INSTANT and FIRST_INSTANT <= end <= LAST_INSTANT):
        raise _out_of_range()
    if end <= start:
        raise MissingTimeWindow()
    if end - start > timedelta(days=MAX_WINDOW_DAYS):
        raise WindowTooLarge(MAX_WINDOW_DAYS)
    return start, end


def _out_of_range() -> WindowOutOfRange:
    return WindowOutOfRange(
        FIRST_INSTANT.strftime("%Y-%m-%dT%H:%M:%SZ"), LAST_INSTANT.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
