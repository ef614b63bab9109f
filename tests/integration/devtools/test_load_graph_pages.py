"""The loader takes what Graph itself returns (`GET /users/{id}/events`, a calendar view): pages
of Graph events, loaded into Azurite and read back through `TableCalendars`.

The events are written as Graph v1.0 returns them (the shapes of the "List events" and "Get
event" pages of the Graph docs: read-only properties, 7-digit fractions, UTC by default)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from copy import deepcopy
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from azure.data.tables import TableServiceClient

from devtools.azurite import Azurite
from devtools.load import DEMO_TENANT, as_tenant, build, load
from shared.calendar.model import StoredEvent
from shared.calendar.recurrence import Series, UnknownTimeZone
from shared.runtime.settings import Settings
from shared.storage.tables import TableCalendars, TableDirectory

ROOT = Path(__file__).resolve().parents[3]
ADELE_ID = "6e7b768e-07e2-4810-8459-485f84f8f204"
ADELE = "AdeleV@contoso.example"
GRAPH = "https://graph.microsoft.com/v1.0/$metadata#"
UID = "040000008200E00074C5B7101A82E00800000000DA2B357D94B5D201000000000000000010000000EC4597557F0CB34EA4CC2887EA7B17C3"  # noqa: E501


def graph_event(event_id: str, subject: str, **changes: Any) -> dict[str, Any]:
    """One event as `GET /users/{id}/events` returns it, read-only properties and all."""
    event: dict[str, Any] = {
        "@odata.etag": 'W/"ZlnW4RIAV06KYYwlrfNZvQAALfZeRQ=="',
        "id": event_id,
        "createdDateTime": "2026-11-15T03:00:50.7579581Z",
        "lastModifiedDateTime": "2026-11-15T03:00:51.245372Z",
        "changeKey": "ZlnW4RIAV06KYYwlrfNZvQAALfZeRQ==",
        "categories": [],
        "transactionId": None,
        "originalStartTimeZone": "Pacific Standard Time",
        "originalEndTimeZone": "Pacific Standard Time",
        "iCalUId": UID[:-32] + hashlib.sha256(event_id.encode()).hexdigest()[:32].upper(),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": subject,
        "bodyPreview": "Dana, this is the time you selected for our orientation.",
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": True,
        "responseRequested": True,
        "seriesMasterId": None,
        "showAs": "busy",
        "type": "singleInstance",
        "webLink": f"https://outlook.office365.com/owa/?itemid={event_id}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": True,
        "onlineMeetingProvider": "teamsForBusiness",
        "allowNewTimeProposals": True,
        "hideAttendees": False,
        "recurrence": None,
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        "body": {"contentType": "html", "content": "<html><body>Orientation</body></html>"},
        "start": {"dateTime": "2026-12-21T18:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-21T20:00:00.0000000", "timeZone": "UTC"},
        "location": {
            "displayName": "Assembly Hall",
            "locationType": "default",
            "uniqueId": "Assembly Hall",
            "uniqueIdType": "private",
        },
        "locations": [{"displayName": "Assembly Hall", "locationType": "default"}],
        "attendees": [
            {
                "type": "required",
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": "Megan Bowen", "address": "MeganB@contoso.example"},
            },
            {
                "type": "optional",
                "status": {"response": "accepted", "time": "2026-11-16T10:00:00Z"},
                "emailAddress": {"name": "Pat Jones", "address": "pat@fabrikam.example"},
            },
        ],
        "organizer": {"emailAddress": {"name": "Adele Vance", "address": ADELE}},
        "onlineMeeting": {"joinUrl": "https://teams.microsoft.com/l/meetup-join/19%3ameeting"},
    }
    event.update(changes)
    return event


def weekly_master(event_id: str = "AAMkAGI1AAAt9AHjAAA=") -> dict[str, Any]:
    """A weekly series on Mondays at 09:00 Pacific, as `/events` lists it: start in UTC."""
    return graph_event(
        event_id,
        "Weekly sync",
        type="seriesMaster",
        start={"dateTime": "2027-01-04T17:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2027-01-04T17:30:00.0000000", "timeZone": "UTC"},
        recurrence={
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "month": 0,
                "dayOfMonth": 0,
                "daysOfWeek": ["monday"],
                "firstDayOfWeek": "sunday",
                "index": "first",
            },
            "range": {
                "type": "endDate",
                "startDate": "2027-01-04",
                "endDate": "2027-03-29",
                "recurrenceTimeZone": "Pacific Standard Time",
                "numberOfOccurrences": 0,
            },
        },
    )


def all_day(event_id: str = "AAMkAGI1AAAoZDOFAAA=") -> dict[str, Any]:
    return graph_event(
        event_id,
        "Company holiday",
        isAllDay=True,
        showAs="free",
        attendees=[],
        start={"dateTime": "2026-12-24T00:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2026-12-26T00:00:00.0000000", "timeZone": "UTC"},
    )


def page(*events: dict[str, Any], owner: str = ADELE_ID, **more: Any) -> dict[str, Any]:
    return {"@odata.context": f"{GRAPH}users('{owner}')/events", "value": list(events), **more}


def with_pages(pages: Any) -> dict[str, Any]:
    """The demo tenant's directory and calendars, its events replaced by Graph pages."""
    tenant = json.loads(DEMO_TENANT.read_text())
    return {**tenant, "events": pages}


@pytest.fixture
def settings(azurite: Azurite) -> Settings:
    suffix = uuid4().hex[:10]
    return Settings.from_env(
        {
            "AzureWebJobsStorage": azurite.connection_string,
            "CALENDAR_TABLE": f"calendar{suffix}",
            "DIRECTORY_TABLE": f"directory{suffix}",
            "NOTIFICATION_QUEUE": f"cancellations-{suffix}",
        }
    )


@pytest.fixture
def service(settings: Settings) -> Iterator[TableServiceClient]:
    with TableServiceClient.from_connection_string(settings.storage_connection) as client:
        yield client


def calendars(service: TableServiceClient, settings: Settings) -> TableCalendars:
    return TableCalendars(service.get_table_client(settings.calendar_table))


def read(service: TableServiceClient, settings: Settings, event_id: str) -> StoredEvent:
    found = calendars(service, settings).find_event(ADELE_ID, event_id)
    assert found is not None
    return found


# Loading Graph's pages -----------------------------------------------------------------------


def test_a_page_with_one_event_keeps_graphs_id_uid_and_what_the_product_stores(
    settings: Settings, service: TableServiceClient
) -> None:
    sent = graph_event("AAMkAGI1AAAt8AHjAAA=", "Orientation")

    loaded = load(with_pages(page(sent)), settings)

    assert loaded.events == {sent["id"]: (ADELE_ID, sent["id"])}
    stored = read(service, settings, sent["id"])
    event = stored.event
    assert (event.id, event.i_cal_u_id, event.subject, event.type) == (
        sent["id"],
        sent["iCalUId"],
        "Orientation",
        "singleInstance",
    )
    assert (event.is_organizer, event.is_cancelled, event.is_all_day) == (True, False, False)
    assert event.change_key == sent["changeKey"]
    assert event.created_date_time == sent["createdDateTime"]
    assert event.body.content_type == "html"
    assert event.location.display_name == "Assembly Hall"
    assert event.organizer.email_address.address == ADELE
    assert [(a.type, a.status.response, a.email_address.address) for a in event.attendees] == [
        ("required", "none", "MeganB@contoso.example"),
        ("optional", "accepted", "pat@fabrikam.example"),
    ]
    assert (event.start.date_time, event.start.time_zone) == ("2026-12-21T18:00:00.0000000", "UTC")
    assert stored.placement.in_default_calendar
    graph = event.to_graph()
    for ignored in ("webLink", "onlineMeeting", "@odata.etag", "categories"):
        assert ignored not in graph
    assert graph["responseStatus"] == {"response": "organizer", "time": "0001-01-01T00:00:00Z"}
    # Listed in the owner's calendar, found by its iCalUId index row; no attendee copies made.
    listed = calendars(service, settings).list_events(ADELE_ID, None)
    assert [s.event.id for s in listed] == [sent["id"]]
    megan = TableDirectory(service.get_table_client(settings.directory_table)).find_user(
        "meganb@contoso.example"
    )
    assert megan is not None
    assert calendars(service, settings).list_events(megan.id, None) == []
    index = service.get_table_client(settings.calendar_table).get_entity(
        ADELE_ID, f"ical|{sent['iCalUId']}"
    )
    assert index["EventId"] == sent["id"]


def test_a_series_master_keeps_its_recurrence_and_cancelled_occurrences(
    settings: Settings, service: TableServiceClient
) -> None:
    master = weekly_master()
    master["cancelledOccurrences"] = [f"OID.{master['id']}.2027-01-18"]

    load(with_pages(page(master)), settings)

    event = read(service, settings, master["id"]).event
    assert event.type == "seriesMaster"
    assert event.recurrence is not None
    assert event.recurrence.range.recurrence_time_zone == "Pacific Standard Time"
    assert event.cancelled_occurrences == (f"OID.{master['id']}.2027-01-18",)
    series = Series(event)
    first = series.occurrence(date(2027, 1, 4))
    assert first is not None
    # 17:00 UTC in January is 09:00 in Pacific time, the series' wall clock.
    assert first.start.date_time.startswith("2027-01-04T09:00:00")
    assert series.is_cancelled(date(2027, 1, 18))
    assert series.occurrence(date(2027, 4, 5)) is None  # past the end date


def test_an_all_day_event_stays_midnight_to_midnight(
    settings: Settings, service: TableServiceClient
) -> None:
    holiday = all_day()

    load(with_pages(page(holiday)), settings)

    event = read(service, settings, holiday["id"]).event
    assert event.is_all_day is True
    assert (event.start.date_time, event.end.date_time) == (
        "2026-12-24T00:00:00.0000000",
        "2026-12-26T00:00:00.0000000",
    )
    assert event.attendees == ()


def test_an_attendees_copy_in_a_snapshot_stays_a_copy(
    settings: Settings, service: TableServiceClient
) -> None:
    copy = graph_event(
        "AAMkAGI1AAAt7AHjAAA=",
        "Budget check-in",
        isOrganizer=False,
        responseStatus={"response": "accepted", "time": "2026-11-16T10:00:00Z"},
        organizer={"emailAddress": {"name": "Alex Wilber", "address": "AlexW@contoso.example"}},
    )

    load(with_pages(page(copy)), settings)

    event = read(service, settings, copy["id"]).event
    assert event.is_organizer is False
    assert event.to_graph()["responseStatus"] == copy["responseStatus"]  # as the mailbox holds it
    assert event.organizer.email_address.address == "AlexW@contoso.example"


def test_pages_of_a_next_link_chain_all_load(
    settings: Settings, service: TableServiceClient
) -> None:
    first = page(
        graph_event("AAMkAGI1AAAt1AHjAAA=", "One"),
        **{"@odata.nextLink": "https://graph.microsoft.com/v1.0/me/events?$skip=1"},
    )
    second = page(graph_event("AAMkAGI1AAAt2AHjAAA=", "Two"), all_day())

    loaded = load(with_pages([first, second]), settings)

    assert len(loaded.events) == 3
    listed = calendars(service, settings).list_events(ADELE_ID, None)
    assert sorted(s.event.subject for s in listed) == ["Company holiday", "One", "Two"]


def test_a_calendar_view_page_skips_occurrences_and_attaches_exceptions(
    settings: Settings, service: TableServiceClient
) -> None:
    master = weekly_master()
    occurrence = graph_event(
        "AAMkAGI1AAAt9AHjAAABEgAQAAA=",
        "Weekly sync",
        type="occurrence",
        seriesMasterId=master["id"],
        originalStart="2027-01-11T17:00:00Z",
        start={"dateTime": "2027-01-11T17:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2027-01-11T17:30:00.0000000", "timeZone": "UTC"},
    )
    exception = graph_event(
        "AAMkAGI1AAAt9AHjAAABEgAQAAB=",
        "Weekly sync (moved)",
        type="exception",
        seriesMasterId=master["id"],
        originalStart="2027-01-18T17:00:00Z",
        start={"dateTime": "2027-01-18T19:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2027-01-18T19:30:00.0000000", "timeZone": "UTC"},
    )
    orphan = {**deepcopy(exception), "id": "AAMkAGI1AAAt9AHjAAABEgAQAAC=", "seriesMasterId": "X"}
    view = {
        "@odata.context": f"{GRAPH}users('{ADELE_ID}')/calendarView",
        "value": [occurrence, exception, master, orphan],
    }

    loaded = load(with_pages(view), settings)

    assert set(loaded.events) == {master["id"]}
    assert len(loaded.skipped) == 2
    assert "an occurrence" in loaded.skipped[0]
    assert occurrence["id"] in loaded.skipped[0]
    assert "not loaded" in loaded.skipped[1]
    assert orphan["id"] in loaded.skipped[1]
    event = read(service, settings, master["id"]).event
    assert [(c.original_date, c.subject) for c in event.exceptions] == [
        (date(2027, 1, 18), "Weekly sync (moved)")
    ]
    moved = Series(event).occurrence(date(2027, 1, 18))
    assert moved is not None
    assert (moved.type, moved.id) == ("exception", f"OID.{master['id']}.2027-01-18")
    assert moved.start.date_time.startswith("2027-01-18T19:00:00")


def test_exceptions_expanded_inline_are_attached(
    settings: Settings, service: TableServiceClient
) -> None:
    master = weekly_master()
    master["exceptionOccurrences"] = [
        graph_event(
            "AAMkAGI1AAAt9AHjAAABEgAQAAD=",
            "Weekly sync (late)",
            type="exception",
            seriesMasterId=master["id"],
            # 17:00 UTC on 1 February is 09:00 that Monday in Pacific time.
            originalStart="2027-02-01T17:00:00Z",
            start={"dateTime": "2027-02-01T20:00:00.0000000", "timeZone": "UTC"},
            end={"dateTime": "2027-02-01T20:30:00.0000000", "timeZone": "UTC"},
        )
    ]

    load(with_pages(page(master)), settings)

    event = read(service, settings, master["id"]).event
    assert [c.original_date for c in event.exceptions] == [date(2027, 2, 1)]


def test_a_named_calendar_in_the_context_holds_the_page(
    settings: Settings, service: TableServiceClient
) -> None:
    calendar_id = "AAMkAGI1AAAWorkCal="
    sent = graph_event("AAMkAGI1AAAt3AHjAAA=", "In the work calendar")
    work = {
        "@odata.context": f"{GRAPH}users('{ADELE_ID}')/calendars('{calendar_id}')/events",
        "value": [sent],
    }

    load(with_pages(work), settings)

    stored = read(service, settings, sent["id"])
    assert stored.placement.calendar_id == calendar_id
    assert not stored.placement.in_default_calendar
    assert calendars(service, settings).find_calendar(ADELE_ID, calendar_id) is not None


# Owners --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "context_owner",
    [ADELE_ID, ADELE_ID.upper(), "AdeleV%40contoso.example", "adelev@contoso.example"],
    ids=["id", "ID", "upn-percent-encoded", "upn"],
)
def test_the_context_names_the_owner(
    settings: Settings, service: TableServiceClient, context_owner: str
) -> None:
    sent = graph_event("AAMkAGI1AAAt4AHjAAA=", "Mine")

    load(with_pages(page(sent, owner=context_owner)), settings)

    assert read(service, settings, sent["id"]).event.subject == "Mine"


def test_without_a_context_the_organizer_names_the_owner() -> None:
    sent = graph_event("AAMkAGI1AAAt4AHjAAA=", "Mine")

    loaded, _, _ = build(with_pages({"value": [sent]}))

    assert loaded.events[sent["id"]] == (ADELE_ID, sent["id"])


def test_owner_given_outranks_the_context() -> None:
    alex = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
    sent = graph_event("AAMkAGI1AAAt4AHjAAA=", "Alex's now")

    loaded, _, _ = build(as_tenant(with_pages(page(sent)), owner="AlexW@contoso.example"))

    assert loaded.events[sent["id"]] == (alex, sent["id"])


def test_a_page_of_a_user_not_in_the_file_is_refused() -> None:
    sent = graph_event("AAMkAGI1AAAt4AHjAAA=", "Whose?")
    stranger = "00000000-0000-4000-8000-000000000001"

    with pytest.raises(ValueError, match=f"page 1: whose mailbox it is \\({stranger}\\)"):
        build(with_pages(page(sent, owner=stranger)))


def test_a_page_alone_with_an_owner_makes_that_user(
    settings: Settings, service: TableServiceClient
) -> None:
    sent = graph_event(
        "AAMkAGI1AAAt5AHjAAA=",
        "Snapshot",
        organizer={"emailAddress": {"name": "Dana Swope", "address": "danas@fabrikam.example"}},
    )
    dana_id = "cd209b0b-3f83-4c35-82d2-d88a61820480"

    loaded = load(as_tenant(page(sent, owner=dana_id), owner="danas@fabrikam.example"), settings)

    dana = TableDirectory(service.get_table_client(settings.directory_table)).find_user(
        "danas@fabrikam.example"
    )
    assert dana is not None
    assert (dana.id, dana.display_name) == (dana_id, "Dana Swope")
    assert loaded.events[sent["id"]] == (dana_id, sent["id"])
    found = calendars(service, settings).find_event(dana_id, sent["id"])
    assert found is not None
    assert found.event.subject == "Snapshot"


def test_a_page_alone_needs_an_owner() -> None:
    with pytest.raises(ValueError, match="--owner"):
        as_tenant(page(graph_event("AAMkAGI1AAAt5AHjAAA=", "Snapshot")))


def test_the_command_loads_a_page_alone(
    azurite: Azurite, settings: Settings, service: TableServiceClient, tmp_path: Path
) -> None:
    sent = all_day()
    snapshot = tmp_path / "page.json"
    snapshot.write_text(json.dumps(page(sent, owner="someone%40fabrikam.example")))
    env = {
        **os.environ,
        "AzureWebJobsStorage": azurite.connection_string,
        "CALENDAR_TABLE": settings.calendar_table,
        "DIRECTORY_TABLE": settings.directory_table,
    }

    done = subprocess.run(
        [sys.executable, "-m", "devtools.load", str(snapshot), "--owner", "pat@fabrikam.example"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert sent["id"] in done.stdout
    pat = TableDirectory(service.get_table_client(settings.directory_table)).find_user(
        "pat@fabrikam.example"
    )
    assert pat is not None
    found = calendars(service, settings).find_event(pat.id, sent["id"])
    assert found is not None
    assert found.event.is_all_day


# Refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "change"),
    [
        (
            "start",
            {
                "start": {
                    "dateTime": "2026-12-21T10:00:00.0000000",
                    "timeZone": "tzone://Microsoft/Custom",
                }
            },
        ),
        (
            "end",
            {
                "end": {
                    "dateTime": "2026-12-21T12:00:00.0000000",
                    "timeZone": "tzone://Microsoft/Custom",
                }
            },
        ),
    ],
)
def test_a_custom_zone_is_refused_naming_the_event(
    settings: Settings, service: TableServiceClient, where: str, change: dict[str, Any]
) -> None:
    sent = graph_event("AAMkAGI1AAAt6AHjAAA=", "Custom zone", **change)
    fine = graph_event("AAMkAGI1AAAt1AHjAAA=", "Fine")

    with pytest.raises(UnknownTimeZone) as refused:
        load(with_pages(page(fine, sent)), settings)

    message = str(refused.value)
    assert "'Custom zone'" in message
    assert sent["id"] in message
    assert "tzone://Microsoft/Custom" in message
    assert settings.calendar_table not in [t.name for t in service.list_tables()]  # nothing


def test_a_custom_recurrence_zone_is_refused_naming_the_event() -> None:
    master = weekly_master()
    master["recurrence"]["range"]["recurrenceTimeZone"] = "tzone://Microsoft/Custom"

    with pytest.raises(UnknownTimeZone, match="Weekly sync"):
        build(with_pages(page(master)))


def test_graphs_utc_zone_name_is_utc(settings: Settings, service: TableServiceClient) -> None:
    master = weekly_master()
    master["recurrence"]["range"]["recurrenceTimeZone"] = "tzone://Microsoft/Utc"

    load(with_pages(page(master)), settings)

    event = read(service, settings, master["id"]).event
    assert event.recurrence is not None
    assert event.recurrence.range.recurrence_time_zone == "UTC"


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "AAMk/AGI1AAAt6AHjAAA="), ("iCalUId", "abc#def"), ("id", "a" * 500)],
    ids=["slash-in-id", "hash-in-uid", "id-too-long"],
)
def test_an_id_a_table_key_cannot_hold_is_refused(field: str, value: str) -> None:
    sent = graph_event("AAMkAGI1AAAt6AHjAAA=", "Bad id", **{field: value})

    with pytest.raises(ValueError, match=r"'Bad id'.*malformed"):
        build(with_pages(page(sent)))


def test_two_events_with_one_icaluid_in_a_mailbox_are_refused() -> None:
    first = graph_event("AAMkAGI1AAAt1AHjAAA=", "First")
    second = graph_event("AAMkAGI1AAAt2AHjAAA=", "Second", iCalUId=first["iCalUId"])

    with pytest.raises(ValueError, match=f"'Second'.*also that of event {first['id']}"):
        build(with_pages(page(first, second)))


def test_a_cancelled_occurrence_of_another_series_is_refused() -> None:
    master = weekly_master()
    master["cancelledOccurrences"] = ["OID.AAMkSomeoneElse.2027-01-18"]

    with pytest.raises(ValueError, match="not one of its own"):
        build(with_pages(page(master)))
