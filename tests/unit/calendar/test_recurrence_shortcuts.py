"""The shortcuts a calendar view takes, each held to the longer way it replaces: daily and weekly
starts by arithmetic against the rrule's, zone conversions against `astimezone`, occurrences
made without model_copy against model_copy's, and each occurrence's UTC start against the one
read back from it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import takewhile
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.calendar.model import DateTimeTimeZone, Event
from shared.calendar.recurrence import (
    Series,
    _replaced,
    local_datetime,
    naive_utc,
    rule,
    utc_start,
    zone,
)
from tests.unit.calendar.test_recurrence import DAYS, master, recurrences
from tests.unit.use_cases import fakes

ZONES = (
    "UTC",
    "Pacific Standard Time",
    "W. Europe Standard Time",
    "Lord Howe Standard Time",  # a half-hour daylight saving shift
    "Line Islands Standard Time",  # UTC+14
    "Asia/Kolkata",
)


@st.composite
def daily_or_weekly(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["daily", "weekly"]))
    pattern: dict[str, Any] = {"type": kind, "interval": draw(st.integers(1, 9))}
    if kind == "weekly":
        chosen = draw(st.sets(st.sampled_from(DAYS), min_size=1, max_size=7))
        pattern["daysOfWeek"] = sorted(chosen, key=DAYS.index)
        pattern["firstDayOfWeek"] = draw(st.sampled_from(DAYS))
    start = draw(st.dates(date(2026, 1, 1), date(2027, 12, 31)))
    span_kind = draw(st.sampled_from(["endDate", "numbered", "noEnd"]))
    span: dict[str, Any] = {"type": span_kind, "startDate": start.isoformat()}
    if span_kind == "endDate":
        span["endDate"] = (start + timedelta(days=draw(st.integers(0, 900)))).isoformat()
    elif span_kind == "numbered":
        span["numberOfOccurrences"] = draw(st.integers(1, 200))
    return {"pattern": pattern, "range": span}


@settings(max_examples=400, deadline=None)
@given(
    recurrence=daily_or_weekly(),
    tz=st.sampled_from(ZONES),
    at=st.sampled_from(["00:00", "01:00", "09:00", "23:00"]),
    offset=st.integers(-20, 1200),
    length=st.integers(0, 60),
    hours=st.integers(0, 23),
)
def test_daily_and_weekly_starts_are_the_rrule_s(
    recurrence: dict[str, Any], tz: str, at: str, offset: int, length: int, hours: int
) -> None:
    series = Series(master(recurrence, tz=tz, at=at))
    assert series.master.recurrence is not None
    local_from = max(
        series.first, series.first + timedelta(days=offset, hours=hours, minutes=offset % 60)
    )
    local_to = local_from + timedelta(days=length, hours=hours)
    every = rule(series.master.recurrence, series.first, series.last)
    expected = [m for m in takewhile(local_to.__ge__, every) if m >= local_from]

    assert list(series._pattern_starts(local_from, local_to)) == expected


def test_a_weekly_series_far_from_its_start_by_arithmetic() -> None:
    weekly = {"type": "weekly", "interval": 3, "daysOfWeek": ["sunday", "wednesday"]}
    series = Series(
        master(
            {"pattern": weekly, "range": {"type": "noEnd", "startDate": "2027-01-06"}},
            tz="Pacific Standard Time",
        )
    )
    local_from = datetime(9999, 11, 1, 9)
    local_to = datetime(9999, 12, 30, 23)

    starts = list(series._pattern_starts(local_from, local_to))

    assert starts[-1] <= series.last
    restarted = series._restarted(local_from.date())
    assert starts == [m for m in takewhile(local_to.__ge__, restarted) if m >= local_from]


def _astimezone(value: DateTimeTimeZone, target: str) -> datetime:
    moment = datetime.fromisoformat(value.date_time.removesuffix("Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(value.time_zone))
    return moment.astimezone(zone(target)).replace(tzinfo=None)


@settings(max_examples=500, deadline=None)
@given(
    moment=st.datetimes(datetime(1601, 1, 2), datetime(9999, 12, 29)),
    own=st.sampled_from(ZONES),
    target=st.sampled_from(ZONES),
    suffix=st.sampled_from(["", "Z", "+05:30", "-08:00"]),
)
def test_local_datetime_is_astimezone_s(
    moment: datetime, own: str, target: str, suffix: str
) -> None:
    value = DateTimeTimeZone(date_time=f"{moment.isoformat()}{suffix}", time_zone=own)

    converted = local_datetime(value, zone(target))

    expected = _astimezone(value, target)
    assert (converted, converted.fold, converted.tzinfo) == (expected, expected.fold, None)


def test_local_datetime_in_daylight_saving_gaps_and_folds() -> None:
    for wall in ("2027-03-14T02:30:00", "2027-11-07T01:30:00", "2027-03-28T02:30:00"):
        for own in ZONES:
            value = DateTimeTimeZone(date_time=wall, time_zone=own)
            for target in ZONES:
                converted = local_datetime(value, zone(target))
                expected = _astimezone(value, target)
                assert (converted, converted.fold) == (expected, expected.fold)
            assert utc_start(value) == _astimezone(value, "UTC").replace(tzinfo=UTC)


def test_a_copy_made_directly_is_model_copy_s() -> None:
    event = master(
        {"pattern": {"type": "daily"}, "range": {"type": "noEnd", "startDate": "2027-01-04"}}
    )
    changes = {"id": "other", "type": "occurrence", "recurrence": None}

    made, copied = _replaced(event, changes), event.model_copy(update=changes)

    assert made == copied
    assert made.__dict__ == copied.__dict__
    assert list(made.__dict__) == list(copied.__dict__)
    assert made.model_fields_set == copied.model_fields_set
    assert made.model_fields_set is not event.model_fields_set
    assert (made.__pydantic_extra__, made.__pydantic_private__) == (None, None)
    assert made.model_dump() == copied.model_dump()
    assert event.id != "other"  # the master is left as it was


@given(
    tz=st.sampled_from(ZONES),
    at=st.sampled_from(["00:00", "01:00", "02:00", "09:00", "23:00"]),
    weeks=st.integers(0, 150),
)
@example(tz="Pacific Standard Time", at="02:00", weeks=10)  # 2027-03-14, in the gap
@example(tz="Pacific Standard Time", at="01:00", weeks=44)  # 2027-11-07, in the fold
def test_each_occurrence_s_utc_start_is_its_start_read_back(tz: str, at: str, weeks: int) -> None:
    weekly = {"type": "weekly", "daysOfWeek": ["sunday", "monday", "saturday"]}
    series = Series(
        master(
            {"pattern": weekly, "range": {"type": "noEnd", "startDate": "2027-01-03"}}, tz=tz, at=at
        )
    )
    begins = datetime.combine(date(2027, 1, 3) + timedelta(weeks=weeks), time(), UTC)

    dated = series.dated_instances(begins, begins + timedelta(days=9))

    assert dated
    assert [starts for starts, _ in dated] == [naive_utc(e.start) for _, e in dated]
    assert [e for _, e in dated] == series.instances(begins, begins + timedelta(days=9))
    for _, occurrence in dated:
        day = date.fromisoformat(occurrence.id[-10:])
        assert occurrence == _as_model_copy_made_it(series.master, series, day)


def _as_model_copy_made_it(master: Event, series: Series, day: date) -> Event:
    """The occurrence as the series made it before it made them directly."""
    local_start = datetime.combine(day, series.time_of_day)
    local_end = local_start + series.duration
    original = local_start.replace(tzinfo=series.zone).astimezone(UTC)
    name = master.recurrence.range.recurrence_time_zone if master.recurrence else ""
    oid = f"OID.{master.id}.{day.isoformat()}"
    return master.model_copy(
        update={
            "id": oid,
            "type": "occurrence",
            "series_master_id": master.id,
            "occurrence_id": oid,
            "original_start": f"{original.replace(tzinfo=None).isoformat()}Z",
            "recurrence": None,
            "cancelled_occurrences": (),
            "exceptions": (),
            "start": DateTimeTimeZone(
                date_time=local_start.strftime("%Y-%m-%dT%H:%M:%S.0000000"), time_zone=name
            ),
            "end": DateTimeTimeZone(
                date_time=local_end.strftime("%Y-%m-%dT%H:%M:%S.0000000"), time_zone=name
            ),
        }
    )


# The whole expansion against the way it was first written --------------------------------------


def former_local(value: DateTimeTimeZone, target: str) -> datetime:
    return _astimezone(value, target)


def former_occurrence(series: Series, day: date) -> Event | None:
    master = series.master
    assert master.recurrence is not None
    local_start = datetime.combine(day, series.time_of_day)
    try:
        local_end = local_start + series.duration
    except OverflowError:
        return None
    original = local_start.replace(tzinfo=series.zone).astimezone(UTC)
    name, oid = master.recurrence.range.recurrence_time_zone, f"OID.{master.id}.{day}"

    def in_calendar(moment: datetime) -> DateTimeTimeZone:
        text = f"{moment.replace(microsecond=0).isoformat()}.0000000"
        return DateTimeTimeZone.model_construct(date_time=text, time_zone=name)

    occurrence = master.model_copy(
        update={
            "id": oid,
            "type": "occurrence",
            "series_master_id": master.id,
            "occurrence_id": oid,
            "original_start": f"{original.replace(tzinfo=None).isoformat()}Z",
            "recurrence": None,
            "cancelled_occurrences": (),
            "exceptions": (),
            "start": in_calendar(local_start),
            "end": in_calendar(local_end),
        }
    )
    change = series.modified.get(day)
    if change is None:
        return occurrence
    changed = {
        field: getattr(change, field)
        for field in ("subject", "body", "start", "end", "location")
        if getattr(change, field) is not None
    }
    return occurrence.model_copy(update={**changed, "type": "exception"})


def former_instances(series: Series, start: datetime, end: datetime) -> list[Event]:
    found = []
    for day in former_days(series, start, end):
        if f"OID.{series.master.id}.{day}" in series.cancelled:
            continue
        occurrence = former_occurrence(series, day)
        if occurrence is not None:
            found.append(occurrence)
    return found


def former_days(series: Series, start: datetime, end: datetime) -> list[date]:
    local_to = end.astimezone(series.zone).replace(tzinfo=None)
    try:
        local_from = start.astimezone(series.zone).replace(tzinfo=None) - series.duration
    except OverflowError:
        local_from = datetime.min
    local_from = max(local_from, series.first)
    found: list[date] = []
    if local_from > local_to:
        return found
    for moment in series._restarted(local_from.date()):
        if moment > local_to:
            break
        if moment < local_from:
            continue
        began = moment.replace(tzinfo=series.zone)
        try:
            ends = began + series.duration
        except OverflowError:
            continue
        if began < end and ends > start:
            found.append(moment.date())
    return found


@settings(max_examples=300, deadline=None)
@given(
    recurrence=recurrences(),
    own=st.sampled_from(ZONES),
    series_zone=st.sampled_from(ZONES),
    at=st.sampled_from(["00:00:00", "01:30:00", "02:30:00", "09:30:15.250000", "23:59:59"]),
    minutes=st.sampled_from([0, 30, 90, 1500]),
    offset=st.integers(-3, 500),
    length=st.integers(1, 60),
    cancelled=st.sets(st.integers(0, 60), max_size=3),
    moved=st.integers(0, 60),
)
@example(  # the series' time of day is 01:30 PST, the second 01:30 of 2026-11-01
    recurrence={
        "pattern": {"type": "daily"},
        "range": {"type": "noEnd", "startDate": "2026-11-01"},
    },
    own="UTC",
    series_zone="Pacific Standard Time",
    at="09:30:00",
    minutes=30,
    offset=-1,
    length=10,
    cancelled={4},
    moved=6,
)
@example(  # the same weekly, asked about 2027-11-07, when 01:30 comes twice again
    recurrence={
        "pattern": {"type": "weekly", "daysOfWeek": ["sunday"], "interval": 1},
        "range": {"type": "noEnd", "startDate": "2026-11-01"},
    },
    own="UTC",
    series_zone="Pacific Standard Time",
    at="09:30:00",
    minutes=90,
    offset=370,
    length=3,
    cancelled=set(),
    moved=0,
)
@example(  # monthly (an rrule), with a fraction of a second
    recurrence={
        "pattern": {"type": "absoluteMonthly", "dayOfMonth": 7, "interval": 1},
        "range": {"type": "noEnd", "startDate": "2026-11-07"},
    },
    own="UTC",
    series_zone="Pacific Standard Time",
    at="09:30:15.250000",
    minutes=30,
    offset=364,
    length=3,
    cancelled=set(),
    moved=0,
)
def test_occurrences_are_the_former_expansion_s(
    recurrence: dict[str, Any],
    own: str,
    series_zone: str,
    at: str,
    minutes: int,
    offset: int,
    length: int,
    cancelled: set[int],
    moved: int,
) -> None:
    first = date.fromisoformat(recurrence["range"]["startDate"])
    starts = datetime.fromisoformat(f"{first}T{at}")
    recurrence["range"]["recurrenceTimeZone"] = series_zone
    window_start = datetime.combine(first + timedelta(days=offset), time(), UTC)
    days = [window_start.date() + timedelta(days=n) for n in range(-1, length + 1)]
    event = Event.model_validate(
        {
            **fakes.event("AAMkFormer").model_dump(by_alias=True),
            "type": "seriesMaster",
            "recurrence": recurrence,
            "start": {"dateTime": starts.isoformat(), "timeZone": own},
            "end": {
                "dateTime": (starts + timedelta(minutes=minutes)).isoformat(),
                "timeZone": own,
            },
            "cancelledOccurrences": [f"OID.AAMkFormer.{days[n % len(days)]}" for n in cancelled],
            "exceptions": [
                {
                    "originalDate": f"{days[moved % len(days)]}",
                    "subject": "Moved",
                    "start": {"dateTime": f"{days[moved % len(days)]}T07:00:00", "timeZone": own},
                    "end": {"dateTime": f"{days[moved % len(days)]}T08:00:00", "timeZone": own},
                }
            ],
        }
    )
    series = Series(event)
    window = (window_start, window_start + timedelta(days=length))

    dated = series.dated_instances(*window)

    expected = former_instances(series, *window)
    assert [e for _, e in dated] == expected
    assert [e.model_dump() for _, e in dated] == [e.model_dump() for e in expected]
    assert [starts for starts, _ in dated] == [former_local(e.start, "UTC") for e in expected]
    assert series.instances(*window) == expected
    assert list(series.days_between(*window)) == former_days(series, *window)
