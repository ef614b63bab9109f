"""Creating events over HTTP (DESIGN.md section 11): `POST …/events` on every path that takes
it answers 201 with the event as `GET` returns it, the event is listed, a meeting's invitation
is in the outbox and on the queue, `transactionId` makes retries and races one event, and each
bad body or caller is Graph's error with storage unchanged. (The worker's side of invitations
is tested in `mail/`.)"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Stack
from tests.e2e.test_graph_surface import (
    ADELE,
    ALEX,
    MALFORMED,
    MARKETING,
    PACIFIC,
    PREFER_PACIFIC,
    adele,
    assert_error,
    assert_refused,
    get,
    marketing,
    post,
    root,
    send,
    values,
)

MEGAN = "MeganB@contoso.example"


def meeting(**changes: Any) -> dict[str, Any]:
    """What the official SDK sends for a meeting with two attendees (annotations included)."""
    return {
        "@odata.type": "#microsoft.graph.event",
        "subject": "Design review",
        "body": {"contentType": "HTML", "content": "<p>Bring the drafts</p>"},
        "start": {"dateTime": "2026-12-07T09:00:00", "timeZone": PACIFIC},
        "end": {"dateTime": "2026-12-07T10:00:00", "timeZone": PACIFIC},
        "location": {"displayName": "Room 4"},
        "attendees": [
            {
                "@odata.type": "#microsoft.graph.attendee",
                "type": "required",
                "emailAddress": {"address": ALEX, "name": "Alex Wilber"},
            },
            {"type": "optional", "emailAddress": {"address": "pat@fabrikam.example"}},
        ],
        "showAs": "busy",
        "isReminderOn": True,
        **changes,
    }


def create(
    stack: Stack,
    body: dict[str, Any] | None = None,
    path: str = "v1.0/me/events",
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    document = json.dumps(meeting() if body is None else body).encode()
    return post(stack, path, token or adele(stack), document, headers)


def created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return dict(response.json())


# 201 and what is stored ----------------------------------------------------------------------


def test_a_create_answers_201_with_the_event_as_get_returns_it(stack: Stack) -> None:
    answer = created(create(stack))
    owner = stack.user(ADELE)
    assert answer["@odata.context"] == (
        f"{root(stack)}/v1.0/$metadata#users('{owner}')/events/$entity"
    )
    assert answer["@odata.etag"] == f'W/"{answer["changeKey"]}"'
    assert answer["subject"] == "Design review"
    assert answer["body"] == {"contentType": "html", "content": "<p>Bring the drafts</p>"}
    assert answer["start"] == {"dateTime": "2026-12-07T17:00:00.0000000", "timeZone": "UTC"}
    assert answer["end"] == {"dateTime": "2026-12-07T18:00:00.0000000", "timeZone": "UTC"}
    assert (answer["originalStartTimeZone"], answer["originalEndTimeZone"]) == (PACIFIC, PACIFIC)
    assert (answer["isOrganizer"], answer["type"], answer["isAllDay"]) == (
        True,
        "singleInstance",
        False,
    )
    assert answer["organizer"] == {
        "emailAddress": {"name": "Adele Vance", "address": ADELE},
    }
    assert answer["iCalUId"].startswith("040000008200E00074C5B7101A82E008")
    assert [(a["type"], a["status"]["response"]) for a in answer["attendees"]] == [
        ("required", "none"),
        ("optional", "none"),
    ]
    assert answer["location"] == {"displayName": "Room 4"}
    assert answer["createdDateTime"] == answer["lastModifiedDateTime"]

    again = get(stack, f"v1.0/me/events/{answer['id']}", adele(stack))
    assert again.status_code == 200
    assert again.json() == answer


def test_prefer_outlook_timezone_is_honoured_as_get_honours_it(stack: Stack) -> None:
    response = create(stack, headers={"Prefer": PREFER_PACIFIC})
    answer = created(response)
    assert response.headers["Preference-Applied"] == PREFER_PACIFIC
    assert answer["start"] == {"dateTime": "2026-12-07T09:00:00.0000000", "timeZone": PACIFIC}
    read = get(stack, f"v1.0/me/events/{answer['id']}", adele(stack), {"Prefer": PREFER_PACIFIC})
    assert read.json() == answer


def test_the_new_event_is_listed(stack: Stack) -> None:
    answer = created(create(stack))
    token = adele(stack)
    listed = values(get(stack, "v1.0/me/events?$filter=subject eq 'Design review'", token))
    assert [e["id"] for e in listed] == [answer["id"]]
    by_uid = values(get(stack, f"v1.0/me/events?$filter=iCalUId eq '{answer['iCalUId']}'", token))
    assert [e["id"] for e in by_uid] == [answer["id"]]
    window = "startDateTime=2026-12-07T00:00:00Z&endDateTime=2026-12-08T00:00:00Z"
    view = values(get(stack, f"v1.0/me/calendarView?{window}", token))
    assert answer["id"] in [e["id"] for e in view]


def test_a_meetings_invitation_is_in_the_outbox_and_on_the_queue(stack: Stack) -> None:
    answer = created(create(stack))
    owner = stack.user(ADELE)
    notification_id = f"{answer['id']}.invitation"
    row = stack.row(owner, f"outbox|{notification_id}")
    assert row is not None
    assert row["Status"] == "pending"
    notification = json.loads(row["Notification"])
    assert (notification["method"], notification["sequence"], notification["eventId"]) == (
        "REQUEST",
        0,
        answer["id"],
    )
    assert [a["emailAddress"]["address"] for a in notification["attendees"]] == [
        ALEX,
        "pat@fabrikam.example",
    ]
    assert {"mailbox": owner, "notification": notification_id}.items() <= next(
        m for m in stack.messages() if m["notification"] == notification_id
    ).items()
    index = stack.row(owner, f"ical|{answer['iCalUId']}")
    assert index is not None
    assert index["EventId"] == answer["id"]


def test_an_event_without_attendees_queues_nothing(stack: Stack) -> None:
    answer = created(create(stack, meeting(attendees=[])))
    owner = stack.user(ADELE)
    assert stack.row(owner, f"outbox|{answer['id']}.invitation") is None
    assert stack.messages() == []


def test_a_series_and_an_all_day_event(stack: Stack) -> None:
    series = created(
        create(
            stack,
            meeting(
                recurrence={
                    "pattern": {"type": "weekly", "daysOfWeek": ["Monday"]},
                    "range": {
                        "type": "numbered",
                        "startDate": "2026-12-07",
                        "numberOfOccurrences": 4,
                    },
                }
            ),
        )
    )
    assert series["type"] == "seriesMaster"
    assert series["recurrence"]["range"]["recurrenceTimeZone"] == PACIFIC
    window = "startDateTime=2026-12-01T00:00:00Z&endDateTime=2027-01-31T00:00:00Z"
    instances = values(
        get(stack, f"v1.0/me/events/{series['id']}/instances?{window}", adele(stack))
    )
    assert [i["start"]["dateTime"][:10] for i in instances] == [
        "2026-12-07",
        "2026-12-14",
        "2026-12-21",
        "2026-12-28",
    ]
    day = created(
        create(
            stack,
            meeting(
                isAllDay=True,
                start={"dateTime": "2026-12-24", "timeZone": PACIFIC},
                end={"dateTime": "2026-12-26", "timeZone": PACIFIC},
            ),
        )
    )
    assert day["isAllDay"]
    assert day["start"] == {"dateTime": "2026-12-24T00:00:00.0000000", "timeZone": "UTC"}


# Every path that creates -------------------------------------------------------------------


def _paths(stack: Stack) -> list[tuple[str, str, str]]:
    """(path, token's user or "app", the calendar's name in the mailbox) for each spelling."""
    adele_id, alex_id = stack.user(ADELE), stack.user(ALEX)
    mine = stack.tenant.calendars[adele_id]
    projects, trips = mine["Projects"].calendar_id, mine["Trips"].calendar_id
    travel = mine["Trips"].calendar_group_id
    group = marketing(stack)
    return [
        ("v1.0/me/events", ADELE, "Calendar"),
        ("beta/me/calendar/events", ADELE, "Calendar"),
        (f"v1.0/me/calendars/{projects}/events", ADELE, "Projects"),
        (f"v1.0/me/calendarGroup/calendars/{projects}/events", ADELE, "Projects"),
        (f"v1.0/me/calendarGroups/{travel}/calendars/{trips}/events", ADELE, "Trips"),
        (f"v1.0/me/calendargroups/{travel}/calendars/{trips}/events", ADELE, "Trips"),
        (f"v1.0/users/{ADELE}/events", ADELE, "Calendar"),
        (f"v1.0/users/{adele_id}/calendar/events", ADELE, "Calendar"),
        (f"v1.0/users/{ALEX}/events", "app", "Calendar"),
        (f"v1.0/users/{alex_id}/calendar/events", "app", "Calendar"),
        (f"v1.0/groups/{group}/events", ADELE, "Calendar"),
        (f"v1.0/groups/{group}/calendar/events", "app", "Calendar"),
    ]


def test_every_create_path_puts_the_event_in_its_calendar(stack: Stack) -> None:
    for path, who, calendar in _paths(stack):
        token = stack.app_token() if who == "app" else stack.token(who)
        answer = created(create(stack, path=path, token=token))
        owner_segment = path.split("/")[1]
        if owner_segment == "groups":
            owner = marketing(stack)
            assert answer["organizer"]["emailAddress"]["address"] == MARKETING
            context_owner = f"groups('{owner}')"
        else:
            owner = stack.user(ALEX) if who == "app" else stack.user(ADELE)
            named = path.split("/")[2] if owner_segment == "users" else owner
            context_owner = f"users('{named}')"
        assert answer["@odata.context"].endswith(f"#{context_owner}/events/$entity"), path
        row = stack.row(owner, f"event|{answer['id']}")
        assert row is not None, path
        assert row["CalendarId"] == stack.tenant.calendars[owner][calendar].calendar_id, path
        base = path.rsplit("/events", 1)[0]
        read = get(stack, f"{base}/events/{answer['id']}", token)
        assert read.status_code == 200, (path, read.text)
        assert read.json() == answer


def test_a_calendar_that_is_not_there_is_404(stack: Stack) -> None:
    mine = stack.tenant.calendars[stack.user(ADELE)]
    trips = mine["Trips"].calendar_id
    for path in (
        "v1.0/me/calendars/AAMkNoSuchCalendar/events",
        f"v1.0/me/calendarGroup/calendars/{trips}/events",  # Trips is in another group
    ):
        assert_refused(
            stack,
            partial(create, stack, path=path),
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )


# Who may create --------------------------------------------------------------------------------


def test_without_a_token_is_401(stack: Stack) -> None:
    response = assert_refused(
        stack,
        lambda: send(
            stack,
            "POST",
            "v1.0/me/events",
            None,
            body=json.dumps(meeting()).encode(),
            headers={"Content-Type": "application/json"},
        ),
        401,
        "InvalidAuthenticationToken",
        "Access token is empty.",
    )
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_a_read_only_token_is_403(stack: Stack) -> None:
    assert_refused(
        stack,
        lambda: create(stack, token=stack.token(ADELE, ("Calendars.Read",))),
        403,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )


def test_another_users_mailbox_without_rights_is_403(stack: Stack) -> None:
    assert_refused(
        stack,
        lambda: create(stack, path=f"v1.0/users/{ALEX}/events"),
        403,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )
    assert_refused(
        stack,
        lambda: create(
            stack, path=f"v1.0/groups/{marketing(stack)}/events", token=stack.token(ALEX)
        ),
        403,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )


# transactionId -----------------------------------------------------------------------------------

TRANSACTION = "7E163156-7762-4BEB-A1C6-729EA81755A7"


def _event_rows(stack: Stack, subject: str) -> list[dict[str, Any]]:
    return [
        row
        for row in stack.rows()
        if str(row["RowKey"]).startswith("event|") and f'"subject":"{subject}"' in row["Event"]
    ]


def test_a_retried_create_answers_the_first_event(stack: Stack) -> None:
    first = created(create(stack, meeting(transactionId=TRANSACTION)))
    before = stack.snapshot()
    again = created(create(stack, meeting(transactionId=TRANSACTION, subject="Changed my mind")))
    assert again == first
    assert first["transactionId"] == TRANSACTION  # returned, as Graph's example shows
    assert stack.snapshot() == before  # nothing written, nothing queued
    assert len(_event_rows(stack, "Design review")) == 1
    assert _event_rows(stack, "Changed my mind") == []


def test_racing_creates_with_one_transaction_id_make_one_event(stack: Stack) -> None:
    body = meeting(transactionId="race-1", subject="Raced")
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: create(stack, body), range(8)))
    answers = [created(response) for response in responses]
    assert len({answer["id"] for answer in answers}) == 1
    (row,) = _event_rows(stack, "Raced")
    event_id = answers[0]["id"]
    assert row["RowKey"] == f"event|{event_id}"
    outbox = [r for r in stack.rows() if str(r["RowKey"]).startswith("outbox|")]
    assert [r["RowKey"] for r in outbox] == [f"outbox|{event_id}.invitation"]
    queued = [m for m in stack.messages() if m["notification"] == f"{event_id}.invitation"]
    assert len(queued) == 1


def test_transaction_ids_are_per_mailbox(stack: Stack) -> None:
    mine = created(create(stack, meeting(transactionId=TRANSACTION)))
    theirs = created(create(stack, meeting(transactionId=TRANSACTION), token=stack.token(MEGAN)))
    assert mine["id"] != theirs["id"]


# Bad bodies ------------------------------------------------------------------------------------

NOT_ON_EVENT = (
    "The property '{}' does not exist on type 'microsoft.graph.event'. Make sure to only use "
    "property names that are defined by the type or mark the type as open type."
)
ZONE = (
    "A valid TimeZone value must be specified. The following TimeZone value is not supported: '{}'."
)

BAD_BODIES: list[tuple[str, bytes, int, str, str]] = [
    (
        "unknown property",
        json.dumps(meeting(colour="red")).encode(),
        400,
        "RequestBodyRead",
        NOT_ON_EVENT.format("colour"),
    ),
    (
        "unknown nested property",
        json.dumps(meeting(location={"name": "x"})).encode(),
        400,
        "RequestBodyRead",
        NOT_ON_EVENT.format("name").replace("microsoft.graph.event", "microsoft.graph.location"),
    ),
    (
        "wrong type",
        json.dumps(meeting(subject=42)).encode(),
        400,
        "RequestBodyRead",
        "Cannot convert the value of property 'subject' to the expected type 'Edm.String'.",
    ),
    (
        "bad enumeration",
        json.dumps(meeting(body={"contentType": "rtf", "content": ""})).encode(),
        400,
        "RequestBodyRead",
        "Cannot convert the literal 'rtf' to the expected type 'microsoft.graph.bodyType'.",
    ),
    (
        "no start",
        json.dumps({"subject": "x", "end": meeting()["end"]}).encode(),
        400,
        "ErrorInvalidRequest",
        "The property 'start' is required.",
    ),
    (
        "unknown zone",
        json.dumps(
            meeting(start={"dateTime": "2026-12-07T09:00:00", "timeZone": "Atlantis"})
        ).encode(),
        400,
        "TimeZoneNotSupportedException",
        ZONE.format("Atlantis"),
    ),
    (
        "end before start",
        json.dumps(meeting(end={"dateTime": "2026-12-07T08:00:00", "timeZone": PACIFIC})).encode(),
        400,
        "ErrorCalendarEndDateIsEarlierThanStartDate",
        "The end date you entered occurs before the start date.",
    ),
    (
        "all day at noon",
        json.dumps(meeting(isAllDay=True)).encode(),
        400,
        "ErrorInvalidRequest",
        "An all-day event's start and end must be at midnight (a dateTime with a time of "
        "00:00:00).",
    ),
    (
        "bad address",
        json.dumps(meeting(attendees=[{"emailAddress": {"address": "not an address"}}])).encode(),
        400,
        "ErrorInvalidRequest",
        "The property 'attendees[0].emailAddress.address' is not a valid email address.",
    ),
    (
        "range on another day",
        json.dumps(
            meeting(
                recurrence={
                    "pattern": {"type": "daily"},
                    "range": {"type": "noEnd", "startDate": "2026-12-08"},
                }
            )
        ).encode(),
        400,
        "ErrorInvalidRequest",
        "The recurrence's range must start on the event's start date (2026-12-07), not 2026-12-08.",
    ),
    (
        "transactionId too long",
        json.dumps(meeting(transactionId="x" * 256)).encode(),
        400,
        "ErrorInvalidRequest",
        "The property 'transactionId' is longer than 255 characters.",
    ),
    (
        "duplicate nested name",
        b'{"subject": "x", "start": {"dateTime": "2026-12-07T09:00:00", '
        b'"dateTime": "2026-12-07T09:30:00"}, "end": {"dateTime": "2026-12-07T10:00:00"}}',
        400,
        "RequestBodyRead",
        "Multiple properties with the name 'dateTime' were detected in an entry or a complex "
        "value. In OData, duplicate property names are not allowed.",
    ),
    (
        "lone surrogate",
        b'{"subject": "\\ud800", "start": {"dateTime": "2026-12-07T09:00:00"}, '
        b'"end": {"dateTime": "2026-12-07T10:00:00"}}',
        400,
        "RequestBodyRead",
        "The property 'subject' is not valid Unicode text.",
    ),
    ("malformed JSON", b'{"subject": ', 400, "BadRequest", MALFORMED),
    ("empty", b"", 400, "BadRequest", "Empty Payload. JSON content expected."),
    (
        "not an object",
        b"[]",
        400,
        "RequestBodyRead",
        "The request payload must be a JSON object holding a 'microsoft.graph.event'.",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_a_bad_body_is_graphs_error_and_writes_nothing(
    stack: Stack, body: bytes, status: int, code: str, message: str
) -> None:
    assert_refused(
        stack,
        lambda: post(stack, "v1.0/me/events", adele(stack), body),
        status,
        code,
        message,
    )


def test_a_body_that_is_not_json_by_content_type_is_refused(stack: Stack) -> None:
    assert_refused(
        stack,
        lambda: send(
            stack,
            "POST",
            "v1.0/me/events",
            adele(stack),
            body=json.dumps(meeting()).encode(),
            headers={"Content-Type": "text/plain"},
        ),
        400,
        "BadRequest",
        MALFORMED,
    )


def test_an_error_envelope_for_a_bad_body_carries_the_request_ids(stack: Stack) -> None:
    response = post(stack, "v1.0/me/events", adele(stack), b"{}", {"client-request-id": "abc"})
    assert_error(response, 400, "ErrorInvalidRequest", "The property 'start' is required.")
    assert response.headers["client-request-id"] == "abc"
