"""Recurring series: each pattern and range, daylight saving, and a property against an oracle.

The oracle below reads Graph's pattern definitions day by day, independently of dateutil, so
the property checks the product's rrule expansion against a second reading of the same rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.calendar.errors import ItemNotFound, NotOrganizer
from shared.calendar.model import AnyCalendar, DateTimeTimeZone, Event, Me, PatternedRecurrence
from shared.calendar.recurrence import Series, UnknownTimeZone, period_start, series_of, zone
from shared.use_cases.cancellation import CancelEvent, cancel_event
from shared.use_cases.reading import list_instances, read_event
from tests.unit.use_cases import fakes

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MASTER = "AAMkSeriesMaster"


def master(recurrence: dict[str, Any], *, tz: str = "UTC", at: str = "09:00") -> Event:
    start = recurrence["range"]["startDate"]
    base = fakes.event(MASTER).model_dump(by_alias=True)
    return Event.model_validate(
        {
            **base,
            "type": "seriesMaster",
            "recurrence": {
                **recurrence,
                "range": {"recurrenceTimeZone": tz, **recurrence["range"]},
            },
            "start": {"dateTime": f"{start}T{at}:00.0000000", "timeZone": tz},
            "end": {"dateTime": f"{start}T{at[:2]}:30:00.0000000", "timeZone": tz},
        }
    )


def days(series: Series, start: date, end: date) -> list[date]:
    window = (
        datetime.combine(start, datetime.min.time(), UTC),
        datetime.combine(end, datetime.min.time(), UTC),
    )
    return list(series.days_between(*window))


@pytest.mark.parametrize(
    ("pattern", "span", "expected"),
    [
        (
            {"type": "daily", "interval": 3},
            {"type": "numbered", "numberOfOccurrences": 4},
            ["2027-01-04", "2027-01-07", "2027-01-10", "2027-01-13"],
        ),
        (
            {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"]},
            {"type": "endDate", "endDate": "2027-01-31"},
            ["2027-01-04", "2027-01-07", "2027-01-18", "2027-01-21"],
        ),
        (
            {"type": "absoluteMonthly", "dayOfMonth": 15},
            {"type": "numbered", "numberOfOccurrences": 3},
            ["2027-01-15", "2027-02-15", "2027-03-15"],
        ),
        (
            {"type": "relativeMonthly", "daysOfWeek": ["friday"], "index": "last"},
            {"type": "numbered", "numberOfOccurrences": 3},
            ["2027-01-29", "2027-02-26", "2027-03-26"],
        ),
        (
            {
                "type": "relativeMonthly",
                "daysOfWeek": ["tuesday"],
                "index": "second",
                "interval": 2,
            },
            {"type": "endDate", "endDate": "2027-06-30"},
            ["2027-01-12", "2027-03-09", "2027-05-11"],
        ),
        (
            {"type": "absoluteYearly", "month": 3, "dayOfMonth": 1},
            {"type": "numbered", "numberOfOccurrences": 2},
            ["2027-03-01", "2028-03-01"],
        ),
        (
            {"type": "relativeYearly", "month": 11, "daysOfWeek": ["thursday"], "index": "fourth"},
            {"type": "noEnd"},
            ["2027-11-25", "2028-11-23"],
        ),
    ],
)
def test_each_pattern_and_range(
    pattern: dict[str, Any], span: dict[str, Any], expected: list[str]
) -> None:
    series = Series(master({"pattern": pattern, "range": {"startDate": "2027-01-04", **span}}))
    assert days(series, date(2027, 1, 1), date(2028, 12, 1)) == [
        date.fromisoformat(d) for d in expected
    ]


def test_wall_clock_time_holds_across_daylight_saving_in_a_windows_zone() -> None:
    weekly = {
        "pattern": {"type": "weekly", "daysOfWeek": ["monday"]},
        "range": {"type": "noEnd", "startDate": "2027-03-01"},
    }
    series = Series(master(weekly, tz="Pacific Standard Time"))
    before, after = series.occurrence(date(2027, 3, 8)), series.occurrence(date(2027, 3, 15))
    assert before is not None
    assert after is not None
    assert (before.original_start, after.original_start) == (
        "2027-03-08T17:00:00Z",
        "2027-03-15T16:00:00Z",
    )
    assert before.start.date_time == after.start.date_time.replace("15T", "08T")
    assert before.start.time_zone == "Pacific Standard Time"


def test_windows_and_iana_names_name_the_same_zone() -> None:
    assert zone("W. Europe Standard Time") == zone("Europe/Berlin")
    assert zone("Pacific Standard Time").key == "America/Los_Angeles"
    with pytest.raises(UnknownTimeZone):
        zone("Middle Earth Standard Time")


def test_a_modified_occurrence_is_an_exception() -> None:
    weekly = master(
        {
            "pattern": {"type": "weekly", "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": "2027-01-04", "numberOfOccurrences": 3},
        }
    ).model_copy(update={"exceptions": ()})
    changed = Event.model_validate(
        {
            **weekly.model_dump(by_alias=True),
            "exceptions": [
                {
                    "originalDate": "2027-01-11",
                    "subject": "Moved",
                    "start": {"dateTime": "2027-01-11T15:00:00", "timeZone": "UTC"},
                    "end": {"dateTime": "2027-01-11T15:30:00", "timeZone": "UTC"},
                }
            ],
        }
    )
    occurrence = Series(changed).occurrence(date(2027, 1, 11))
    assert occurrence is not None
    assert (occurrence.type, occurrence.subject, occurrence.start.date_time) == (
        "exception",
        "Moved",
        "2027-01-11T15:00:00",
    )
    assert occurrence.original_start == "2027-01-11T09:00:00Z"


# The oracle: Graph's documented pattern semantics, read one day at a time.


def _week_start(day: date, first_day: str) -> date:
    return day - timedelta(days=(day.weekday() - DAYS.index(first_day)) % 7)


def _nth(day: date, weekdays: tuple[str, ...], index: str) -> bool:
    month_days = [
        day.replace(day=d)
        for d in range(1, 32)
        if _valid(day.year, day.month, d)
        and DAYS[date(day.year, day.month, d).weekday()] in weekdays
    ]
    position = {"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1}[index]
    return len(month_days) > max(position, -1 - position) and month_days[position] == day


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def oracle_matches(recurrence: PatternedRecurrence, day: date) -> bool:
    p, first = recurrence.pattern, recurrence.range.start_date
    months = (day.year - first.year) * 12 + day.month - first.month
    if day < first:
        return False
    if p.type == "daily":
        return (day - first).days % p.interval == 0
    if p.type == "weekly":
        weeks = (
            _week_start(day, p.first_day_of_week) - _week_start(first, p.first_day_of_week)
        ).days // 7
        return DAYS[day.weekday()] in p.days_of_week and weeks % p.interval == 0
    if p.type == "absoluteMonthly":
        return day.day == p.day_of_month and months % p.interval == 0
    if p.type == "relativeMonthly":
        return months % p.interval == 0 and _nth(day, p.days_of_week, p.index)
    years_ok = day.month == p.month and (day.year - first.year) % p.interval == 0
    if p.type == "absoluteYearly":
        return years_ok and day.day == p.day_of_month
    return years_ok and _nth(day, p.days_of_week, p.index)


def oracle(recurrence: PatternedRecurrence, until: date) -> Iterator[date]:
    span, count, day = recurrence.range, 0, recurrence.range.start_date
    while day <= until:
        if span.type == "endDate" and day > span.end_date:
            return
        if oracle_matches(recurrence, day):
            count += 1
            if span.type == "numbered" and count > span.number_of_occurrences:
                return
            yield day
        day += timedelta(days=1)


@st.composite
def recurrences(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "daily",
                "weekly",
                "absoluteMonthly",
                "relativeMonthly",
                "absoluteYearly",
                "relativeYearly",
            ]
        )
    )
    pattern: dict[str, Any] = {"type": kind, "interval": draw(st.integers(1, 4))}
    if kind in ("weekly", "relativeMonthly", "relativeYearly"):
        chosen = draw(st.sets(st.sampled_from(DAYS), min_size=1, max_size=3))
        pattern["daysOfWeek"] = sorted(chosen, key=DAYS.index)
        pattern["firstDayOfWeek"] = draw(st.sampled_from(["sunday", "monday"]))
        pattern["index"] = draw(st.sampled_from(["first", "second", "third", "fourth", "last"]))
    if kind in ("absoluteMonthly", "absoluteYearly"):
        pattern["dayOfMonth"] = draw(st.integers(1, 28))
    if kind.endswith("Yearly"):
        pattern["month"] = draw(st.integers(1, 12))
    start = draw(st.dates(date(2026, 1, 1), date(2027, 12, 31)))
    span_kind = draw(st.sampled_from(["endDate", "numbered", "noEnd"]))
    span: dict[str, Any] = {"type": span_kind, "startDate": start.isoformat()}
    if span_kind == "endDate":
        span["endDate"] = (start + timedelta(days=draw(st.integers(0, 900)))).isoformat()
    elif span_kind == "numbered":
        span["numberOfOccurrences"] = draw(st.integers(1, 12))
    return {"pattern": pattern, "range": span}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    recurrence=recurrences(),
    zone_name=st.sampled_from(["UTC", "Pacific Standard Time", "W. Europe Standard Time"]),
)
def test_accepted_occurrence_ids_are_the_expansion_and_cancel_removes_one(
    recurrence: dict[str, Any], zone_name: str
) -> None:
    series_master = master(recurrence, tz=zone_name)
    assert series_master.recurrence is not None
    first = series_master.recurrence.range.start_date
    last = first + timedelta(days=2 * 366)
    expected = list(oracle(series_master.recurrence, last))

    calendars = fakes.FakeCalendars()
    calendars.put(fakes.stored(item=series_master))
    directory, caller = fakes.FakeDirectory(), fakes.delegated()

    def accepted() -> list[date]:
        found = []
        for offset in range(-3, (last - first).days + 1):
            day = first + timedelta(days=offset)
            try:
                read_event(
                    Me(),
                    AnyCalendar(),
                    f"OID.{MASTER}.{day}",
                    caller,
                    directory=directory,
                    calendars=calendars,
                )
            except ItemNotFound:
                continue
            found.append(day)
        return found

    assert accepted() == expected
    window = (
        datetime(first.year - 1, 1, 1, tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC),
    )
    listed = list_instances(
        Me(), AnyCalendar(), MASTER, window, caller, directory=directory, calendars=calendars
    )
    assert [date.fromisoformat(e.id.rsplit(".", 1)[1]) for e in listed] == expected

    if not expected:
        return
    victim = expected[len(expected) // 2]
    cancel_event(
        CancelEvent(Me(), AnyCalendar(), f"OID.{MASTER}.{victim}", None),
        caller,
        directory=directory,
        calendars=calendars,
        queue=fakes.FakeQueue(),
        now=fakes.fixed_clock(),
    )
    assert accepted() == [day for day in expected if day != victim]


def test_cancel_occurrence_records_it_on_the_master_and_in_the_outbox() -> None:
    weekly = master(
        {
            "pattern": {"type": "weekly", "daysOfWeek": ["monday"]},
            "range": {"type": "noEnd", "startDate": "2027-03-01"},
        },
        tz="Pacific Standard Time",
    )
    calendars, queue = fakes.FakeCalendars(), fakes.FakeQueue()
    calendars.put(fakes.stored(item=weekly))
    oid = f"OID.{MASTER}.2027-03-15"

    done = cancel_event(
        CancelEvent(Me(), AnyCalendar(), oid, "Off this week"),
        fakes.delegated(),
        directory=fakes.FakeDirectory(),
        calendars=calendars,
        queue=queue,
        now=fakes.fixed_clock(),
    )

    assert done.leaves_calendar is False
    assert done.event.cancelled_occurrences == (oid,)
    assert done.event.sequence == weekly.sequence + 1
    note = done.notification
    assert (note.id, note.occurrence_id, note.event_id) == (oid, oid, MASTER)
    assert note.original_start == "2027-03-15T16:00:00Z"
    assert note.start.date_time == "2027-03-15T09:00:00.0000000"
    assert [p.notification_id for p in queue.pointers] == [oid]
    with pytest.raises(ItemNotFound):
        cancel_event(
            CancelEvent(Me(), AnyCalendar(), oid, None),
            fakes.delegated(),
            directory=fakes.FakeDirectory(),
            calendars=calendars,
            queue=queue,
            now=fakes.fixed_clock(),
        )


def test_attendee_cancelling_an_occurrence_of_their_copy_gets_the_organizer_error() -> None:
    copy = master(
        {"pattern": {"type": "daily"}, "range": {"type": "noEnd", "startDate": "2027-01-01"}}
    )
    calendars = fakes.FakeCalendars()
    calendars.put(fakes.stored(item=copy.model_copy(update={"is_organizer": False})))
    with pytest.raises(NotOrganizer):
        cancel_event(
            CancelEvent(Me(), AnyCalendar(), f"OID.{MASTER}.2027-01-02", None),
            fakes.delegated(),
            directory=fakes.FakeDirectory(),
            calendars=calendars,
            queue=fakes.FakeQueue(),
            now=fakes.fixed_clock(),
        )
    assert calendars.committed == []


# Far from the series' start: the same answers, at a cost bounded by the period ------------------


FAR = date(9999, 12, 30)
PERIOD_DAYS = {"daily": 1, "weekly": 7, "absoluteMonthly": 31, "relativeMonthly": 31}


@settings(max_examples=300, deadline=None)
@given(recurrence=recurrences(), offset=st.integers(0, (FAR - date(2026, 1, 1)).days))
def test_a_restart_begins_within_one_period_before_the_day(
    recurrence: dict[str, Any], offset: int
) -> None:
    pattern = PatternedRecurrence.model_validate(recurrence)
    first = pattern.range.start_date
    day = first + timedelta(days=min(offset, (FAR - first).days))

    begins = period_start(pattern, day)

    longest = PERIOD_DAYS.get(pattern.pattern.type, 366) * pattern.pattern.interval
    assert pattern.range.start_date <= begins <= day
    assert (day - begins).days < longest


@settings(max_examples=200, deadline=None)
@given(
    recurrence=recurrences(),
    offset=st.integers(0, (FAR - date(2028, 1, 1)).days),
    open_ended=st.booleans(),
)
def test_far_occurrences_are_the_oracle_s(
    recurrence: dict[str, Any], offset: int, open_ended: bool
) -> None:
    start = date.fromisoformat(recurrence["range"]["startDate"])
    day = start + timedelta(days=min(offset, (FAR - start).days - 40))
    if open_ended:
        recurrence["range"] = {"type": "noEnd", "startDate": start.isoformat()}
    else:
        end = day + timedelta(days=10)
        recurrence["range"] = {
            "type": "endDate",
            "startDate": start.isoformat(),
            "endDate": f"{end}",
        }
    series = Series(master(recurrence))
    assert series.master.recurrence is not None
    pattern = series.master.recurrence

    def expected(d: date) -> bool:
        return oracle_matches(pattern, d) and (open_ended or d <= pattern.range.end_date)

    assert series.occurs_on(day) == expected(day)
    window = [day + timedelta(days=n) for n in range(-40, 40)]
    assert days(series, window[0], window[-1] + timedelta(days=1)) == [
        d for d in window if expected(d)
    ]


def daily(tz: str, *, at: str = "09:00") -> Series:
    return Series(
        master(
            {"pattern": {"type": "daily"}, "range": {"type": "noEnd", "startDate": "2027-01-01"}},
            tz=tz,
            at=at,
        )
    )


@pytest.mark.parametrize("tz", ["UTC", "Pacific Standard Time", "Line Islands Standard Time"])
def test_the_calendar_s_last_day_holds_an_occurrence_in_any_zone(tz: str) -> None:
    series = daily(tz, at="23:00")

    last = series.occurrence(date(9999, 12, 30))

    assert last is not None
    assert last.id == f"OID.{MASTER}.9999-12-30"
    assert series.occurrence(date(9999, 12, 31)) is None
    window = (datetime(9999, 12, 20, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))
    listed = [e.id[-10:] for e in series.instances(*window)]
    assert listed[-1] in ("9999-12-30", "9999-12-29")
    assert listed == sorted(set(listed))


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1600, 12, 31), date(2026, 12, 31)])
def test_days_before_the_series_or_the_calendar_are_no_occurrences(day: date) -> None:
    assert daily("Pacific Standard Time").occurrence(day) is None


def test_an_occurrence_that_would_end_past_the_calendar_does_not_exist() -> None:
    weekly = master(
        {
            "pattern": {"type": "daily"},
            "range": {"type": "noEnd", "startDate": "2027-01-01"},
        }
    )
    long_meeting = weekly.model_copy(
        update={"end": weekly.end.model_copy(update={"date_time": "2027-01-03T09:00:00"})}
    )
    series = Series(long_meeting)

    assert series.occurrence(date(9999, 12, 28)) is not None
    assert series.occurrence(date(9999, 12, 30)) is None


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"range": {"type": "numbered", "numberOfOccurrences": 999}}, False),
        ({"range": {"type": "numbered", "numberOfOccurrences": 1000}}, True),
        ({"pattern": {"type": "absoluteYearly", "month": 2, "dayOfMonth": 29}}, False),
        ({"pattern": {"type": "absoluteYearly", "month": 2, "dayOfMonth": 30}}, True),
        ({"pattern": {"type": "absoluteYearly", "month": 4, "dayOfMonth": 31}}, True),
        ({"range": {"type": "noEnd", "startDate": "1600-12-31"}}, True),
        ({"range": {"type": "noEnd", "startDate": "9999-12-31"}}, True),
    ],
)
def test_patterns_and_ranges_the_calendar_cannot_hold_are_refused(
    changes: dict[str, Any], refused: bool
) -> None:
    recurrence = {
        "pattern": {"type": "daily", **changes.get("pattern", {})},
        "range": {"type": "noEnd", "startDate": "2027-01-01", **changes.get("range", {})},
    }
    if refused:
        with pytest.raises(ValueError, match="validation error"):
            PatternedRecurrence.model_validate(recurrence)
    else:
        PatternedRecurrence.model_validate(recurrence)


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00", "1600-12-31T23:59:59", "9999-12-31T09:00:00"]
)
def test_times_outside_the_calendar_are_refused(moment: str) -> None:
    with pytest.raises(ValueError, match="outside"):
        DateTimeTimeZone(date_time=moment, time_zone="UTC")


def test_a_numbered_series_ends_after_its_count_even_asked_far_away() -> None:
    series = Series(
        master(
            {
                "pattern": {"type": "weekly", "daysOfWeek": ["monday"]},
                "range": {
                    "type": "numbered",
                    "startDate": "2027-01-04",
                    "numberOfOccurrences": 999,
                },
            }
        )
    )
    last = date(2027, 1, 4) + timedelta(weeks=998)

    assert series.occurs_on(last)
    assert not series.occurs_on(last + timedelta(weeks=1))
    window = (
        datetime.combine(last - timedelta(weeks=2), datetime.min.time(), UTC),
        datetime.combine(last + timedelta(weeks=2), datetime.min.time(), UTC),
    )
    assert [e.id[-10:] for e in series.instances(*window)] == [
        (last - timedelta(weeks=n)).isoformat() for n in (2, 1, 0)
    ]


def test_a_series_is_made_once_per_master_object_and_never_shared_between_versions() -> None:
    weekly = {"type": "weekly", "daysOfWeek": ["monday"]}
    first = master({"pattern": weekly, "range": {"type": "noEnd", "startDate": "2027-01-04"}})
    same_text = first.model_copy()
    cancelled = first.model_copy(update={"cancelled_occurrences": (f"OID.{first.id}.2027-01-11",)})
    window = (datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 31, tzinfo=UTC))

    assert series_of(first) is series_of(first)
    assert series_of(same_text) is not series_of(first)
    assert len(series_of(first).instances(*window)) == 4
    assert len(series_of(cancelled).instances(*window)) == 3
    assert series_of(first).instances(*window) == Series(first).instances(*window)
