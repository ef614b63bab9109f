"""Recurring series: Graph's patternedRecurrence expanded with dateutil's rrule.

Occurrences are computed in the series' `recurrenceTimeZone` as wall-clock times, so a
meeting at 09:00 stays at 09:00 across a daylight-saving change, and an occurrence is named
by its local date (`OID.{seriesMasterId}.{YYYY-MM-DD}`). Time zones are IANA names or the
Windows names Graph uses ("Pacific Standard Time"), mapped with CLDR's table as icalendar
ships it.

An rrule counts its periods (days, weeks, months, years) from its DTSTART, so iterating
from the series' first day costs as much as the days since the series began. Every question
here is asked of a rule restarted at the period boundary nearest before the dates in
question instead (`_restarted`): the same occurrences, at a cost that grows with the
occurrences asked about, never with the distance from the series' start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache, cached_property, lru_cache
from threading import Lock, RLock
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule
from pydantic import BaseModel

from shared.calendar.model import (
    FIRST_DAY,
    LAST_DAY,
    DateTimeTimeZone,
    Event,
    ModifiedOccurrence,
    PatternedRecurrence,
)

_WEEKDAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_FREQUENCY = {
    "daily": rrule.DAILY,
    "weekly": rrule.WEEKLY,
    "absoluteMonthly": rrule.MONTHLY,
    "relativeMonthly": rrule.MONTHLY,
    "absoluteYearly": rrule.YEARLY,
    "relativeYearly": rrule.YEARLY,
}
GRAPH_DATETIME = "%Y-%m-%dT%H:%M:%S.0000000"


class UnknownTimeZone(ValueError):
    pass


ICALENDAR_IMPORT = RLock()
"""Held by whoever first imports icalendar. Its modules import one another in a circle, so two
threads importing it at once (an HTTP request's Windows zone name, the mail worker's first
message, in one worker process) can each find the other's half-made module: ImportError."""


@cache
def zone(name: str) -> ZoneInfo:
    """An IANA zone for an IANA or Windows time-zone name."""
    if name.upper() in ("UTC", "Z", "COORDINATED UNIVERSAL TIME"):
        return ZoneInfo("UTC")
    with ICALENDAR_IMPORT:  # only when needed, and never beside another thread's import
        from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    try:
        return ZoneInfo(WINDOWS_TO_OLSON.get(name, name))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name that is a folder of the zone database ("America"), or too long a path
        raise UnknownTimeZone(f"unknown time zone {name!r}") from None


_UTC_ZONE = zone("UTC")


def local_datetime(value: DateTimeTimeZone, target: ZoneInfo) -> datetime:
    """A Graph dateTimeTimeZone as a naive wall-clock time in `target`.

    What `moment.replace(tzinfo=its zone).astimezone(target).replace(tzinfo=None)` gives,
    written with the steps astimezone takes (the offset subtracted, then `target.fromutc`)
    and without `replace`, whose keyword arguments cost more than all the rest: lists do
    this twice per event."""
    moment = datetime.fromisoformat(value.date_time.removesuffix("Z"))
    if moment.tzinfo is None:
        own = zone(value.time_zone)
        if own is target:
            return moment  # what astimezone to the very same zone gives: the time unchanged
        offset = own.utcoffset(moment)
    else:
        offset = moment.utcoffset()
        moment = _naive(moment)
    utc = moment if offset is None else moment - offset
    if target is _UTC_ZONE:
        return utc
    return _naive(target.fromutc(_aware(utc, target)))


def utc_start(value: DateTimeTimeZone) -> datetime:
    """A Graph dateTimeTimeZone as an aware datetime in UTC (how every list is ordered)."""
    return _aware(local_datetime(value, _UTC_ZONE), UTC)


def naive_utc(value: DateTimeTimeZone) -> datetime:
    """`utc_start` without its tzinfo: a naive time in UTC."""
    return local_datetime(value, _UTC_ZONE)


def naive_utc_of(moment: datetime) -> datetime:
    """An aware datetime as a naive one in UTC."""
    return _naive(moment.astimezone(UTC))


def _aware(moment: datetime, in_zone: tzinfo) -> datetime:
    """`moment.replace(tzinfo=in_zone)` of a naive moment, made faster."""
    return datetime.combine(moment, moment.time(), in_zone)


def _naive(moment: datetime) -> datetime:
    """`moment.replace(tzinfo=None)`, made faster."""
    return datetime.combine(moment, moment.time())


def rule(
    recurrence: PatternedRecurrence, first: datetime, until: datetime | None = None
) -> rrule.rrule:
    """The rrule of a pattern from `first`, ending at `until` or where the range ends."""
    pattern, span = recurrence.pattern, recurrence.range
    days = [_WEEKDAYS[day] for day in pattern.days_of_week]
    options: dict[str, object] = {"interval": pattern.interval, "dtstart": first}
    if pattern.type == "weekly":
        options.update(byweekday=days, wkst=_WEEKDAYS[pattern.first_day_of_week])
    elif pattern.type in ("relativeMonthly", "relativeYearly"):
        options.update(byweekday=days, bysetpos=_INDEX[pattern.index])
    elif pattern.type in ("absoluteMonthly", "absoluteYearly"):
        options.update(bymonthday=pattern.day_of_month)
    if pattern.type in ("absoluteYearly", "relativeYearly"):
        options.update(bymonth=pattern.month)
    if until is not None:
        options.update(until=until)
    elif span.type == "endDate":
        options.update(until=datetime.combine(span.end_date, time.max))
    elif span.type == "numbered":
        options.update(count=span.number_of_occurrences)
    return rrule.rrule(_FREQUENCY[pattern.type], **options)  # type: ignore[arg-type]


@lru_cache(maxsize=4096)
def last_counted(recurrence: PatternedRecurrence, first: datetime) -> datetime | None:
    """The last occurrence of a numbered range: the one walk from the start a count needs (at
    most MAX_OCCURRENCES steps), made once per pattern and kept (patterns are immutable)."""
    final = None
    for final in rule(recurrence, first):  # noqa: B007
        pass
    return final


def period_start(recurrence: PatternedRecurrence, day: date) -> date:
    """The first day of the latest period of the pattern that begins on or before `day`.

    Periods are counted as rrule counts them from the series' first day: days, weeks
    beginning on `firstDayOfWeek`, months or years, every `interval`-th one. The first
    period begins on the series' first day itself.
    """
    pattern, first = recurrence.pattern, recurrence.range.start_date
    if day <= first:
        return first
    n = pattern.interval
    if pattern.type == "daily":
        start = first + timedelta(days=(day - first).days // n * n)
    elif pattern.type == "weekly":
        wkst = list(_WEEKDAYS).index(pattern.first_day_of_week)
        week_of_first = first - timedelta(days=(first.weekday() - wkst) % 7)
        week_of_day = day - timedelta(days=(day.weekday() - wkst) % 7)
        start = week_of_first + timedelta(weeks=(week_of_day - week_of_first).days // 7 // n * n)
    elif pattern.type in ("absoluteMonthly", "relativeMonthly"):
        months = (day.year - first.year) * 12 + day.month - first.month
        index = first.year * 12 + first.month - 1 + months // n * n
        start = date(index // 12, index % 12 + 1, 1)
    else:
        start = date(first.year + (day.year - first.year) // n * n, 1, 1)
    return max(start, first)


def _graph_time(moment: datetime) -> str:
    """Graph's wall-clock form, `2027-01-04T09:00:00.0000000` (GRAPH_DATETIME, made faster)."""
    return f"{moment.isoformat()[:19]}.0000000"  # the naive moment's, less any fraction


def _in_calendar(moment: datetime, zone_name: str) -> DateTimeTimeZone:
    """A wall-clock time as Graph's dateTimeTimeZone; what the model's validator checks (the
    date within the calendar) is checked here, without parsing back the text just written,
    and the rest of what `model_construct` does is done directly."""
    text = _graph_time(moment)
    if not FIRST_DAY <= moment.date() <= LAST_DAY:
        return DateTimeTimeZone(date_time=text, time_zone=zone_name)  # refused
    made = _new_model(DateTimeTimeZone)
    _set(made, "__dict__", {"date_time": text, "time_zone": zone_name})
    _set(made, "__pydantic_fields_set__", {"date_time", "time_zone"})
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    return made


_new_model = object.__new__
_set = object.__setattr__


_Model = TypeVar("_Model", bound=BaseModel)


def _replaced(model: _Model, changes: Mapping[str, Any]) -> _Model:
    """What `model.model_copy(update=changes)` makes (the same fields, fields set, extra and
    private state), made directly: the values are already valid, and model_copy's generic
    steps were most of what an occurrence cost."""
    cls = type(model)
    copied = cls.__new__(cls)
    fields = model.__dict__.copy()
    fields.update(changes)
    extra, private = model.__pydantic_extra__, model.__pydantic_private__
    object.__setattr__(copied, "__dict__", fields)
    object.__setattr__(copied, "__pydantic_extra__", None if extra is None else dict(extra))
    object.__setattr__(
        copied, "__pydantic_fields_set__", model.__pydantic_fields_set__ | changes.keys()
    )
    object.__setattr__(copied, "__pydantic_private__", None if private is None else dict(private))
    return copied


def _plus(moment: datetime, delta: timedelta) -> datetime | None:
    """`moment + delta`, or None where the calendar ends."""
    try:
        return moment + delta
    except OverflowError:
        return None


class Series:
    """A series master and the occurrences its pattern makes.

    Occurrences exist on local dates from FIRST_DAY to LAST_DAY (the range the store, Graph
    and the zone arithmetic all hold); a date outside it is no occurrence.
    """

    def __init__(self, master: Event) -> None:
        if master.recurrence is None or master.type != "seriesMaster":
            raise ValueError(f"event {master.id} is not a series master")
        self.master = master
        self.recurrence = master.recurrence
        self.zone = zone(self.recurrence.range.recurrence_time_zone)
        start = local_datetime(master.start, self.zone)
        self.duration = local_datetime(master.end, self.zone) - start
        self.time_of_day = start.time()
        self.first = datetime.combine(self.recurrence.range.start_date, self.time_of_day)
        self.modified = {change.original_date: change for change in master.exceptions}
        self.cancelled = frozenset(master.cancelled_occurrences)
        self._rules: dict[date, rrule.rrule] = {}

    @cached_property
    def last(self) -> datetime:
        """The local start of the last occurrence there can be (or LAST_DAY's, with no end)."""
        span = self.recurrence.range
        latest = datetime.combine(LAST_DAY, self.time_of_day)
        if span.type == "endDate":
            return min(datetime.combine(span.end_date, self.time_of_day), latest)
        if span.type == "numbered":
            final = last_counted(self.recurrence, self.first)
            return latest if final is None else min(final, latest)
        return latest

    def _restarted(self, day: date) -> rrule.rrule:
        """The series' rule from the period holding `day` to the series' end; callers stop
        iterating where their question ends. Built once per period and kept with the series
        (an rrule is immutable, and each iteration of it starts afresh), since a calendar view
        of this week asks the same periods of the same series again and again."""
        begins = period_start(self.recurrence, day)
        found = self._rules.get(begins)
        if found is None:
            if len(self._rules) >= _RULES_PER_SERIES:
                self._rules.clear()
            start = datetime.combine(begins, self.time_of_day)
            found = self._rules[begins] = rule(self.recurrence, start, self.last)
        return found

    def occurrence_id(self, day: date) -> str:
        return f"OID.{self.master.id}.{day.isoformat()}"

    def occurs_on(self, day: date) -> bool:
        if not FIRST_DAY <= day <= LAST_DAY:
            return False
        candidate = datetime.combine(day, self.time_of_day)
        if not self.first <= candidate <= self.last:
            return False
        for moment in self._restarted(day):
            if moment >= candidate:
                return moment == candidate
        return False

    def is_cancelled(self, day: date) -> bool:
        return self.occurrence_id(day) in self.cancelled

    def occurrence(self, day: date) -> Event | None:
        """The occurrence on that local date (an exception if it was modified), or None."""
        return self._occurrence(day) if self.occurs_on(day) else None

    def _occurrence(self, day: date) -> Event | None:
        """The occurrence on a date the pattern makes; None if it would end past the calendar."""
        made = self._made(datetime.combine(day, self.time_of_day), self.occurrence_id(day))
        return None if made is None else made[1]

    def _made(
        self, local_start: datetime, oid: str, original: datetime | None = None
    ) -> tuple[datetime, Event] | None:
        """The occurrence starting at `local_start` (an exception if it was modified), and
        when it starts in UTC (`naive_utc` of its start); None if it would end past the
        calendar. `original`: `local_start` in UTC (naive), if the caller knows it. Made as
        model_copy would make it from the master, but directly."""
        local_end = _plus(local_start, self.duration)
        if local_end is None:
            return None
        if original is None:
            original = naive_utc_of(_aware(local_start, self.zone))
        master, zone_name = self.master, self.recurrence.range.recurrence_time_zone
        occurrence = _replaced(
            master,
            {
                "id": oid,
                "type": "occurrence",
                "series_master_id": master.id,
                "occurrence_id": oid,
                "original_start": f"{original.isoformat()}Z",
                "recurrence": None,
                "cancelled_occurrences": (),
                "exceptions": (),
                "start": _in_calendar(local_start, zone_name),
                "end": _in_calendar(local_end, zone_name),
            },
        )
        change = self.modified.get(local_start.date()) if self.modified else None
        if change is not None:
            occurrence = _modified(occurrence, change)
            return naive_utc(occurrence.start), occurrence
        if local_start.microsecond or local_start.fold:
            # its start's text holds whole seconds, and reads back as the first of two times
            return naive_utc(occurrence.start), occurrence
        return original, occurrence

    def days_between(self, start: datetime, end: datetime) -> Iterator[date]:
        """Local dates of the occurrences that overlap [start, end), both aware datetimes
        within the calendar's range (see `shared.calendar.model.FIRST_INSTANT`)."""
        for moment, _ in self._starts_between(start, end):
            yield moment.date()

    def _starts_between(
        self, start: datetime, end: datetime
    ) -> Iterator[tuple[datetime, timedelta]]:
        """Local starts of the occurrences that overlap [start, end) (as `days_between`), each
        with its UTC offset.

        Whether one overlaps is what comparing it, in the series' zone, with the window's ends
        answers (aware datetimes of two zones compare as UTC), written as that comparison does
        it: differences of naive times against UTC offsets, which never overflow."""
        in_zone, duration = self.zone, self.duration
        local_to = _naive(end.astimezone(in_zone))
        window_start = _naive(start.astimezone(in_zone))
        local_from = _plus(window_start, -duration) or datetime.min
        if local_from < self.first:
            local_from = self.first
        if local_from > local_to:
            return
        utc_from, utc_to = naive_utc_of(start), naive_utc_of(end)
        for moment in self._pattern_starts(local_from, local_to):
            offset = in_zone.utcoffset(moment)
            if offset is None or moment - utc_to >= offset:  # it starts at or after the end
                continue
            ends = _plus(moment, duration)
            if ends is None:
                continue
            ends_offset = in_zone.utcoffset(ends)
            if ends_offset is not None and ends - utc_from > ends_offset:  # ends after the start
                yield moment, offset

    def _pattern_starts(self, local_from: datetime, local_to: datetime) -> Iterator[datetime]:
        """The local starts the pattern makes from `local_from` (not before the series' first)
        to `local_to` and not after `last`, in order."""
        if self.recurrence.pattern.type in ("daily", "weekly"):
            yield from self._counted_starts(local_from, min(local_to, self.last))
            return
        for moment in self._restarted(local_from.date()):
            if moment > local_to:
                break
            if moment >= local_from:
                yield moment

    def _counted_starts(self, local_from: datetime, local_to: datetime) -> Iterator[datetime]:
        """`_pattern_starts` of a daily or weekly pattern, by arithmetic on day numbers rather
        than an rrule (whose every iteration costs some tens of microseconds to set up): rrule's
        own counting, every `interval`-th day from the series' first day, or the days of every
        `interval`-th week, weeks beginning on `firstDayOfWeek`, counted from the week holding
        the first day (`test_recurrence.py` holds them to the rrule's answers)."""
        pattern = self.recurrence.pattern
        first = self.recurrence.range.start_date
        if pattern.type == "daily":
            base, period = first.toordinal(), pattern.interval
            offsets: tuple[int, ...] = (0,)
        else:
            wkst = _WEEKDAY_NUMBERS[pattern.first_day_of_week]
            base = first.toordinal() - (first.weekday() - wkst) % 7
            offsets = tuple(
                sorted({(_WEEKDAY_NUMBERS[day] - wkst) % 7 for day in pattern.days_of_week})
            )
            period = 7 * pattern.interval
        low, high = local_from.toordinal(), local_to.toordinal()
        begins = base + (low - base) // period * period
        time_of_day = self.time_of_day
        if time_of_day.microsecond or time_of_day.fold:  # as rrule makes its times
            time_of_day = time(time_of_day.hour, time_of_day.minute, time_of_day.second)
        while begins <= high:
            for offset in offsets:
                number = begins + offset
                if number > high:
                    return
                if number >= low:
                    moment = datetime.combine(date.fromordinal(number), time_of_day)
                    if local_from <= moment <= local_to:
                        yield moment
            begins += period

    def instances(self, start: datetime, end: datetime) -> list[Event]:
        """The occurrences in a window, without the cancelled ones, exceptions applied."""
        return [occurrence for _, occurrence in self.dated_instances(start, end)]

    def dated_instances(self, start: datetime, end: datetime) -> list[tuple[datetime, Event]]:
        """`instances`, each with when it starts in UTC, naive (`naive_utc` of its start)."""
        found = []
        prefix, cancelled = f"OID.{self.master.id}.", self.cancelled
        time_of_day = self.time_of_day
        for moment, offset in self._starts_between(start, end):
            day = moment.date()
            oid = f"{prefix}{day.isoformat()}"
            if oid in cancelled:
                continue
            if time_of_day.microsecond or time_of_day.fold:
                # the pattern's times are whole seconds, first of two; an occurrence is made
                # from the series' own time of day, as `occurrence` makes it
                made = self._made(datetime.combine(day, time_of_day), oid)
            else:
                made = self._made(moment, oid, moment - offset)
            if made is not None:
                found.append(made)
        return found


_WEEKDAY_NUMBERS = {name: number for number, name in enumerate(_WEEKDAYS)}
"""Graph's day names as `date.weekday()` numbers (Monday 0)."""
_RULES_PER_SERIES = 64
_SERIES_KEPT = 4096
_series: dict[int, tuple[Event, Series]] = {}
_series_lock = Lock()


def series_of(master: Event) -> Series:
    """The `Series` of a master, made once for as long as the same master object is in use.

    Storage hands out one parsed `Event` per stored version of a row, so a calendar view that
    meets the same series again finds its rules already built. Kept by identity (the object
    itself is held, so its id cannot be reused) and at most `_SERIES_KEPT` of them. A series'
    only state is a memo of rules (single dict reads and writes), so threads may share it.
    """
    kept = _series.get(id(master))
    if kept is not None and kept[0] is master:
        return kept[1]
    series = Series(master)
    with _series_lock:
        if len(_series) >= _SERIES_KEPT:
            del _series[next(iter(_series))]
        _series[id(master)] = (master, series)
    return series


def span(event: Event) -> tuple[datetime, datetime]:
    """When an event can be seen, in UTC: a single event's start and end; a series' range,
    from its first day to the end of its last occurrence (the calendar's end without one).
    Lists ask storage for the events whose span overlaps their window."""
    utc = zone("UTC")
    start = local_datetime(event.start, utc).replace(tzinfo=UTC)
    if event.type != "seriesMaster" or event.recurrence is None:
        return start, local_datetime(event.end, utc).replace(tzinfo=UTC)
    series = Series(event)
    first = min(start, _utc(series.first, series.zone))
    if event.recurrence.range.type == "noEnd":
        return first, _END_OF_CALENDAR
    ends = _plus(series.last, series.duration)
    return first, _END_OF_CALENDAR if ends is None else min(
        _utc(ends, series.zone), _END_OF_CALENDAR
    )


_END_OF_CALENDAR = datetime.combine(LAST_DAY, time(), UTC) + timedelta(days=1)


def _utc(local: datetime, in_zone: ZoneInfo) -> datetime:
    try:
        return local.replace(tzinfo=in_zone).astimezone(UTC)
    except OverflowError:
        return _END_OF_CALENDAR


def _modified(occurrence: Event, change: ModifiedOccurrence) -> Event:
    changed = {
        field: getattr(change, field)
        for field in ("subject", "body", "start", "end", "location")
        if getattr(change, field) is not None
    }
    return _replaced(occurrence, {**changed, "type": "exception"})
