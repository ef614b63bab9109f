"""Every documented cancel route, in the docs' spelling and the SDK's, cancels over HTTP."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Stack

ADELE = "AdeleV@contoso.example"
MEGAN = "MeganB@contoso.example"
MARKETING = "marketing@contoso.example"

# (route template, caller, event key, how {user} is written)
ROUTES = [
    ("me/events/{id}/cancel", ADELE, "planning", None),
    ("users/{user}/events/{id}/cancel", ADELE, "planning", "upn"),
    ("groups/{group}/events/{id}/cancel", MEGAN, "marketing-sync", None),
    ("me/calendar/events/{id}/cancel", ADELE, "planning", None),
    ("users/{user}/calendar/events/{id}/cancel", ADELE, "planning", "id"),
    ("groups/{group}/calendar/events/{id}/cancel", MEGAN, "marketing-sync", None),
    ("me/calendars/{projects}/events/{id}/cancel", ADELE, "launch", None),
    ("users/{user}/calendars/{projects}/events/{id}/cancel", ADELE, "launch", "upn"),
    ("me/calendargroup/calendars/{projects}/events/{id}/cancel", ADELE, "launch", None),
    ("users/{user}/calendargroup/calendars/{default}/events/{id}/cancel", ADELE, "planning", "id"),
    ("me/calendargroups/{travel}/calendars/{trips}/events/{id}/cancel", ADELE, "offsite", None),
    (
        "users/{user}/calendargroups/{travel}/calendars/{trips}/events/{id}/cancel",
        ADELE,
        "offsite",
        "upn",
    ),
]


SDK_LITERALS = {
    "calendargroups": "calendarGroups",
    "calendargroup": "calendarGroup",
    "me": "Me",
    "events": "Events",
    "calendar": "Calendar",
}


def sdk_spelling(path: str) -> str:
    """The SDK writes calendarGroups; literal segments match in any letter case."""
    return "/".join(SDK_LITERALS.get(segment, segment) for segment in path.split("/"))


def fill(stack: Stack, template: str, key: str, user_form: str | None) -> str:
    _, event_id = stack.event(key)
    adele = stack.tenant.users[ADELE.lower()]
    calendars = stack.tenant.calendars[adele.id]
    values = {
        "user": adele.user_principal_name if user_form == "upn" else adele.id,
        "group": stack.tenant.groups[MARKETING].id,
        "projects": calendars["Projects"].calendar_id,
        "default": calendars["Calendar"].calendar_id,
        "travel": calendars["Trips"].calendar_group_id,
        "trips": calendars["Trips"].calendar_id,
        "id": event_id,
    }
    return template.format(**values)


@pytest.mark.parametrize("spelling", ["docs", "sdk"])
@pytest.mark.parametrize(("template", "caller", "key", "user_form"), ROUTES)
def test_organizer_cancels_through_every_route(
    stack: Stack, template: str, caller: str, key: str, user_form: str | None, spelling: str
) -> None:
    path = fill(stack, template, key, user_form)
    if spelling == "sdk":
        path = sdk_spelling(path)
    owner, event_id = stack.event(key)
    before = stack.row(owner, f"event|{event_id}")
    assert before is not None
    assert before["Folder"] == "calendar"

    response = stack.post(path, stack.token(caller), b'{"Comment": "Off this week"}')

    assert response.status_code == 202, response.text
    assert response.content == b""
    assert re.fullmatch(r"[0-9a-f-]{36}", response.headers["request-id"])
    assert response.headers["client-request-id"] == response.headers["request-id"]
    after = stack.row(owner, f"event|{event_id}")
    assert after is not None
    assert after["Folder"] == "deleteditems"
    outbox = stack.row(owner, f"outbox|{event_id}")
    assert outbox is not None
    assert outbox["Status"] == "pending"
    assert '"comment":"Off this week"' in outbox["Notification"]
    assert stack.messages() == [{"mailbox": owner, "notification": event_id}]


def test_cancelled_event_leaves_the_calendar(stack: Stack) -> None:
    _, event_id = stack.event("planning")
    token = stack.token(ADELE)
    assert stack.get(f"me/events/{event_id}", token).status_code == 200

    assert stack.post(f"me/events/{event_id}/cancel", token).status_code == 202

    gone = stack.get(f"me/events/{event_id}", token)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "ErrorItemNotFound"
    again = stack.post(f"me/events/{event_id}/cancel", token)
    assert again.status_code == 404


def test_get_returns_graph_json(stack: Stack) -> None:
    _, event_id = stack.event("planning")
    response = stack.get(f"users/{ADELE}/events/{event_id}", stack.token(ADELE))

    assert response.status_code == 200
    event = response.json()
    assert event["id"] == event_id
    assert event["subject"] == "Quarterly planning"
    assert event["isOrganizer"] is True
    assert event["isCancelled"] is False
    assert event["organizer"]["emailAddress"]["address"] == ADELE
    assert event["start"] == {"dateTime": "2026-12-03T23:00:00.0000000", "timeZone": "UTC"}
    assert event["originalStartTimeZone"] == "Pacific Standard Time"
    assert event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    assert event["@odata.context"].endswith(f"/api/$metadata#users('{ADELE}')/events/$entity")
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == [
        "AlexW@contoso.example",
        MEGAN,
        "pat@fabrikam.example",
    ]
    assert "cancelledOccurrences" not in event  # a single event, not a series master
    assert "sequence" not in event


def test_client_request_id_is_echoed(stack: Stack) -> None:
    _, event_id = stack.event("planning")
    response = stack.post(
        f"me/events/{event_id}/cancel",
        stack.token(ADELE),
        headers={"client-request-id": "7f1c4a52-5b1e-4a1b-9c39-0c7c1f0e2d11"},
    )
    assert response.status_code == 202
    assert response.headers["client-request-id"] == "7f1c4a52-5b1e-4a1b-9c39-0c7c1f0e2d11"
    assert response.headers["request-id"] != response.headers["client-request-id"]


def test_application_caller_cancels_in_any_mailbox(stack: Stack) -> None:
    owner, event_id = stack.event("planning")
    response = stack.post(f"users/{owner}/events/{event_id}/cancel", stack.app_token())
    assert response.status_code == 202
    assert stack.row(owner, f"outbox|{event_id}") is not None
