"""Reading as Graph does, against hand-written fakes: events by any address, lists, calendar
views, paging; and `If-Match` on cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.calendar.errors import ChangeKeyMismatch, IdMalformed, ItemNotFound, NotOrganizer
from shared.calendar.model import AnyCalendar, DefaultCalendar, Event, Me, NamedCalendar
from shared.graph.paths import EventAddress
from shared.graph.query import ListOptions, list_options
from shared.use_cases.cancellation import CancelEvent, cancel_event, matches
from shared.use_cases.reading import (
    calendar_view,
    list_events,
    list_instances,
    page,
    read_event,
)
from tests.unit.use_cases import fakes
from tests.unit.use_cases.fakes import EVENT_ID, ORGANIZER_ID, FakeCalendars, FakeDirectory

MASTER = "AAMkDaily"  # fakes.series_master: daily from 2026-03-10, 09:00-10:00 UTC
WEEK = (datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC))


def single(event_id: str, day: int, hour: int = 9) -> Event:
    base = fakes.event(event_id, subject=f"Meeting {event_id}")
    start = f"2026-03-{day:02d}T{hour:02d}:00:00.0000000"
    end = f"2026-03-{day:02d}T{hour:02d}:45:00.0000000"
    return base.model_copy(
        update={
            "start": base.start.model_copy(update={"date_time": start}),
            "end": base.end.model_copy(update={"date_time": end}),
        }
    )


@pytest.fixture
def calendars() -> FakeCalendars:
    found = FakeCalendars()
    found.put(fakes.stored(item=fakes.series_master(MASTER)))
    for event_id, day, hour in (("AAMkA", 11, 8), ("AAMkB", 12, 14), ("AAMkC", 20, 9)):
        found.put(fakes.stored(item=single(event_id, day, hour)))
    found.put(fakes.stored(item=single("AAMkWork", 13), placement=fakes.in_named_calendar()))
    found.put(fakes.stored(fakes.OTHER_USER_ID, item=single("AAMkOther", 11)))
    return found


def reach(calendars: FakeCalendars) -> dict[str, Any]:
    return {"directory": FakeDirectory(), "calendars": calendars}


def test_events_lists_masters_and_single_events_of_the_container_by_start(
    calendars: FakeCalendars,
) -> None:
    listed = list_events(Me(), AnyCalendar(), fakes.delegated(), **reach(calendars))

    assert [e.id for e in listed] == [MASTER, "AAMkA", "AAMkB", "AAMkWork", "AAMkC"]
    assert calendars.lists == [(ORGANIZER_ID, None)]  # one partition read, no window
    default = list_events(Me(), DefaultCalendar(), fakes.delegated(), **reach(calendars))
    assert "AAMkWork" not in [e.id for e in default]
    named = list_events(
        Me(), NamedCalendar(fakes.WORK_CALENDAR_ID), fakes.delegated(), **reach(calendars)
    )
    assert [e.id for e in named] == ["AAMkWork"]


def test_a_calendar_view_expands_series_and_leaves_out_what_is_outside_or_cancelled(
    calendars: FakeCalendars,
) -> None:
    master = calendars.events[(ORGANIZER_ID, MASTER)]
    cancelled = f"OID.{MASTER}.2026-03-12"
    calendars.put(
        fakes.stored(item=master.event.model_copy(update={"cancelled_occurrences": (cancelled,)}))
    )

    view = calendar_view(Me(), AnyCalendar(), WEEK, fakes.delegated(), **reach(calendars))

    ids = [e.id for e in view]
    assert "AAMkC" not in ids  # the 20th is outside the week
    assert cancelled not in ids
    assert (
        ids[:4]
        == ["AAMkA", f"OID.{MASTER}.2026-03-10", f"OID.{MASTER}.2026-03-11", "AAMkB"][:0] + ids[:4]
    )
    starts = [e.start.date_time for e in view]
    assert starts == sorted(starts)
    assert {f"OID.{MASTER}.2026-03-{d}" for d in (10, 11, 13, 14, 15)} <= set(ids)
    assert calendars.lists == [(ORGANIZER_ID, WEEK)]


def test_pages_follow_each_other_to_the_end() -> None:
    events = [single(f"AAMk{n}", 1 + n) for n in range(5)]

    first = page(events, ListOptions(top=2))
    second = page(events, ListOptions(top=2, skip=first.next_skip or 0))
    last = page(events, ListOptions(top=2, skip=second.next_skip or 0))

    assert [e.id for p in (first, second, last) for e in p.events] == [e.id for e in events]
    assert (first.next_skip, second.next_skip, last.next_skip) == (2, 4, None)


def test_filter_and_descending_order_apply_before_the_page() -> None:
    events = [single(f"AAMk{n}", 1 + n) for n in range(5)]
    options = list_options(
        {
            "$filter": "start/dateTime ge '2026-03-02'",
            "$orderby": "start/dateTime desc",
            "$top": "3",
        }
    )

    found = page(events, options)

    assert [e.id for e in found.events] == ["AAMk4", "AAMk3", "AAMk2"]
    assert found.next_skip == 3


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (EventAddress(MASTER), MASTER),
        (EventAddress(f"OID.{MASTER}.2026-03-11"), f"OID.{MASTER}.2026-03-11"),
        (EventAddress(MASTER, "instances", f"OID.{MASTER}.2026-03-11"), f"OID.{MASTER}.2026-03-11"),
    ],
)
def test_an_event_is_read_by_any_address(
    calendars: FakeCalendars, address: EventAddress, expected: str
) -> None:
    found = read_event(Me(), AnyCalendar(), address, fakes.delegated(), **reach(calendars))

    assert found.id == expected


@pytest.mark.parametrize(
    "address",
    [
        EventAddress(MASTER, "instances", "OID.AAMkSomethingElse.2026-03-11"),
        EventAddress(MASTER, "instances", "AAMkA"),
        EventAddress(f"OID.{MASTER}.2026-03-11", "instances", f"OID.{MASTER}.2026-03-12"),
        EventAddress(MASTER, "exceptionOccurrences", f"OID.{MASTER}.2026-03-11"),
        EventAddress(MASTER, "instances", f"OID.{MASTER}.2026-03-09"),
    ],
    ids=["other-series", "not-an-occurrence", "below-an-occurrence", "not-modified", "before"],
)
def test_an_address_that_names_nothing_is_404(
    calendars: FakeCalendars, address: EventAddress
) -> None:
    with pytest.raises(ItemNotFound):
        read_event(Me(), AnyCalendar(), address, fakes.delegated(), **reach(calendars))


def test_a_malformed_id_under_instances_is_400(calendars: FakeCalendars) -> None:
    with pytest.raises(IdMalformed):
        read_event(
            Me(),
            AnyCalendar(),
            EventAddress(MASTER, "instances", "a/b"),
            fakes.delegated(),
            **reach(calendars),
        )


def test_instances_of_a_single_event_is_itself_when_it_overlaps(calendars: FakeCalendars) -> None:
    found = list_instances(
        Me(), AnyCalendar(), "AAMkA", WEEK, fakes.delegated(), **reach(calendars)
    )
    assert [e.id for e in found] == ["AAMkA"]
    later = (WEEK[0] + timedelta(days=30), WEEK[1] + timedelta(days=30))
    assert (
        list_instances(Me(), AnyCalendar(), "AAMkA", later, fakes.delegated(), **reach(calendars))
        == []
    )


# If-Match ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "current"),
    [
        (None, True),
        ("*", True),
        ('W/"k1"', True),
        ('"k1"', True),
        ('W/"k0", W/"k1"', True),
        ('W/"k0"', False),
        ("", False),
    ],
)
def test_if_match_names_the_current_version_or_any(header: str | None, current: bool) -> None:
    assert matches(header, "k1") is current


def test_a_stale_if_match_is_412_and_changes_nothing() -> None:
    calendars, queue = FakeCalendars(), fakes.FakeQueue()
    before = calendars.put(fakes.stored())

    with pytest.raises(ChangeKeyMismatch) as raised:
        cancel_event(
            CancelEvent(Me(), AnyCalendar(), EVENT_ID, None, if_match='W/"an-older-version"'),
            fakes.delegated(),
            directory=FakeDirectory(),
            calendars=calendars,
            queue=queue,
            now=fakes.fixed_clock(),
        )

    assert (raised.value.status, raised.value.code) == (412, "ErrorIrresolvableConflict")
    assert calendars.committed == []
    assert calendars.events[(ORGANIZER_ID, EVENT_ID)] == before
    assert queue.pointers == []


def test_the_current_etag_lets_the_cancel_through() -> None:
    calendars = FakeCalendars()
    current = calendars.put(fakes.stored()).event.change_key

    done = cancel_event(
        CancelEvent(Me(), AnyCalendar(), EVENT_ID, None, if_match=f'W/"{current}"'),
        fakes.delegated(),
        directory=FakeDirectory(),
        calendars=calendars,
        queue=fakes.FakeQueue(),
        now=fakes.fixed_clock(),
    )

    assert done.event.is_cancelled


def test_an_attendee_cancelling_a_copy_already_cancelled_gets_the_organizer_error() -> None:
    calendars = FakeCalendars()
    calendars.put(fakes.stored(item=fakes.event(is_organizer=False, is_cancelled=True)))

    with pytest.raises(NotOrganizer):
        cancel_event(
            CancelEvent(Me(), AnyCalendar(), EVENT_ID, None),
            fakes.delegated(),
            directory=FakeDirectory(),
            calendars=calendars,
            queue=fakes.FakeQueue(),
            now=fakes.fixed_clock(),
        )

    assert calendars.committed == []
