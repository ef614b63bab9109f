"""Recurring series: Graph's patternedRecurrence expanded with dateutil's rrule.

Occurrences are computed in the series' `recurrenceTimeZone` as wall-clock times, so a
meeting at 09:00 stays at 09:00 across a daylight-saving change, and an occurrence is named
by its local date (`OID.{seriesMasterId}.{YYYY-MM-DD}`). Time zones are IANA names or the
Windows names Graph uses ("Pacific Standard Time"), mapped with CLDR's table as icalendar
ships it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule

from shared.model import DateTimeTimeZone, Event, ModifiedOccurrence, PatternedRecurrence

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


@cache
def zone(name: str) -> ZoneInfo:
    """An IANA zone for an IANA or Windows time-zone name."""
    if name.upper() in ("UTC", "Z", "COORDINATED UNIVERSAL TIME"):
        return ZoneInfo("UTC")
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON  # only when needed

    try:
        return ZoneInfo(WINDOWS_TO_OLSON.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(f"unknown time zone {name!r}") from None


def local_datetime(value: DateTimeTimeZone, target: ZoneInfo) -> datetime:
    """A Graph dateTimeTimeZone as a naive wall-clock time in `target`."""
    moment = datetime.fromisoformat(value.date_time.removesuffix("Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(value.time_zone))
    return moment.astimezone(target).replace(tzinfo=None)


def rule(recurrence: PatternedRecurrence, first: datetime) -> rrule.rrule:
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
    if span.type == "endDate":
        options.update(until=datetime.combine(span.end_date, time.max))
    elif span.type == "numbered":
        options.update(count=span.number_of_occurrences)
    return rrule.rrule(_FREQUENCY[pattern.type], **options)  # type: ignore[arg-type]


class Series:
    """A series master and the occurrences its pattern makes."""

    def __init__(self, master: Event) -> None:
        if master.recurrence is None or master.type != "seriesMaster":
            raise ValueError(f"event {master.id} is not a series master")
        self.master = master
        self.recurrence = master.recurrence
        self.zone = zone(self.recurrence.range.recurrence_time_zone)
        start = local_datetime(master.start, self.zone)
        self.duration = local_datetime(master.end, self.zone) - start
        self.time_of_day = start.time()
        first = datetime.combine(self.recurrence.range.start_date, self.time_of_day)
        self.rule = rule(self.recurrence, first)
        self.modified = {change.original_date: change for change in master.exceptions}

    def occurrence_id(self, day: date) -> str:
        return f"OID.{self.master.id}.{day.isoformat()}"

    def occurs_on(self, day: date) -> bool:
        candidate = datetime.combine(day, self.time_of_day)
        return self.rule.before(candidate, inc=True) == candidate

    def is_cancelled(self, day: date) -> bool:
        return self.occurrence_id(day) in self.master.cancelled_occurrences

    def occurrence(self, day: date) -> Event | None:
        """The occurrence on that local date (an exception if it was modified), or None."""
        if not self.occurs_on(day):
            return None
        local_start = datetime.combine(day, self.time_of_day)
        original = local_start.replace(tzinfo=self.zone).astimezone(UTC)
        name = self.recurrence.range.recurrence_time_zone
        occurrence = self.master.model_copy(
            update={
                "id": self.occurrence_id(day),
                "type": "occurrence",
                "series_master_id": self.master.id,
                "occurrence_id": self.occurrence_id(day),
                "original_start": original.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "recurrence": None,
                "cancelled_occurrences": (),
                "exceptions": (),
                "start": DateTimeTimeZone(
                    date_time=local_start.strftime(GRAPH_DATETIME), time_zone=name
                ),
                "end": DateTimeTimeZone(
                    date_time=(local_start + self.duration).strftime(GRAPH_DATETIME),
                    time_zone=name,
                ),
            }
        )
        change = self.modified.get(day)
        return occurrence if change is None else _modified(occurrence, change)

    def days_between(self, start: datetime, end: datetime) -> Iterator[date]:
        """Local dates of the occurrences that overlap [start, end), both aware datetimes."""
        local_from = (start.astimezone(self.zone) - self.duration).replace(tzinfo=None)
        local_to = end.astimezone(self.zone).replace(tzinfo=None)
        for moment in self.rule.between(local_from, local_to, inc=True):
            began = moment.replace(tzinfo=self.zone)
            if began < end and began + self.duration > start:
                yield moment.date()

    def instances(self, start: datetime, end: datetime) -> list[Event]:
        """The occurrences in a window, without the cancelled ones, exceptions applied."""
        found = []
        for day in self.days_between(start, end):
            occurrence = None if self.is_cancelled(day) else self.occurrence(day)
            if occurrence is not None:
                found.append(occurrence)
        return found


def _modified(occurrence: Event, change: ModifiedOccurrence) -> Event:
    changed = {
        field: getattr(change, field)
        for field in ("subject", "body", "start", "end", "location")
        if getattr(change, field) is not None
    }
    return occurrence.model_copy(update={**changed, "type": "exception"})
