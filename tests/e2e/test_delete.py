"""`DELETE` of an event over HTTP (DESIGN.md section 11 Delete, section 12 If-Match): every
event path answers 204; the organizer's meeting is cancelled (outbox row and queue message as
for a cancel); an attendee's copy or an event without attendees leaves its calendar silently;
one occurrence only that occurrence; a second delete 404; a stale `If-Match` 412."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
import requests

from devtools.load import DEMO_TENANT, load
from shared.calendar.model import Notification, NotificationPointer
from shared.storage.attendee_copies import TableAttendeeCopies
from shared.storage.outbox import TableOutbox
from shared.storage.tables import TableDirectory, get_text
from tests.e2e.conftest import Stack
from tests.e2e.test_graph_surface import (
    ADELE,
    ALEX,
    EXCEPTION_DATES,
    MARKETING,
    OCCURRENCE_DATES,
    SHAPES,
    STALE,
    VERSIONS,
    Shape,
    _fill,
    adele,
    assert_error,
    assert_not_found,
    assert_refused,
    etag,
    get,
    load_fresh,
    marketing,
    post,
    send,
    values,
)

WINDOW = "startDateTime=2027-01-01T00:00:00Z&endDateTime=2027-02-01T00:00:00Z"


def delete(
    stack: Stack, path: str, token: str | None, headers: dict[str, str] | None = None
) -> requests.Response:
    return send(stack, "DELETE", path, token, headers=headers)


def assert_deleted(response: requests.Response) -> None:
    assert (response.status_code, response.content) == (204, b""), response.text


def outbox(stack: Stack) -> dict[str, Notification]:
    """Every outbox row, by its notification id."""
    return {
        row["RowKey"].removeprefix("outbox|"): Notification.model_validate_json(
            get_text(row, "Notification")
        )
        for row in stack.rows()
        if row["RowKey"].startswith("outbox|")
    }


def event_row(stack: Stack, mailbox: str, event_id: str) -> dict[str, Any]:
    row = stack.row(mailbox, f"event|{event_id}")
    assert row is not None
    return row


def ids(response: requests.Response) -> list[str]:
    return [event["id"] for event in values(response)]


# Every path ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", SHAPES, ids=lambda s: f"{s.owner}/{s.container}".replace("{", "").replace("}", "")
)
def test_every_event_path_deletes_on_both_versions(stack: Stack, shape: Shape) -> None:
    """DELETE 204 with no body, then GET 404: a single event, an occurrence by its own id and
    under `instances/`, an exception under `exceptionOccurrences/`, on `/v1.0` and `/beta`;
    the master stays with those occurrences cancelled until it is deleted too. A container
    that lacks them is 404 and nothing changes. Each is the organizer's meeting: each delete
    leaves one outbox row and one queue message."""
    owner_address = MARKETING if shape.owner == "groups" else ADELE
    token = stack.app_token() if shape.owner == "users" else adele(stack)
    fresh = load_fresh(stack, owner_address, shape.calendar)
    master = fresh.master
    container = _fill(stack, f"{{owner}}/{shape.container}", shape.owner)
    wrong = _fill(stack, shape.wrong, shape.owner)

    def items(n: int) -> list[tuple[str, str]]:
        """(path below the container, id of what it names) of the n-th round."""
        by_id, below = (f"OID.{master}.{OCCURRENCE_DATES[i]}" for i in (2 * n, 2 * n + 1))
        exception = f"OID.{master}.{EXCEPTION_DATES[n]}"
        return [
            (fresh.singles[n], fresh.singles[n]),
            (by_id, by_id),
            (f"{master}/instances/{below}", below),
            (f"{master}/exceptionOccurrences/{exception}", exception),
        ]

    before = stack.snapshot()
    for below, _ in items(0):
        assert_not_found(delete(stack, f"v1.0/{wrong}/{below}", token))
    assert stack.snapshot() == before

    deleted: list[str] = []
    for n, version in enumerate(VERSIONS):
        for below, item_id in items(n):
            path = f"{version}/{container}/{below}"
            assert get(stack, path, token).status_code == 200, path
            assert_deleted(delete(stack, path, token))
            assert_not_found(get(stack, path, token))
            assert_not_found(delete(stack, path, token))
            deleted.append(item_id)

    kept = get(stack, f"v1.0/{container}/{master}", token)
    assert kept.status_code == 200, kept.text
    occurrences = [i for i in deleted if i.startswith("OID.")]
    assert sorted(kept.json()["cancelledOccurrences"]) == sorted(occurrences)

    assert_deleted(delete(stack, f"beta/{container}/{master}", token))
    assert_not_found(get(stack, f"v1.0/{container}/{master}", token))
    deleted.append(master)
    assert sorted(outbox(stack)) == sorted(deleted)
    assert all(note.comment is None for note in outbox(stack).values())
    owner = marketing(stack) if shape.owner == "groups" else stack.user(ADELE)
    assert sorted(m["notification"] for m in stack.messages()) == sorted(deleted)
    assert {m["mailbox"] for m in stack.messages()} == {owner}


# Who deletes what ------------------------------------------------------------------------------


def test_organizer_deleting_a_meeting_cancels_it_as_a_cancel_without_comment(
    stack: Stack,
) -> None:
    owner, planning = stack.event("planning")
    path = f"v1.0/me/events/{planning}"

    assert_deleted(delete(stack, path, adele(stack)))

    notes = outbox(stack)
    assert list(notes) == [planning]
    note = notes[planning]
    assert (note.method, note.comment, note.subject, note.status) == (
        "CANCEL",
        None,
        "Quarterly planning",
        "pending",
    )
    assert [a.email_address.address for a in note.attendees] == [
        "AlexW@contoso.example",
        "MeganB@contoso.example",
        "pat@fabrikam.example",
    ]
    assert stack.messages() == [{"mailbox": owner, "notification": planning}]
    row = event_row(stack, owner, planning)
    assert row["Folder"] == "deleteditems"
    assert json.loads(get_text(row, "Event"))["isCancelled"] is True
    assert_not_found(get(stack, path, adele(stack)))
    assert planning not in ids(get(stack, "v1.0/me/events", adele(stack)))
    # The cancel itself now finds nothing, as after a cancel.
    assert_not_found(post(stack, f"{path}/cancel", adele(stack)))


def test_a_group_meeting_deleted_by_a_member_is_cancelled(stack: Stack) -> None:
    group, sync = stack.event("marketing-sync")

    assert_deleted(delete(stack, f"v1.0/groups/{marketing(stack)}/events/{sync}", adele(stack)))

    assert list(outbox(stack)) == [sync]
    assert stack.messages() == [{"mailbox": group, "notification": sync}]


def test_an_attendee_deleting_their_copy_removes_it_and_tells_nobody(stack: Stack) -> None:
    owner, planning = stack.event("planning")
    alex, alex_copy = stack.user(ALEX), stack.tenant.copies["planning"][stack.user(ALEX)]
    organizers = event_row(stack, owner, planning)
    assert alex_copy in ids(get(stack, "v1.0/me/events", stack.token(ALEX)))

    assert_deleted(delete(stack, f"v1.0/me/events/{alex_copy}", stack.token(ALEX)))

    assert_not_found(get(stack, f"v1.0/me/events/{alex_copy}", stack.token(ALEX)))
    assert alex_copy not in ids(get(stack, "v1.0/me/events", stack.token(ALEX)))
    assert event_row(stack, alex, alex_copy)["Folder"] == "deleteditems"
    assert event_row(stack, owner, planning) == organizers  # the organizer's event: untouched
    assert get(stack, f"v1.0/me/events/{planning}", adele(stack)).status_code == 200
    assert outbox(stack) == {}
    assert stack.messages() == []
    assert_not_found(delete(stack, f"v1.0/me/events/{alex_copy}", stack.token(ALEX)))


def test_an_attendee_deletes_a_copy_the_organizer_cancelled(stack: Stack) -> None:
    owner, planning = stack.event("planning")
    alex_copy = stack.tenant.copies["planning"][stack.user(ALEX)]
    assert post(stack, f"v1.0/me/events/{planning}/cancel", adele(stack)).status_code == 202
    # What the mail worker does for an internal attendee, with its own adapter.
    calendar = stack.tables.get_table_client(stack.settings.calendar_table)
    directory = stack.tables.get_table_client(stack.settings.directory_table)
    entry = TableOutbox(calendar).find(NotificationPointer(owner, planning))
    assert entry is not None
    copies = TableAttendeeCopies(calendar, TableDirectory(directory))
    assert copies.update_copy(entry.notification, ALEX, datetime.now(UTC))
    copy = f"beta/users/{ALEX}/events/{alex_copy}"
    assert get(stack, copy, stack.app_token()).json()["isCancelled"] is True
    notes, messages = outbox(stack), stack.messages()

    assert_deleted(delete(stack, copy, stack.app_token()))

    assert_not_found(get(stack, copy, stack.app_token()))
    assert (outbox(stack), stack.messages()) == (notes, messages)


def test_an_event_without_attendees_is_removed_silently(stack: Stack) -> None:
    tenant = json.loads(DEMO_TENANT.read_text())
    tenant["events"] = [
        {
            "key": "focus",
            "owner": ADELE,
            "subject": "Focus time",
            "start": {"dateTime": "2026-12-07T08:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-07T10:00:00", "timeZone": "UTC"},
        }
    ]
    owner, focus = load(tenant, stack.settings).events["focus"]
    assert focus in ids(get(stack, "v1.0/me/events", adele(stack)))

    assert_deleted(delete(stack, f"v1.0/me/calendar/events/{focus}", adele(stack)))

    assert_not_found(get(stack, f"v1.0/me/events/{focus}", adele(stack)))
    assert focus not in ids(get(stack, "v1.0/me/events", adele(stack)))
    assert event_row(stack, owner, focus)["Folder"] == "deleteditems"
    assert outbox(stack) == {}
    assert stack.messages() == []


def test_one_occurrence_is_deleted_and_the_series_stays(stack: Stack) -> None:
    owner, weekly = stack.event("weekly-sync")
    occurrence = f"OID.{weekly}.2027-01-11"
    instances = f"v1.0/me/events/{weekly}/instances?{WINDOW}"
    assert occurrence in ids(get(stack, instances, adele(stack)))

    assert_deleted(delete(stack, f"v1.0/me/events/{weekly}/instances/{occurrence}", adele(stack)))

    listed = ids(get(stack, instances, adele(stack)))
    assert occurrence not in listed
    assert f"OID.{weekly}.2027-01-18" in listed
    assert occurrence not in ids(get(stack, f"v1.0/me/calendarView?{WINDOW}", adele(stack)))
    master = get(stack, f"v1.0/me/events/{weekly}", adele(stack))
    assert master.status_code == 200, master.text
    assert master.json()["cancelledOccurrences"] == [occurrence]
    assert list(outbox(stack)) == [occurrence]
    assert outbox(stack)[occurrence].occurrence_id == occurrence
    assert stack.messages() == [{"mailbox": owner, "notification": occurrence}]
    for path in (f"v1.0/me/calendarView/{occurrence}", f"beta/me/events/{occurrence}"):
        assert_not_found(delete(stack, path, adele(stack)))


def test_an_attendee_deleting_an_occurrence_of_their_copy_tells_nobody(stack: Stack) -> None:
    owner, weekly = stack.event("weekly-sync")
    alex_copy = stack.tenant.copies["weekly-sync"][stack.user(ALEX)]
    occurrence = f"OID.{alex_copy}.2027-01-11"
    organizers = event_row(stack, owner, weekly)

    assert_deleted(delete(stack, f"v1.0/me/calendarView/{occurrence}", stack.token(ALEX)))

    copy = get(stack, f"v1.0/me/events/{alex_copy}", stack.token(ALEX))
    assert copy.json()["cancelledOccurrences"] == [occurrence]
    assert event_row(stack, owner, weekly) == organizers
    assert (outbox(stack), stack.messages()) == ({}, [])


# If-Match, other mailboxes, permission ---------------------------------------------------------


def test_a_stale_if_match_is_412_and_changes_nothing(stack: Stack) -> None:
    weekly = stack.event("weekly-sync")[1]
    master = f"v1.0/me/events/{weekly}"
    stale = etag(stack, master)
    assert_deleted(delete(stack, f"{master}/instances/OID.{weekly}.2027-01-11", adele(stack)))
    current = etag(stack, master)
    assert current != stale

    for target in (f"{master}/instances/OID.{weekly}.2027-01-18", master):
        assert_refused(
            stack,
            partial(delete, stack, target, adele(stack), {"If-Match": stale}),
            412,
            "ErrorIrresolvableConflict",
            STALE,
        )

    assert_deleted(delete(stack, master, adele(stack), {"If-Match": current}))
    assert_not_found(get(stack, master, adele(stack)))


@pytest.mark.parametrize("header", ["*", "current"])
def test_a_current_if_match_deletes(stack: Stack, header: str) -> None:
    path = f"beta/me/events/{stack.event('launch')[1]}"
    tag = etag(stack, path) if header == "current" else header

    assert_deleted(delete(stack, path, adele(stack), {"If-Match": tag}))

    assert_not_found(get(stack, path, adele(stack)))


def test_another_users_event_answers_as_get_does(stack: Stack) -> None:
    """Alex's event is not in Adele's mailbox (404), and Adele may not reach Alex's (403)."""
    budget = stack.event("budget")[1]
    answers = []
    for path in (f"v1.0/me/events/{budget}", f"v1.0/users/{ALEX}/events/{budget}"):
        read = get(stack, path, adele(stack))
        error = read.json()["error"]
        assert_refused(
            stack,
            partial(delete, stack, path, adele(stack)),
            read.status_code,
            error["code"],
            error["message"],
        )
        answers.append(read.status_code)
    assert answers == [404, 403]


def test_delete_needs_calendars_readwrite(stack: Stack) -> None:
    path = f"v1.0/me/events/{stack.event('planning')[1]}"
    token = stack.token(ADELE, scopes=("Calendars.Read",))
    assert get(stack, path, token).status_code == 200
    assert_refused(
        stack,
        partial(delete, stack, path, token),
        403,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )


def test_delete_without_a_token_is_401(stack: Stack) -> None:
    response = delete(stack, f"v1.0/me/events/{stack.event('planning')[1]}", None)
    assert_error(response, 401, "InvalidAuthenticationToken", "Access token is empty.")
