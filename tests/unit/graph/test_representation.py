"""An event on the wire: times in UTC or the preferred zone, etag, $select, series masters,
all-day events, and the Prefer header."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from shared.calendar.model import DateTimeTimeZone, Event, ResponseStatus
from shared.calendar.recurrence import Series
from shared.graph.representation import PROPERTIES, event_json, preferred_zone
from tests.unit.use_cases import fakes

PACIFIC = "Pacific Standard Time"
WINTER = date(2027, 1, 4)  # PST, UTC-8
SUMMER = date(2027, 7, 5)  # PDT, UTC-7


def pacific_series(**changes: Any) -> Event:
    """A daily 09:00-09:30 Pacific series from 2027-01-04 without end."""
    return Event.model_validate(
        {
            **fakes.event("AAMkPacificSeries").model_dump(by_alias=True),
            "type": "seriesMaster",
            "start": {"dateTime": "2027-01-04T09:00:00.0000000", "timeZone": PACIFIC},
            "end": {"dateTime": "2027-01-04T09:30:00.0000000", "timeZone": PACIFIC},
            "recurrence": {
                "pattern": {"type": "daily"},
                "range": {
                    "type": "noEnd",
                    "startDate": "2027-01-04",
                    "recurrenceTimeZone": PACIFIC,
                },
            },
            "cancelledOccurrences": ["OID.AAMkPacificSeries.2027-01-05"],
            **changes,
        }
    )


def occurrence(master: Event, day: date) -> Event:
    found = Series(master).occurrence(day)
    assert found is not None
    return found


def times(body: dict[str, object]) -> tuple[object, object]:
    return body["start"], body["end"]


def all_day(tz: str = PACIFIC) -> Event:
    return fakes.event().model_copy(
        update={
            "is_all_day": True,
            "start": DateTimeTimeZone(date_time="2027-01-04T00:00:00.0000000", time_zone=tz),
            "end": DateTimeTimeZone(date_time="2027-01-05T00:00:00.0000000", time_zone=tz),
        }
    )


# Times --------------------------------------------------------------------------------------


def test_times_are_utc_by_default_across_daylight_saving() -> None:
    master = pacific_series()
    winter = event_json(occurrence(master, WINTER), zone_name=None, select=None)
    summer = event_json(occurrence(master, SUMMER), zone_name=None, select=None)
    assert times(winter) == (
        {"dateTime": "2027-01-04T17:00:00.0000000", "timeZone": "UTC"},
        {"dateTime": "2027-01-04T17:30:00.0000000", "timeZone": "UTC"},
    )
    assert times(summer) == (
        {"dateTime": "2027-07-05T16:00:00.0000000", "timeZone": "UTC"},
        {"dateTime": "2027-07-05T16:30:00.0000000", "timeZone": "UTC"},
    )
    assert summer["originalStartTimeZone"] == summer["originalEndTimeZone"] == PACIFIC


def test_the_master_itself_is_converted_too() -> None:
    body = event_json(pacific_series(), zone_name=None, select=None)
    assert body["start"] == {"dateTime": "2027-01-04T17:00:00.0000000", "timeZone": "UTC"}
    assert body["originalStartTimeZone"] == PACIFIC


@pytest.mark.parametrize(
    ("zone_name", "winter", "summer"),
    [
        (PACIFIC, "2027-01-04T09:00:00.0000000", "2027-07-05T09:00:00.0000000"),
        ("America/Los_Angeles", "2027-01-04T09:00:00.0000000", "2027-07-05T09:00:00.0000000"),
        ("W. Europe Standard Time", "2027-01-04T18:00:00.0000000", "2027-07-05T18:00:00.0000000"),
        ("Asia/Kolkata", "2027-01-04T22:30:00.0000000", "2027-07-05T21:30:00.0000000"),
        ("UTC", "2027-01-04T17:00:00.0000000", "2027-07-05T16:00:00.0000000"),
    ],
)
def test_a_preferred_zone_converts_and_is_named_as_the_caller_wrote_it(
    zone_name: str, winter: str, summer: str
) -> None:
    master = pacific_series()
    for day, expected in ((WINTER, winter), (SUMMER, summer)):
        body = event_json(occurrence(master, day), zone_name=zone_name, select=None)
        assert body["start"] == {"dateTime": expected, "timeZone": zone_name}
        assert body["originalStartTimeZone"] == PACIFIC


def test_an_exception_is_converted_like_any_occurrence() -> None:
    master = pacific_series(
        exceptions=[
            {
                "originalDate": "2027-01-06",
                "subject": "Moved",
                "start": {"dateTime": "2027-01-06T11:00:00.0000000", "timeZone": PACIFIC},
                "end": {"dateTime": "2027-01-06T12:00:00.0000000", "timeZone": PACIFIC},
            }
        ]
    )
    moved = occurrence(master, date(2027, 1, 6))
    assert moved.type == "exception"
    body = event_json(moved, zone_name=None, select=None)
    assert times(body) == (
        {"dateTime": "2027-01-06T19:00:00.0000000", "timeZone": "UTC"},
        {"dateTime": "2027-01-06T20:00:00.0000000", "timeZone": "UTC"},
    )
    assert (body["type"], body["subject"]) == ("exception", "Moved")


def test_a_stored_offset_and_fraction_keep_graphs_seven_digits() -> None:
    event = fakes.event().model_copy(
        update={
            "start": DateTimeTimeZone(date_time="2027-01-04T09:00:00.25-08:00", time_zone="UTC"),
            "end": DateTimeTimeZone(date_time="2027-01-04T17:30:00.1234567Z", time_zone="UTC"),
        }
    )
    assert times(event_json(event, zone_name=None, select=None)) == (
        {"dateTime": "2027-01-04T17:00:00.2500000", "timeZone": "UTC"},
        {"dateTime": "2027-01-04T17:30:00.1234560", "timeZone": "UTC"},
    )


def test_an_unknown_zone_name_falls_back_to_utc() -> None:
    body = event_json(pacific_series(), zone_name="Mars/Olympus_Mons", select=None)
    assert body["start"] == {"dateTime": "2027-01-04T17:00:00.0000000", "timeZone": "UTC"}


def test_all_day_events_stay_midnight_to_midnight_of_their_dates_in_any_zone() -> None:
    """Graph: "All day events always return midnight-to-midnight regardless of time zone"."""
    event = all_day(PACIFIC)
    assert times(event_json(event, zone_name=None, select=None)) == (
        {"dateTime": "2027-01-04T00:00:00.0000000", "timeZone": "UTC"},
        {"dateTime": "2027-01-05T00:00:00.0000000", "timeZone": "UTC"},
    )
    assert times(event_json(event, zone_name="Tokyo Standard Time", select=None)) == (
        {"dateTime": "2027-01-04T00:00:00.0000000", "timeZone": "Tokyo Standard Time"},
        {"dateTime": "2027-01-05T00:00:00.0000000", "timeZone": "Tokyo Standard Time"},
    )
    assert event_json(event, zone_name=None, select=None)["originalStartTimeZone"] == PACIFIC


def test_all_day_dates_are_read_in_the_zone_the_event_was_stored_with() -> None:
    # Stored as an instant: midnight in Tokyo is the previous day in UTC, still the 4th.
    event = all_day().model_copy(
        update={
            "start": DateTimeTimeZone(
                date_time="2027-01-04T00:00:00+09:00", time_zone="Asia/Tokyo"
            ),
            "end": DateTimeTimeZone(date_time="2027-01-05T00:00:00+09:00", time_zone="Asia/Tokyo"),
        }
    )
    assert times(event_json(event, zone_name=None, select=None)) == (
        {"dateTime": "2027-01-04T00:00:00.0000000", "timeZone": "UTC"},
        {"dateTime": "2027-01-05T00:00:00.0000000", "timeZone": "UTC"},
    )


def test_all_day_series_occurrences_stay_at_midnight() -> None:
    master = pacific_series(
        isAllDay=True,
        start={"dateTime": "2027-01-04T00:00:00.0000000", "timeZone": PACIFIC},
        end={"dateTime": "2027-01-05T00:00:00.0000000", "timeZone": PACIFIC},
    )
    body = event_json(occurrence(master, SUMMER), zone_name="Asia/Kolkata", select=None)
    assert times(body) == (
        {"dateTime": "2027-07-05T00:00:00.0000000", "timeZone": "Asia/Kolkata"},
        {"dateTime": "2027-07-06T00:00:00.0000000", "timeZone": "Asia/Kolkata"},
    )


# Keys ---------------------------------------------------------------------------------------


def test_etag_and_id_come_first() -> None:
    body = event_json(fakes.event(), zone_name=None, select=None)
    assert list(body)[:2] == ["@odata.etag", "id"]
    assert body["@odata.etag"] == 'W/"DwAAABYAAAA="'
    assert body["id"] == fakes.EVENT_ID


def test_every_key_of_to_graph_is_kept_with_the_original_zones() -> None:
    event = fakes.event()
    body = event_json(event, zone_name=None, select=None)
    expected = set(event.to_graph()) - {"cancelledOccurrences"}
    expected |= {"@odata.etag", "originalStartTimeZone", "originalEndTimeZone"}
    assert set(body) == expected
    assert not {"sequence", "exceptions"} & set(body)
    assert {key: body[key] for key in ("subject", "attendees", "organizer", "recurrence")} == {
        key: event.to_graph()[key] for key in ("subject", "attendees", "organizer", "recurrence")
    }


def test_master_keys_are_all_known_properties() -> None:
    body = event_json(pacific_series(), zone_name=None, select=None)
    assert set(body) - {"@odata.etag"} <= set(PROPERTIES)
    assert "exceptions" not in body


def test_cancelled_occurrences_only_on_series_masters() -> None:
    master = pacific_series()
    assert event_json(master, zone_name=None, select=None)["cancelledOccurrences"] == [
        "OID.AAMkPacificSeries.2027-01-05"
    ]
    empty = pacific_series(cancelledOccurrences=[])
    assert event_json(empty, zone_name=None, select=None)["cancelledOccurrences"] == []
    for other in (fakes.event(), occurrence(master, WINTER)):
        assert "cancelledOccurrences" not in event_json(other, zone_name=None, select=None)


# $select ------------------------------------------------------------------------------------


def test_select_keeps_the_selected_properties_with_id_and_etag() -> None:
    body = event_json(fakes.event(), zone_name=None, select=("subject", "start"))
    assert body == {
        "@odata.etag": 'W/"DwAAABYAAAA="',
        "id": fakes.EVENT_ID,
        "subject": "Quarterly review",
        "start": {"dateTime": "2026-03-10T09:00:00.0000000", "timeZone": "UTC"},
    }


def test_select_of_original_zones_and_converted_times() -> None:
    body = event_json(
        occurrence(pacific_series(), SUMMER),
        zone_name="Asia/Kolkata",
        select=("end", "originalEndTimeZone"),
    )
    assert body == {
        "@odata.etag": 'W/"DwAAABYAAAA="',
        "id": "OID.AAMkPacificSeries.2027-07-05",
        "end": {"dateTime": "2027-07-05T22:00:00.0000000", "timeZone": "Asia/Kolkata"},
        "originalEndTimeZone": PACIFIC,
    }


def test_select_of_an_unset_property_is_null() -> None:
    body = event_json(fakes.event(), zone_name=None, select=("seriesMasterId", "recurrence"))
    assert (body["seriesMasterId"], body["recurrence"]) == (None, None)


def test_select_of_cancelled_occurrences_is_on_masters_only() -> None:
    select = ("cancelledOccurrences",)
    assert "cancelledOccurrences" in event_json(pacific_series(), zone_name=None, select=select)
    assert "cancelledOccurrences" not in event_json(fakes.event(), zone_name=None, select=select)


def test_select_of_id_alone() -> None:
    body = event_json(fakes.event(), zone_name=None, select=("id",))
    assert list(body) == ["@odata.etag", "id"]


# Prefer -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('outlook.timezone="Pacific Standard Time"', PACIFIC),
        ("outlook.timezone=Pacific Standard Time", PACIFIC),
        ('outlook.timezone="America/Los_Angeles"', "America/Los_Angeles"),
        ("outlook.timezone=Europe/Berlin", "Europe/Berlin"),
        ('Outlook.TimeZone="UTC"', "UTC"),
        ('outlook.timezone = "W. Europe Standard Time"', "W. Europe Standard Time"),
        ('odata.maxpagesize=10, outlook.timezone="Tokyo Standard Time"', "Tokyo Standard Time"),
        (
            'outlook.body-content-type="text",outlook.timezone="Asia/Kolkata"; x=1, return=minimal',
            "Asia/Kolkata",
        ),
        (
            'respond-async, foo="a, outlook.timezone=UTC", outlook.timezone="Asia/Tokyo"',
            "Asia/Tokyo",
        ),
        # RFC 7240: only the first instance of a preference counts.
        ('outlook.timezone="Asia/Tokyo", outlook.timezone="Europe/Berlin"', "Asia/Tokyo"),
    ],
)
def test_preferred_zone_is_read_as_written(header: str, expected: str) -> None:
    assert preferred_zone(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "odata.maxpagesize=10",
        "outlook.timezone",
        'outlook.timezone=""',
        'outlook.timezone="Mars Standard Time"',
        "outlook.timezone=pacific standard time",  # Windows names are exact
        "outlook.timezone=America",  # a folder of the zone database, not a zone
        "outlook.timezone=../../etc/passwd",
        "outlook.timezone=" + "A" * 5000,
        'outlook.timezone="Asia/Tokyo\x00"',
        'outlook.timezone="Mars/Base", outlook.timezone="Asia/Tokyo"',
        'outlook.timezonex="Asia/Tokyo"',
    ],
)
def test_absent_or_unknown_preferred_zone_is_none(header: str | None) -> None:
    assert preferred_zone(header) is None


def test_the_response_status_is_the_organizer_s_or_not_responded_unless_stored() -> None:
    organizer = pacific_series()
    copy = organizer.model_copy(update={"is_organizer": False})
    accepted = copy.model_copy(
        update={"response_status": ResponseStatus(response="accepted", time="2027-01-02T10:00:00Z")}
    )
    bodies = [event_json(e, zone_name=None, select=None) for e in (organizer, copy, accepted)]

    assert [body["responseStatus"] for body in bodies] == [
        {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        {"response": "notResponded", "time": "0001-01-01T00:00:00Z"},
        {"response": "accepted", "time": "2027-01-02T10:00:00Z"},
    ]
    assert "responseStatus" in PROPERTIES
