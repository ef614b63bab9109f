"""Every shape of message, read back by two iCalendar implementations: icalendar (which built
it) and vobject (which did not, and resolves VTIMEZONEs with dateutil's own reader).

The strong test is the RRULE round trip: a series' RRULE, expanded by dateutil through
vobject, gives the occurrences the product's own expansion gives (DESIGN.md section 13).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, takewhile
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.calendar.model import ItemBody
from shared.calendar.recurrence import zone
from shared.messages import imip
from tests.unit.messages.builders import (
    attendees_of,
    ics,
    invitation,
    invitation_of,
    master,
    message_to_first,
    occurrence_cancel,
    occurrences,
    parsed,
    parts,
    recurrence,
    unfold,
    when,
    with_icalendar,
    with_vobject,
)
from tests.unit.use_cases.delivery_fakes import ORGANIZER, notification

PACIFIC = ZoneInfo("America/Los_Angeles")


def instant(value: datetime) -> datetime:
    return value.astimezone(UTC)


# --- REQUEST ---------------------------------------------------------------------------------


def test_an_invitation_is_the_meeting_under_its_own_subject_with_its_own_message_id() -> None:
    item = invitation(body=ItemBody(content_type="text", content="Agenda:\r\n1. <Budget> & more"))
    received = parsed(message_to_first(item))

    assert received["Subject"] == "Quarterly planning"
    assert received["Message-ID"].startswith("<invite.")
    assert received["Content-Class"] == "urn:content-classes:calendarmessage"
    assert list(parts(received)) == ["text/plain", "text/html", "text/calendar"]
    text = parts(received)["text/plain"].get_content().replace("\r\n", "\n")
    assert text.startswith("You have been invited to a meeting.\n")
    assert "When: Thursday, December 3, 2026 15:00 - 16:00 (Pacific Standard Time)\n" in text
    assert "Where: Conf Room Rainier\n" in text
    assert f"Organizer: Adele Vance <{ORGANIZER}>\n" in text
    assert text.endswith("\n\nAgenda:\n1. <Budget> & more\n")
    page = parts(received)["text/html"].get_content()
    assert "Agenda:<br>\n1. &lt;Budget&gt; &amp; more" in page.replace("\r\n", "\n")

    cancel = notification()  # the same meeting's cancellation, same notification id
    assert message_to_first(cancel)["Message-ID"] != received["Message-ID"]
    assert message_to_first(cancel)["Message-ID"].startswith("<cancel.")


def test_a_timed_single_invitation_read_by_both_implementations() -> None:
    text = ics(invitation())
    calendar, event = with_icalendar(text)
    assert calendar["METHOD"] == "REQUEST"
    assert event["STATUS"] == "CONFIRMED"
    assert event.decoded("SEQUENCE") == 0
    assert event["LOCATION"] == "Conf Room Rainier"
    assert "RRULE" not in event
    assert "TRANSP" not in event
    guests = attendees_of(event)
    assert [str(g) for g in guests] == [
        "mailto:AlexW@contoso.example",
        "mailto:MeganB@contoso.example",
        "mailto:pat@fabrikam.example",
    ]
    assert all(
        g.params["PARTSTAT"] == "NEEDS-ACTION" and g.params["RSVP"] == "TRUE" for g in guests
    )
    assert [g.params["ROLE"] for g in guests] == ["REQ-PARTICIPANT"] * 2 + ["OPT-PARTICIPANT"]
    assert instant(event.decoded("DTSTART")) == datetime(2026, 12, 3, 23, 0, tzinfo=UTC)

    read = with_vobject(text)
    assert read.method.value == "REQUEST"
    vevent = read.vevent
    assert repr(vevent.dtstart.value.tzinfo) == "<tzicalvtz 'Pacific Standard Time'>"
    assert instant(vevent.dtstart.value) == datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
    assert instant(vevent.dtend.value) == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    assert vevent.dtstamp.value == datetime(2026, 11, 24, 8, 59, 30, tzinfo=UTC)
    assert vevent.sequence.value == "0"
    assert vevent.status.value == "CONFIRMED"
    assert vevent.summary.value == "Quarterly planning"
    assert vevent.location.value == "Conf Room Rainier"
    assert vevent.organizer.value == f"mailto:{ORGANIZER}"
    assert len(vevent.attendee_list) == 3
    assert all(a.params["RSVP"] == ["TRUE"] for a in vevent.attendee_list)


def test_a_resource_is_invited_as_a_resource_and_the_organizer_is_no_attendee() -> None:
    from tests.unit.use_cases.delivery_fakes import attendee

    item = invitation().model_copy(
        update={
            "attendees": (
                attendee("room@contoso.example", "Conf Room", "resource"),
                attendee(ORGANIZER.upper(), "Adele"),
                attendee("alex@contoso.example"),
                attendee("ALEX@contoso.example"),
            )
        }
    )
    _, event = with_icalendar(ics(item))
    room, alex = attendees_of(event)
    assert room.params["CUTYPE"] == "RESOURCE"
    assert room.params["ROLE"] == "NON-PARTICIPANT"
    assert str(alex) == "mailto:alex@contoso.example"


def test_an_html_body_is_kept_safe_in_the_html_part_and_as_text_elsewhere() -> None:
    content = (
        "<html><head><style>p{color:red}</style><title>t</title></head><body>"
        '<p onclick="steal()">Hello <b>team</b> &amp; guests</p>'
        "<script>alert(1)</script><img src=https://tracker.example/p.gif>"
        '<a href="javascript:alert(2)">bad</a> <a href="https://contoso.example/agenda">agenda</a>'
        "<ul><li>one</li><li>two</li></ul><div>unclosed <i>italic"
    )
    item = invitation(body=ItemBody(content_type="html", content=content))
    received = parts(parsed(message_to_first(item)))
    page = received["text/html"].get_content()

    for unsafe in ("<script", "alert", "onclick", "<style", "<img", "javascript:", "tracker"):
        assert unsafe not in page
    assert "<p>Hello <b>team</b> &amp; guests</p>" in page
    assert '<a href="https://contoso.example/agenda">agenda</a>' in page
    assert "<div>unclosed <i>italic</i></div></div>" in page  # every tag it opens, closed

    body = "Hello team & guests\nbad agenda\n\n- one\n- two\n\nunclosed italic"
    text = received["text/plain"].get_content().replace("\r\n", "\n")
    assert text.endswith(f"\n\n{body}\n")
    assert with_vobject(ics(item)).vevent.description.value == body


def test_a_weekly_all_day_series_with_rrule_and_exdate() -> None:
    pattern = recurrence(
        {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "wednesday"]},
        date(2026, 12, 1),
        "W. Europe Standard Time",
        type="numbered",
        numberOfOccurrences=10,
    )
    series = master(pattern, all_day=True, cancelled=(date(2026, 12, 2), date(2026, 12, 14)))
    product = occurrences(series, 50)
    item = invitation_of(series, product[0])
    text = ics(item)

    assert "DTSTART;VALUE=DATE:20261202" in text
    assert "DTEND;VALUE=DATE:20261203" in text
    assert "RRULE:FREQ=WEEKLY;COUNT=10;INTERVAL=2;BYDAY=MO,WE;WKST=SU" in text
    assert "EXDATE;VALUE=DATE:20261202,20261214" in text
    assert "VTIMEZONE" not in text  # dates need no zone

    _, event = with_icalendar(text)
    assert event.decoded("DTSTART") == date(2026, 12, 2)
    vevent = with_vobject(text).vevent
    assert vevent.dtstart.value == date(2026, 12, 2)
    assert vevent.dtend.value == date(2026, 12, 3)
    expanded = [moment.date() for moment in vevent.getrruleset()]
    kept = [
        moment.date()
        for moment in product
        if moment.date() not in (date(2026, 12, 2), date(2026, 12, 14))
    ]
    assert expanded == kept
    assert len(product) == 10


def test_a_relative_monthly_series_with_until_in_utc() -> None:
    pattern = recurrence(
        {"type": "relativeMonthly", "daysOfWeek": ["thursday"], "index": "last"},
        date(2026, 11, 1),
        "Pacific Standard Time",
        type="endDate",
        endDate="2027-06-24",
    )
    series = master(pattern, at=time(9, 30))
    product = occurrences(series, 50)
    text = ics(invitation_of(series, product[0]))

    # the end date's last moment, 23:59:59 Pacific daylight time, in UTC
    assert "RRULE:FREQ=MONTHLY;UNTIL=20270625T065959Z;BYDAY=-1TH" in text
    vevent = with_vobject(text).vevent
    expanded = list(vevent.getrruleset())
    assert [moment.replace(tzinfo=None) for moment in expanded] == product
    assert product[-1] == datetime(2027, 6, 24, 9, 30)  # the end date's own occurrence is in
    assert [instant(m) for m in expanded] == [instant(m.replace(tzinfo=PACIFIC)) for m in product]


def test_a_series_with_several_days_picks_among_them_with_bysetpos() -> None:
    pattern = recurrence(
        {"type": "relativeMonthly", "daysOfWeek": ["saturday", "sunday"], "index": "first"},
        date(2026, 12, 1),
        "UTC",
        type="numbered",
        numberOfOccurrences=6,
    )
    series = master(pattern)
    product = occurrences(series, 50)
    text = ics(invitation_of(series, product[0]))
    assert "RRULE:FREQ=MONTHLY;COUNT=6;BYDAY=SA,SU;BYSETPOS=1" in text
    assert "DTSTART:20261205T150000Z" in text
    assert "VTIMEZONE" not in text
    expanded = list(with_vobject(text).vevent.getrruleset())
    assert expanded == [moment.replace(tzinfo=UTC) for moment in product]


# --- CANCEL ----------------------------------------------------------------------------------


def test_a_cancel_frees_the_attendees_slot() -> None:
    _, event = with_icalendar(ics(notification()))
    assert event["TRANSP"] == "TRANSPARENT"
    assert event["X-MICROSOFT-CDO-BUSYSTATUS"] == "FREE"
    vevent = with_vobject(ics(notification())).vevent
    assert vevent.transp.value == "TRANSPARENT"
    assert vevent.x_microsoft_cdo_busystatus.value == "FREE"
    assert vevent.status.value == "CANCELLED"
    assert vevent.sequence.value == "3"
    assert len(vevent.attendee_list) == 1


def test_the_cancel_of_an_all_day_occurrence_names_it_by_date() -> None:
    item = occurrence_cancel(date(2026, 12, 7), all_day=True, time_zone="Tokyo Standard Time")
    text = ics(item)
    assert "RECURRENCE-ID;VALUE=DATE:20261207" in text
    assert "DTSTART;VALUE=DATE:20261207" in text
    assert "DTEND;VALUE=DATE:20261208" in text
    assert "VTIMEZONE" not in text

    _, event = with_icalendar(text)
    assert event.decoded("RECURRENCE-ID") == date(2026, 12, 7)
    vevent = with_vobject(text).vevent
    assert vevent.recurrence_id.value == date(2026, 12, 7)
    assert vevent.dtstart.value == date(2026, 12, 7)
    text_part = parts(parsed(message_to_first(item)))["text/plain"].get_content()
    assert "When: Monday, December 7, 2026 (all day)" in text_part


def test_the_cancel_of_a_timed_occurrence_names_it_in_the_series_zone() -> None:
    # 2026-12-07 15:00 in Pacific (PST, UTC-8) is 23:00 UTC; Graph's originalStart is UTC
    item = occurrence_cancel(date(2026, 12, 7))
    assert item.original_start == "2026-12-07T23:00:00Z"
    text = ics(item)
    assert "RECURRENCE-ID;TZID=Pacific Standard Time:20261207T150000" in text

    _, event = with_icalendar(text)
    assert instant(event.decoded("RECURRENCE-ID")) == datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    vevent = with_vobject(text).vevent
    assert repr(vevent.recurrence_id.value.tzinfo) == "<tzicalvtz 'Pacific Standard Time'>"
    assert vevent.recurrence_id.value.replace(tzinfo=None) == datetime(2026, 12, 7, 15, 0)
    assert instant(vevent.recurrence_id.value) == datetime(2026, 12, 7, 23, 0, tzinfo=UTC)


def test_a_moved_occurrence_keeps_its_original_start_as_recurrence_id() -> None:
    item = occurrence_cancel(date(2027, 3, 15)).model_copy(
        update={
            "start": when(datetime(2027, 3, 16, 10, 0), "Pacific Standard Time"),
            "end": when(datetime(2027, 3, 16, 11, 0), "Pacific Standard Time"),
        }
    )
    vevent = with_vobject(ics(item)).vevent
    # March 15 2027 is daylight time (UTC-7): 15:00 local is 22:00 UTC
    assert instant(vevent.recurrence_id.value) == datetime(2027, 3, 15, 22, 0, tzinfo=UTC)
    assert vevent.recurrence_id.value.replace(tzinfo=None) == datetime(2027, 3, 15, 15, 0)
    assert vevent.dtstart.value.replace(tzinfo=None) == datetime(2027, 3, 16, 10, 0)


# --- zones -----------------------------------------------------------------------------------


def observances(text: str) -> dict[str, Any]:
    (timezone,) = with_vobject(text).vtimezone_list
    return {
        child.name: child
        for child in timezone.getChildren()
        if child.name in ("STANDARD", "DAYLIGHT")
    }


def test_the_vtimezone_is_rules_not_dated_transitions() -> None:
    found = observances(ics(notification()))
    assert set(found) == {"STANDARD", "DAYLIGHT"}
    assert found["STANDARD"].rrule.value == "FREQ=YEARLY;BYDAY=1SU;BYMONTH=11"
    assert found["DAYLIGHT"].rrule.value == "FREQ=YEARLY;BYDAY=2SU;BYMONTH=3"
    assert found["STANDARD"].dtstart.value == datetime(1601, 11, 4, 2, 0)
    assert found["DAYLIGHT"].dtstart.value == datetime(1601, 3, 11, 2, 0)
    assert found["STANDARD"].tzoffsetto.value == "-0800"
    assert found["DAYLIGHT"].tzoffsetto.value == "-0700"
    assert len(with_vobject(ics(notification())).vtimezone.contents.get("standard", [])) == 1

    europe = observances(ics(notification(time_zone="W. Europe Standard Time")))
    assert europe["STANDARD"].rrule.value == "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10"
    assert europe["DAYLIGHT"].rrule.value == "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"


def test_a_zone_without_daylight_time_is_one_standard_without_rule() -> None:
    found = observances(ics(notification(time_zone="Asia/Tokyo")))
    assert list(found) == ["STANDARD"]
    assert "rrule" not in found["STANDARD"].contents
    assert found["STANDARD"].tzoffsetfrom.value == found["STANDARD"].tzoffsetto.value == "+0900"


@pytest.mark.parametrize(
    ("time_zone", "iana"),
    [
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("America/Sao_Paulo", "America/Sao_Paulo"),
        ("Asia/Kolkata", "Asia/Kolkata"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
    ],
)
@pytest.mark.parametrize(
    "local",
    [datetime(2026, 1, 15, 9, 0), datetime(2026, 7, 15, 18, 30), datetime(2031, 10, 30, 12, 0)],
)
def test_vobject_resolves_times_through_the_vtimezone_to_zoneinfos_instant(
    time_zone: str, iana: str, local: datetime
) -> None:
    item = notification(time_zone=time_zone).model_copy(
        update={"start": when(local, time_zone), "end": when(local + timedelta(hours=1), time_zone)}
    )
    text = ics(item)
    expected = local.replace(tzinfo=ZoneInfo(iana)).astimezone(UTC)
    vevent = with_vobject(text).vevent
    assert repr(vevent.dtstart.value.tzinfo) == f"<tzicalvtz {time_zone!r}>"
    assert instant(vevent.dtstart.value) == expected
    assert instant(vevent.dtend.value) == expected + timedelta(hours=1)
    _, event = with_icalendar(text)
    assert instant(event.decoded("DTSTART")) == expected


def test_an_unknown_zone_is_floating_time_in_every_property() -> None:
    item = occurrence_cancel(date(2026, 12, 7), time_zone="UTC").model_copy(
        update={
            "start": when(datetime(2026, 12, 7, 15, 0), "tzone://Microsoft/Custom"),
            "end": when(datetime(2026, 12, 7, 16, 0), "tzone://Microsoft/Custom"),
        }
    )
    text = ics(item)
    assert "DTSTART:20261207T150000\r\n" in text
    assert "DTEND:20261207T160000\r\n" in text
    assert "RECURRENCE-ID:20261207T150000\r\n" in text
    assert "VTIMEZONE" not in text
    assert "TZID" not in text
    vevent = with_vobject(text).vevent
    assert vevent.dtstart.value == datetime(2026, 12, 7, 15, 0)  # naive: floating
    assert vevent.dtstart.value.tzinfo is None

    pattern = recurrence(
        {"type": "daily"}, date(2026, 12, 1), "UTC", type="endDate", endDate="2026-12-10"
    )
    series = invitation(
        start=when(datetime(2026, 12, 1, 9, 0), "tzone://Microsoft/Custom"),
        end=when(datetime(2026, 12, 1, 10, 0), "tzone://Microsoft/Custom"),
        pattern=pattern,
        cancelled=("OID.AAMkSeries.2026-12-03",),
    )
    text = ics(series)
    assert "RRULE:FREQ=DAILY;UNTIL=20261210T235959\r\n" in text
    assert "EXDATE:20261203T090000\r\n" in text
    expanded = list(with_vobject(text).vevent.getrruleset())
    assert len(expanded) == 9
    assert all(moment.tzinfo is None for moment in expanded)


# --- the RRULE round trip ---------------------------------------------------------------------

PATTERNS: list[tuple[dict[str, object], date, dict[str, object]]] = [
    (
        {"type": "daily", "interval": 3},
        date(2026, 12, 1),
        {"type": "numbered", "numberOfOccurrences": 20},
    ),
    (
        {
            "type": "weekly",
            "interval": 2,
            "daysOfWeek": ["sunday", "tuesday", "friday"],
            "firstDayOfWeek": "monday",
        },
        date(2026, 12, 5),
        {},
    ),
    (
        {"type": "weekly", "daysOfWeek": ["saturday"]},
        date(2027, 3, 1),
        {"type": "endDate", "endDate": "2027-04-03"},
    ),
    ({"type": "absoluteMonthly", "dayOfMonth": 31}, date(2026, 12, 1), {}),
    (
        {"type": "absoluteMonthly", "interval": 2, "dayOfMonth": 15},
        date(2026, 11, 20),
        {"type": "numbered", "numberOfOccurrences": 12},
    ),
    (
        {"type": "relativeMonthly", "daysOfWeek": ["monday"], "index": "second"},
        date(2026, 12, 1),
        {},
    ),
    (
        {"type": "relativeMonthly", "interval": 3, "daysOfWeek": ["friday"], "index": "last"},
        date(2027, 1, 1),
        {},
    ),
    ({"type": "absoluteYearly", "month": 2, "dayOfMonth": 29}, date(2027, 1, 1), {}),
    (
        {"type": "relativeYearly", "month": 11, "daysOfWeek": ["thursday"], "index": "fourth"},
        date(2026, 1, 1),
        {},
    ),
    (
        {
            "type": "relativeYearly",
            "month": 3,
            "daysOfWeek": ["saturday", "sunday"],
            "index": "last",
        },
        date(2026, 1, 1),
        {"type": "endDate", "endDate": "2040-03-31"},
    ),
]
ZONES = ["Pacific Standard Time", "W. Europe Standard Time", "AUS Eastern Standard Time", "UTC"]
LIMIT = 30


def assert_round_trip(
    pattern: dict[str, object],
    start_date: date,
    span: dict[str, object],
    time_zone: str,
    all_day: bool,
    at: time = time(9, 0),
) -> bool:
    """False when the pattern makes no occurrence in the calendar (nothing to compare)."""
    series = master(recurrence(pattern, start_date, time_zone, **span), at=at, all_day=all_day)
    product = occurrences(series, LIMIT)
    if not product:
        return False
    text = ics(invitation_of(series, product[0]))
    for rules in (with_vobject(text).vevent.getrruleset(), icalendar_rruleset(text)):
        got = list(islice(rules, LIMIT))
        if all_day:
            assert [m.date() for m in got] == [m.date() for m in product]
        else:
            assert [m.replace(tzinfo=None) for m in got] == product
            tz = zone(time_zone)
            assert [instant(m) for m in got] == [instant(m.replace(tzinfo=tz)) for m in product]
    return True


def icalendar_rruleset(text: str) -> Any:
    """The same RRULE as icalendar parsed it, expanded by dateutil from icalendar's DTSTART."""
    from dateutil.rrule import rrulestr

    _, event = with_icalendar(text)
    start = event.decoded("DTSTART")
    if not isinstance(start, datetime):
        start = datetime.combine(start, time())
    rule = event["RRULE"]
    assert isinstance(rule, icalendar.vRecur)
    return rrulestr(bytes(rule.to_ical()).decode(), dtstart=start)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("time_zone", ZONES)
@pytest.mark.parametrize(("pattern", "start_date", "span"), PATTERNS)
@pytest.mark.parametrize("all_day", [False, True])
def test_the_rrule_gives_the_products_own_occurrences(
    pattern: dict[str, object],
    start_date: date,
    span: dict[str, object],
    time_zone: str,
    all_day: bool,
) -> None:
    assert assert_round_trip(pattern, start_date, span, time_zone, all_day)


WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]


@st.composite
def patterns(draw: st.DrawFn) -> dict[str, object]:
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
    pattern: dict[str, object] = {"type": kind, "interval": draw(st.integers(1, 4))}
    if kind in ("weekly", "relativeMonthly", "relativeYearly"):
        pattern["daysOfWeek"] = draw(
            st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=3, unique=True)
        )
    if kind == "weekly":
        pattern["firstDayOfWeek"] = draw(st.sampled_from(WEEKDAYS))
    if kind in ("relativeMonthly", "relativeYearly"):
        pattern["index"] = draw(st.sampled_from(["first", "second", "third", "fourth", "last"]))
    if kind in ("absoluteYearly", "relativeYearly"):
        pattern["month"] = draw(st.integers(1, 12))
    if kind in ("absoluteMonthly", "absoluteYearly"):
        pattern["dayOfMonth"] = draw(st.integers(1, 28))
    return pattern


@st.composite
def spans(draw: st.DrawFn) -> dict[str, object]:
    kind = draw(st.sampled_from(["noEnd", "numbered", "endDate"]))
    if kind == "numbered":
        return {"type": kind, "numberOfOccurrences": draw(st.integers(1, 40))}
    if kind == "endDate":
        return {"type": kind, "endDate": "2034-12-31"}
    return {}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    pattern=patterns(),
    start_date=st.dates(date(2026, 1, 1), date(2028, 12, 31)),
    span=spans(),
    time_zone=st.sampled_from(ZONES),
    all_day=st.booleans(),
    at=st.sampled_from([time(0, 0), time(9, 0), time(12, 30), time(23, 0)]),
)
def test_any_pattern_round_trips(
    pattern: dict[str, object],
    start_date: date,
    span: dict[str, object],
    time_zone: str,
    all_day: bool,
    at: time,
) -> None:
    assume(assert_round_trip(pattern, start_date, span, time_zone, all_day, at))


def test_cancelled_occurrences_leave_the_expansion() -> None:
    pattern = recurrence(
        {"type": "weekly", "daysOfWeek": ["monday", "thursday"]},
        date(2027, 3, 1),
        "Pacific Standard Time",
    )
    every = occurrences(master(pattern), 12)
    gone = (every[1].date(), every[4].date(), every[5].date())  # one across the DST change
    series = master(pattern, cancelled=gone)
    text = ics(invitation_of(series, every[0]))
    assert (
        "EXDATE;TZID=Pacific Standard Time:20270304T150000,20270315T150000,20270318T150000"
        in unfold(text)
    )
    expanded = [
        m.replace(tzinfo=None)
        for m in takewhile(
            lambda m: m.replace(tzinfo=None) <= every[-1], with_vobject(text).vevent.getrruleset()
        )
    ]
    assert expanded == [m for m in every if m.date() not in gone]


def test_imip_rrule_of_is_what_the_message_writes() -> None:
    pattern = recurrence(
        {"type": "daily"}, date(2026, 12, 1), "UTC", type="endDate", endDate="2026-12-31"
    )
    assert imip.rrule_of(pattern, all_day=True) == {"freq": "DAILY", "until": date(2026, 12, 31)}
