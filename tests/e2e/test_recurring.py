"""Recurring meetings over HTTP against Azurite: one occurrence, or the whole series."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from devtools.load import DEMO_TENANT, load
from tests.e2e.conftest import Stack

ADELE = "AdeleV@contoso.example"
ALEX = "AlexW@contoso.example"
NOT_FOUND = "The specified object was not found in the store."
ORGANIZER_ONLY = "Your request can't be completed. You need to be an organizer to cancel a meeting."
ATTENDEES = [{"type": "required", "emailAddress": {"name": "Alex Wilber", "address": ALEX}}]


def add_series(
    stack: Stack,
    key: str,
    pattern: dict[str, Any],
    span: dict[str, Any],
    *,
    tz: str = "UTC",
    start: str = "09:00",
) -> str:
    """Load one more series organized by Adele; its master id."""
    first = span["startDate"]
    tenant = json.loads(DEMO_TENANT.read_text())
    tenant["events"] = [
        {
            "key": key,
            "owner": ADELE,
            "subject": f"Series {key}",
            "start": {"dateTime": f"{first}T{start}:00.0000000", "timeZone": tz},
            "end": {"dateTime": f"{first}T{start[:2]}:45:00.0000000", "timeZone": tz},
            "attendees": ATTENDEES,
            "recurrence": {"pattern": pattern, "range": {**span, "recurrenceTimeZone": tz}},
        }
    ]
    loaded = load(tenant, stack.settings)
    stack.tenant.copies[key] = loaded.copies[key]
    return loaded.events[key][1]


def master_json(stack: Stack, master_id: str) -> dict[str, Any]:
    response = stack.get(f"me/events/{master_id}", stack.token(ADELE))
    assert response.status_code == 200, response.text
    return dict(response.json())


def instance_dates(stack: Stack, master_id: str, start: str, end: str) -> list[str]:
    response = stack.get(
        f"me/events/{master_id}/instances?startDateTime={start}&endDateTime={end}",
        stack.token(ADELE),
    )
    assert response.status_code == 200, response.text
    return [event["id"].rsplit(".", 1)[1] for event in response.json()["value"]]


def cancel(stack: Stack, event_id: str, comment: str = "Not this time") -> int:
    body = json.dumps({"Comment": comment}).encode()
    return stack.post(f"me/events/{event_id}/cancel", stack.token(ADELE), body).status_code


def outbox(stack: Stack, notification_id: str) -> dict[str, Any]:
    row = stack.row(stack.user(ADELE), f"outbox|{notification_id}")
    assert row is not None
    text = "".join(str(row[k]) for k in sorted(row) if k.startswith("Notification"))
    return dict(json.loads(text))


@dataclass(frozen=True)
class Case:
    pattern: dict[str, Any]
    span: dict[str, Any]
    day: str
    """An occurrence to cancel."""
    not_a_day: str
    window_end: str
    remaining: list[str]
    """The window's occurrences (from 2027-01-01) after the cancel."""


SERIES = {
    "daily": Case(
        {"type": "daily", "interval": 2},
        {"type": "endDate", "startDate": "2027-01-04", "endDate": "2027-01-12"},
        "2027-01-08",
        "2027-01-07",
        "2029-12-31",
        ["2027-01-04", "2027-01-06", "2027-01-10", "2027-01-12"],
    ),
    "weekly": Case(
        {"type": "weekly", "daysOfWeek": ["tuesday", "thursday"], "firstDayOfWeek": "monday"},
        {"type": "numbered", "startDate": "2027-01-05", "numberOfOccurrences": 4},
        "2027-01-07",
        "2027-01-06",
        "2029-12-31",
        ["2027-01-05", "2027-01-12", "2027-01-14"],
    ),
    "absoluteMonthly": Case(
        {"type": "absoluteMonthly", "dayOfMonth": 20},
        {"type": "noEnd", "startDate": "2027-01-01"},
        "2027-02-20",
        "2027-02-21",
        "2027-04-01",
        ["2027-01-20", "2027-03-20"],
    ),
    "relativeMonthly": Case(
        {"type": "relativeMonthly", "daysOfWeek": ["wednesday"], "index": "third"},
        {"type": "endDate", "startDate": "2027-01-01", "endDate": "2027-03-31"},
        "2027-02-17",
        "2027-02-10",
        "2029-12-31",
        ["2027-01-20", "2027-03-17"],
    ),
    "absoluteYearly": Case(
        {"type": "absoluteYearly", "month": 2, "dayOfMonth": 14},
        {"type": "numbered", "startDate": "2027-01-01", "numberOfOccurrences": 3},
        "2028-02-14",
        "2028-02-15",
        "2031-12-31",
        ["2027-02-14", "2029-02-14"],
    ),
    "relativeYearly": Case(
        {"type": "relativeYearly", "month": 5, "daysOfWeek": ["monday"], "index": "last"},
        {"type": "noEnd", "startDate": "2027-01-01"},
        "2028-05-29",
        "2028-05-22",
        "2029-12-31",
        ["2027-05-31", "2029-05-28"],
    ),
}


@pytest.mark.parametrize("kind", sorted(SERIES))
def test_cancel_one_occurrence_of_each_pattern(stack: Stack, kind: str) -> None:
    case = SERIES[kind]
    day = case.day
    master_id = add_series(stack, kind, case.pattern, case.span)
    oid = f"OID.{master_id}.{day}"
    assert stack.get(f"me/events/{oid}", stack.token(ADELE)).status_code == 200

    assert cancel(stack, oid) == 202

    master = master_json(stack, master_id)
    assert master["cancelledOccurrences"] == [oid]
    assert master["type"] == "seriesMaster"
    assert master["isCancelled"] is False
    assert stack.get(f"me/events/{oid}", stack.token(ADELE)).status_code == 404
    assert instance_dates(stack, master_id, "2027-01-01", case.window_end) == case.remaining
    note = outbox(stack, oid)
    assert (note["occurrenceId"], note["eventId"]) == (oid, master_id)
    assert note["originalStart"] == f"{day}T09:00:00Z"
    assert note["start"]["dateTime"] == f"{day}T09:00:00.0000000"
    assert stack.messages() == [{"mailbox": stack.user(ADELE), "notification": oid}]

    before = stack.snapshot()
    for refused in (oid, f"OID.{master_id}.{case.not_a_day}"):
        response = stack.post(f"me/events/{refused}/cancel", stack.token(ADELE))
        assert response.status_code == 404
        assert response.json()["error"]["message"] == NOT_FOUND
    assert stack.snapshot() == before


def test_occurrences_on_each_side_of_daylight_saving_in_a_windows_zone(stack: Stack) -> None:
    _, master_id = stack.event("weekly-sync")  # Mondays 09:00 Pacific Standard Time
    before_dst, after_dst = f"OID.{master_id}.2027-03-08", f"OID.{master_id}.2027-03-15"
    pacific = 'outlook.timezone="Pacific Standard Time"'
    for oid, utc_hour in ((before_dst, 17), (after_dst, 16)):
        day, url = oid[-10:], f"{stack.base_url}/me/events/{oid}"
        occurrence = stack.get(f"me/events/{oid}", stack.token(ADELE)).json()
        assert occurrence["start"] == {
            "dateTime": f"{day}T{utc_hour}:00:00.0000000",
            "timeZone": "UTC",
        }
        assert occurrence["originalStartTimeZone"] == "Pacific Standard Time"
        headers = {"Authorization": f"Bearer {stack.token(ADELE)}", "Prefer": pacific}
        local = stack.http.get(url, headers=headers, timeout=30)
        assert local.headers["Preference-Applied"] == pacific
        assert local.json()["start"] == {
            "dateTime": f"{day}T09:00:00.0000000",
            "timeZone": "Pacific Standard Time",
        }
        assert cancel(stack, oid) == 202

    assert outbox(stack, before_dst)["originalStart"] == "2027-03-08T17:00:00Z"
    assert outbox(stack, after_dst)["originalStart"] == "2027-03-15T16:00:00Z"
    assert master_json(stack, master_id)["cancelledOccurrences"] == [before_dst, after_dst]
    dates = instance_dates(stack, master_id, "2027-03-01T00:00:00Z", "2027-03-31T00:00:00Z")
    assert dates == ["2027-03-01", "2027-03-22", "2027-03-29"]


def test_get_of_an_occurrence_is_graph_json(stack: Stack) -> None:
    _, master_id = stack.event("all-hands")  # first Thursday, W. Europe Standard Time
    oid = f"OID.{master_id}.2027-02-04"
    occurrence = stack.get(f"me/events/{oid}", stack.token(ADELE)).json()
    assert occurrence["id"] == oid
    assert occurrence["type"] == "occurrence"
    assert occurrence["seriesMasterId"] == master_id
    assert occurrence["occurrenceId"] == oid
    assert occurrence["originalStart"] == "2027-02-04T15:00:00Z"
    assert occurrence["recurrence"] is None
    assert occurrence["subject"] == "Monthly all hands"


def test_cancel_an_exception_occurrence(stack: Stack) -> None:
    _, master_id = stack.event("weekly-sync")
    oid = f"OID.{master_id}.2027-02-15"
    exception = stack.get(f"me/events/{oid}", stack.token(ADELE)).json()
    assert exception["type"] == "exception"
    assert exception["start"]["dateTime"] == "2027-02-15T19:00:00.0000000"  # 11:00 PST

    assert cancel(stack, oid) == 202

    note = outbox(stack, oid)
    assert note["subject"] == "Weekly team sync (Presidents' Day: moved to 11:00)"
    assert note["start"]["dateTime"] == "2027-02-15T11:00:00.0000000"
    assert note["originalStart"] == "2027-02-15T17:00:00Z"
    assert stack.get(f"me/events/{oid}", stack.token(ADELE)).status_code == 404


def test_an_occurrence_of_a_cancelled_series_is_not_found(stack: Stack) -> None:
    owner, master_id = stack.event("weekly-sync")
    assert cancel(stack, master_id) == 202
    row = stack.row(owner, f"event|{master_id}")
    assert row is not None
    assert row["Folder"] == "deleteditems"
    before = stack.snapshot()

    response = stack.post(f"me/events/OID.{master_id}.2027-01-11/cancel", stack.token(ADELE))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ErrorItemNotFound"
    assert stack.snapshot() == before
    instances = stack.get(
        f"me/events/{master_id}/instances?startDateTime=2027-01-01&endDateTime=2027-02-01",
        stack.token(ADELE),
    )
    assert instances.status_code == 404


def test_attendee_cancelling_an_occurrence_of_their_copy(stack: Stack) -> None:
    copy = stack.tenant.copies["weekly-sync"][stack.user(ALEX)]
    copy_json = stack.get(f"me/events/{copy}", stack.token(ALEX)).json()
    assert copy_json["type"] == "seriesMaster"
    assert copy_json["isOrganizer"] is False
    before = stack.snapshot()

    response = stack.post(f"me/events/OID.{copy}.2027-01-11/cancel", stack.token(ALEX))

    assert response.status_code == 400
    assert response.json()["error"] == {
        **response.json()["error"],
        "code": "ErrorInvalidRequest",
        "message": ORGANIZER_ONLY,
    }
    assert stack.snapshot() == before


@pytest.mark.parametrize(
    "query", ["", "?startDateTime=2027-01-01", "?startDateTime=x&endDateTime=y"]
)
def test_instances_need_a_time_window(stack: Stack, query: str) -> None:
    _, master_id = stack.event("weekly-sync")
    response = stack.get(f"me/events/{master_id}/instances{query}", stack.token(ADELE))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ErrorInvalidParameter"
