"""The Graph surface around cancel over raw HTTP (DESIGN.md sections 11 and 12): every event
path on `/v1.0` and `/beta`, the refusals of paths, methods and versions, `If-Match`, the
section 4 changes of section 12, lists with paging, `$select`, `$orderby`, `$filter`, the
calendar view in UTC or a preferred zone, and the 401 challenge."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import product
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from devtools.load import DEMO_TENANT, load
from devtools.tokens import DEV_API_APP_ID
from shared.calendar.model import NotificationPointer
from shared.storage.attendee_copies import TableAttendeeCopies
from shared.storage.outbox import TableOutbox
from shared.storage.tables import TableDirectory
from tests.e2e.conftest import Stack

ADELE = "AdeleV@contoso.example"
ALEX = "AlexW@contoso.example"
MARKETING = "Marketing@contoso.example"
NOT_FOUND = "The specified object was not found in the store."
ORGANIZER_ONLY = "Your request can't be completed. You need to be an organizer to cancel a meeting."
MALFORMED = (
    "Unable to read JSON request payload. Please ensure Content-Type header is set and "
    "payload is of valid JSON format."
)
NOT_SUPPORTED = "The OData request is not supported."
INVALID_FILTER = "The query filter contains one or more invalid nodes."
STALE = (
    "The send or update operation could not be performed because the change key passed "
    "in the request does not match the current change key for the item."
)
PACIFIC = "Pacific Standard Time"
PREFER_PACIFIC = f'outlook.timezone="{PACIFIC}"'
VERSIONS = ("v1.0", "beta")
ACTIONS = ("cancel", "microsoft.graph.cancel")


# Requests ------------------------------------------------------------------------------------


def root(stack: Stack) -> str:
    """The host's origin: Graph's base URLs are `<root>/v1.0` and `<root>/beta`."""
    return stack.base_url.removesuffix("/api")


def send(
    stack: Stack,
    method: str,
    path: str,
    token: str | None,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> requests.Response:
    """One request to `<root>/<path>`, on a connection of its own.

    Not on `stack.http`'s kept-alive connections: a second request on one waits ~40 ms at the
    dev host (it writes headers and body in two sends without TCP_NODELAY, and Nagle meets the
    client's delayed ACK), which would make the hundreds of requests here take a minute.
    """
    sent = {} if token is None else {"Authorization": f"Bearer {token}"}
    sent.update(headers or {})
    url = path if path.startswith("http") else f"{root(stack)}/{path}"
    with requests.Session() as http:
        http.trust_env = False  # no proxies from the environment for loopback
        return http.request(method, url, data=body, headers=sent, params=params, timeout=30)


def get(
    stack: Stack, path: str, token: str, headers: dict[str, str] | None = None
) -> requests.Response:
    return send(stack, "GET", path, token, headers=headers)


def post(
    stack: Stack,
    path: str,
    token: str,
    body: bytes = b"{}",
    headers: dict[str, str] | None = None,
) -> requests.Response:
    return send(
        stack,
        "POST",
        path,
        token,
        body=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def assert_error(response: requests.Response, status: int, code: str, message: str) -> None:
    """Graph's error envelope, with the request's ids in it and in the headers."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (code, message)
    inner = error["innerError"]
    assert inner["request-id"] == response.headers["request-id"]
    assert inner["client-request-id"] == response.headers["client-request-id"]
    datetime.strptime(inner["date"], "%Y-%m-%dT%H:%M:%S")


def assert_refused(
    stack: Stack,
    request: Callable[[], requests.Response],
    status: int,
    code: str,
    message: str,
) -> requests.Response:
    """The refusal, and storage (both tables, the queue) exactly as before it."""
    before = stack.snapshot()
    response = request()
    assert_error(response, status, code, message)
    assert stack.snapshot() == before, "a refused request changed storage"
    return response


def assert_not_found(response: requests.Response) -> None:
    assert_error(response, 404, "ErrorItemNotFound", NOT_FOUND)


def adele(stack: Stack) -> str:
    return stack.token(ADELE)


def marketing(stack: Stack) -> str:
    return stack.tenant.groups[MARKETING.lower()].id


def values(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


# Every event path -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A container of events, where the test's events are loaded, and one that lacks them."""

    owner: str
    """`me`, `users` or `groups`."""
    container: str
    calendar: str
    """The calendar (by name) the events are loaded into."""
    wrong: str
    """A container path, owner included, that does not hold those events."""


def _shapes() -> Iterator[Shape]:
    for owner in ("me", "users"):
        mine = "{owner}"
        # Literal segments match in any letter case: `users` paths are written in lower case
        # (`calendargroups`, as the docs write it; the SDK writes `calendarGroups`).
        spell: Callable[[str], str] = str.lower if owner == "users" else str
        for container, calendar, wrong in (
            ("events", "Projects", f"{mine}/calendar/events"),
            ("calendar/events", "Calendar", f"{mine}/calendars/{{projects}}/events"),
            ("calendars/{projects}/events", "Projects", f"{mine}/calendars/{{trips}}/events"),
            (
                "calendarGroup/calendars/{projects}/events",
                "Projects",
                f"{mine}/calendarGroups/{{travel}}/calendars/{{projects}}/events",
            ),
            (
                "calendarGroups/{travel}/calendars/{trips}/events",
                "Trips",
                f"{mine}/calendarGroup/calendars/{{trips}}/events",
            ),
            ("calendarView", "Trips", f"{mine}/calendar/calendarView"),
            ("calendar/calendarView", "Calendar", f"{mine}/calendars/{{trips}}/calendarView"),
            (
                "calendars/{trips}/calendarView",
                "Trips",
                f"{mine}/calendars/{{projects}}/calendarView",
            ),
        ):
            yield Shape(owner, spell(container), calendar, wrong)
    # A group has one calendar; its events are not in the caller's own mailbox.
    for container in ("events", "calendar/events", "calendarView", "calendar/calendarView"):
        yield Shape("groups", container, "Calendar", f"me/{container}")


SHAPES = list(_shapes())
SERIES_START = "2027-03-01"
OCCURRENCE_DATES = ("2027-03-01", "2027-03-15", "2027-03-29", "2027-04-12")
EXCEPTION_DATES = ("2027-03-08", "2027-03-22", "2027-04-05", "2027-04-19")


@dataclass(frozen=True)
class Fresh:
    singles: list[str]
    master: str


def load_fresh(stack: Stack, owner: str, calendar: str) -> Fresh:
    """Four single events and a weekly series with four exceptions, loaded into `calendar` of
    `owner`'s mailbox beside the demo tenant."""
    tenant = json.loads(DEMO_TENANT.read_text())
    attendees = [{"type": "required", "emailAddress": {"address": "pat@fabrikam.example"}}]

    def utc(day: str, hour: int) -> dict[str, str]:
        return {"dateTime": f"{day}T{hour:02d}:00:00.0000000", "timeZone": "UTC"}

    singles = [
        {
            "key": f"single-{n}",
            "owner": owner,
            "calendar": calendar,
            "subject": f"Single {n}",
            "start": utc(f"2027-05-0{n + 1}", 9),
            "end": utc(f"2027-05-0{n + 1}", 10),
            "attendees": attendees,
        }
        for n in range(4)
    ]
    series = {
        "key": "series",
        "owner": owner,
        "calendar": calendar,
        "subject": "Series",
        "start": utc(SERIES_START, 9),
        "end": utc(SERIES_START, 10),
        "attendees": attendees,
        "recurrence": {
            "pattern": {"type": "weekly", "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
            "range": {
                "type": "numbered",
                "startDate": SERIES_START,
                "numberOfOccurrences": 10,
                "recurrenceTimeZone": "UTC",
            },
        },
        "exceptions": [
            {
                "originalDate": day,
                "subject": f"Series (moved on {day})",
                "start": utc(day, 13),
                "end": utc(day, 14),
            }
            for day in EXCEPTION_DATES
        ],
    }
    tenant["events"] = [*singles, series]
    loaded = load(tenant, stack.settings)
    return Fresh([loaded.events[f"single-{n}"][1] for n in range(4)], loaded.events["series"][1])


def _fill(stack: Stack, template: str, owner: str) -> str:
    calendars = stack.tenant.calendars[stack.user(ADELE)]
    return template.format(
        owner={"me": "me", "users": f"users/{ADELE}", "groups": f"groups/{marketing(stack)}"}[
            owner
        ],
        projects=calendars["Projects"].calendar_id,
        trips=calendars["Trips"].calendar_id,
        travel=calendars["Trips"].calendar_group_id,
    )


@pytest.mark.parametrize(
    "shape", SHAPES, ids=lambda s: f"{s.owner}/{s.container}".replace("{", "").replace("}", "")
)
def test_every_event_path_gets_and_cancels_on_both_versions(stack: Stack, shape: Shape) -> None:
    """GET 200 with the event, POST …/cancel and …/microsoft.graph.cancel 202, then GET 404:
    a single event, an occurrence under `instances/` and an exception under
    `exceptionOccurrences/`, on `/v1.0` and `/beta`; a container that lacks them is 404."""
    owner_address = MARKETING if shape.owner == "groups" else ADELE
    token = stack.app_token() if shape.owner == "users" else adele(stack)
    fresh = load_fresh(stack, owner_address, shape.calendar)
    master = fresh.master
    container = _fill(stack, f"{{owner}}/{shape.container}", shape.owner)
    wrong = _fill(stack, shape.wrong, shape.owner)

    def items(n: int) -> list[tuple[str, str, str, str]]:
        """(path below the container, id of what it names, its type, its subject) of the n-th
        round."""
        occurrence = f"OID.{master}.{OCCURRENCE_DATES[n]}"
        exception = f"OID.{master}.{EXCEPTION_DATES[n]}"
        return [
            (fresh.singles[n], fresh.singles[n], "singleInstance", f"Single {n}"),
            (f"{master}/instances/{occurrence}", occurrence, "occurrence", "Series"),
            (
                f"{master}/exceptionOccurrences/{exception}",
                exception,
                "exception",
                f"Series (moved on {EXCEPTION_DATES[n]})",
            ),
        ]

    # The wrong container: the same items are not found there, and nothing changes.
    before = stack.snapshot()
    for below, *_ in items(0):
        assert_not_found(get(stack, f"v1.0/{wrong}/{below}", token))
        assert_not_found(post(stack, f"beta/{wrong}/{below}/cancel", token))
    assert stack.snapshot() == before

    for n, (version, action) in enumerate(product(VERSIONS, ACTIONS)):
        for below, item_id, kind, subject in items(n):
            path = f"{version}/{container}/{below}"
            found = get(stack, path, token)
            assert found.status_code == 200, (path, found.text)
            event = found.json()
            assert (event["id"], event["type"], event["subject"]) == (item_id, kind, subject)
            assert event["@odata.context"].startswith(f"{root(stack)}/{version}/$metadata#")
            assert event["@odata.etag"].startswith('W/"')

            cancelled = post(stack, f"{path}/{action}", token)
            assert (cancelled.status_code, cancelled.content) == (202, b""), (path, action)

            assert_not_found(get(stack, path, token))

    kept = get(stack, f"v1.0/{container}/{master}", token)
    assert kept.status_code == 200, kept.text
    assert sorted(kept.json()["cancelledOccurrences"]) == sorted(
        f"OID.{master}.{day}" for day in OCCURRENCE_DATES + EXCEPTION_DATES
    )


def test_exception_occurrences_names_only_modified_occurrences_of_that_series(
    stack: Stack,
) -> None:
    weekly, monthly = stack.event("weekly-sync")[1], stack.event("all-hands")[1]
    token = adele(stack)

    moved = get(
        stack, f"v1.0/me/events/{weekly}/exceptionOccurrences/OID.{weekly}.2027-02-15", token
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["type"], moved.json()["subject"]) == (
        "exception",
        "Weekly team sync (Presidents' Day: moved to 11:00)",
    )
    before = stack.snapshot()
    for path in (
        f"v1.0/me/events/{weekly}/exceptionOccurrences/OID.{weekly}.2027-01-11",  # unmodified
        f"beta/me/events/{weekly}/instances/OID.{monthly}.2027-01-07",  # another series'
        f"v1.0/me/events/{monthly}/exceptionOccurrences/OID.{weekly}.2027-02-15",
    ):
        assert_not_found(get(stack, path, token))
        assert_not_found(post(stack, f"{path}/cancel", token))
    assert stack.snapshot() == before


# Methods, segments, versions -----------------------------------------------------------------


def _names(stack: Stack) -> dict[str, str]:
    planning = stack.event("planning")[1]
    weekly = stack.event("weekly-sync")[1]
    return {
        "planning": planning,
        "weekly": weekly,
        "occurrence": f"OID.{weekly}.2027-01-11",
        "group": marketing(stack),
        "user": ADELE,
    }


@pytest.mark.parametrize(
    ("method", "template", "allow"),
    [
        # An event takes GET and DELETE (section 11's Delete); updates are not served.
        ("PATCH", "v1.0/me/events/{planning}", "GET, DELETE"),
        ("PUT", "beta/users/{user}/calendar/events/{planning}", "GET, DELETE"),
        ("POST", "beta/me/events/{weekly}/instances/{occurrence}", "GET, DELETE"),
        ("PATCH", "v1.0/me/calendarView/{planning}", "GET, DELETE"),
        ("GET", "v1.0/me/events/{planning}/cancel", "POST"),
        ("GET", "beta/me/calendarView/{planning}/microsoft.graph.cancel", "POST"),
        ("DELETE", "v1.0/me/events/{weekly}/instances/{occurrence}/cancel", "POST"),
        # A container's `events` takes GET and POST (section 11's Create); a view only GET.
        ("PUT", "v1.0/me/events", "GET, POST"),
        ("DELETE", "beta/users/{user}/calendar/events", "GET, POST"),
        ("POST", "v1.0/me/calendarView", "GET"),
        ("DELETE", "v1.0/me/calendarView", "GET"),
        ("POST", "beta/me/events/{weekly}/instances", "GET"),
        ("PATCH", "v1.0/groups/{group}/calendar/calendarView", "GET"),
    ],
)
def test_known_path_with_a_method_it_does_not_take_is_405_with_allow(
    stack: Stack, method: str, template: str, allow: str
) -> None:
    path = template.format(**_names(stack))
    response = assert_refused(
        stack,
        lambda: send(
            stack,
            method,
            path,
            adele(stack),
            body=b'{"subject": "changed"}',
            headers={"Content-Type": "application/json"},
        ),
        405,
        "ErrorInvalidRequest",
        NOT_SUPPORTED,
    )
    assert response.headers["Allow"] == allow


@pytest.mark.parametrize(
    ("method", "template", "segment"),
    [
        ("GET", "v1.0/me/eventz", "eventz"),
        ("GET", "v1.0/me/events/{planning}/foo", "foo"),
        ("POST", "beta/me/events/{planning}/foo", "foo"),
        ("GET", "v1.0/groups/{group}/calendars/x/events", "calendars"),
        ("GET", "v1.0/groups/{group}/calendarGroups/x/calendars/y/events", "calendarGroups"),
        ("GET", "beta/users/{user}/calendarGroups/x/events", "events"),
        ("POST", "v1.0/me/events/{weekly}/instances/{occurrence}/instances", "instances"),
        ("GET", "v1.0/me", "me"),
        ("GET", "v1.0/planner/tasks", "planner"),
    ],
)
def test_unknown_segment_is_400_naming_it(
    stack: Stack, method: str, template: str, segment: str
) -> None:
    path = template.format(**_names(stack))
    assert_refused(
        stack,
        lambda: send(
            stack,
            method,
            path,
            adele(stack),
            body=b"{}",
            headers={"Content-Type": "application/json"},
        ),
        400,
        "BadRequest",
        f"Resource not found for the segment '{segment}'.",
    )


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "v2.0/me/events"),
        ("GET", "me/events"),
        ("GET", ""),
        ("GET", "v1/me/events"),
        ("POST", "v2.0/me/events/{planning}/cancel"),
        ("POST", "me/events/{planning}/cancel"),
        ("DELETE", "graph/v1.0/me/events/{planning}"),
    ],
)
def test_bad_version_is_400_invalid_version(stack: Stack, method: str, template: str) -> None:
    path = template.format(**_names(stack))
    assert_refused(
        stack,
        lambda: send(
            stack,
            method,
            path,
            adele(stack),
            body=b"{}",
            headers={"Content-Type": "application/json"},
        ),
        400,
        "BadRequest",
        "Invalid version.",
    )


def test_no_path_answers_a_bare_404(stack: Stack) -> None:
    """Whatever the path and method, the answer is JSON: an envelope with its request id."""
    paths = _names(stack)
    odd = [
        "",
        "v1.0",
        "v1.0/",
        "beta",
        "api",
        "favicon.ico",
        "admin/functions",
        "runtime/webhooks/durabletask",
        "v1.0//me/events",
        "v1.0/me//events",
        "v1.0/me/events/AAMkNotThere",
        "beta/me/events/AAMkNotThere/cancel",
        "v1.0/me/calendars/AAMkNotThere/events/{planning}",
        "v1.0/users/nobody@contoso.example/events/{planning}",
        "v1.0/groups/00000000-0000-4000-8000-000000000000/events",
        "v1.0/me/events/{weekly}/instances/OID.{weekly}.2027-01-12",
        "v1.0/me/events/{weekly}/exceptionOccurrences/{occurrence}",
        "api/me/events/AAMkNotThere/cancel",
        "v1.0/me/events/%2E%2E/%2E%2E/admin",
    ]
    before = stack.snapshot()
    for template, method in product(odd, ("GET", "POST", "PUT", "DELETE", "PATCH")):
        path = template.format(**paths)
        response = send(
            stack,
            method,
            path,
            adele(stack),
            body=b"{}",
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code in (400, 404, 405), (method, path, response.status_code)
        assert response.headers["Content-Type"].startswith("application/json"), (method, path)
        error = response.json()["error"]
        assert error["code"], (method, path)
        assert error["message"], (method, path)
        assert error["innerError"]["request-id"] == response.headers["request-id"], (method, path)
    assert stack.snapshot() == before


@pytest.mark.parametrize(
    "template",
    [
        "v1.0/me/calendars/AAMkNotThere/events",
        "beta/users/{user}/calendars/AAMkNotThere/calendarView?{window}",
        "v1.0/me/calendarGroup/calendars/AAMkNotThere/events",
        "v1.0/me/calendarGroups/AAMkNotThere/calendars/{trips}/events",
        "v1.0/me/calendarGroups/{travel}/calendars/{projects}/events",
    ],
)
def test_list_of_an_unknown_calendar_is_404(stack: Stack, template: str) -> None:
    calendars = stack.tenant.calendars[stack.user(ADELE)]
    path = template.format(
        user=ADELE,
        window=WINDOW,
        projects=calendars["Projects"].calendar_id,
        trips=calendars["Trips"].calendar_id,
        travel=calendars["Trips"].calendar_group_id,
    )
    token = stack.app_token() if "users/" in path else adele(stack)
    assert_refused(stack, lambda: get(stack, path, token), 404, "ErrorItemNotFound", NOT_FOUND)


# If-Match ------------------------------------------------------------------------------------


def etag(stack: Stack, path: str) -> str:
    response = get(stack, path, adele(stack))
    assert response.status_code == 200, response.text
    return str(response.json()["@odata.etag"])


def test_if_match_with_the_current_etag_cancels(stack: Stack) -> None:
    path = f"v1.0/me/events/{stack.event('planning')[1]}"
    current = etag(stack, path)

    response = post(stack, f"{path}/cancel", adele(stack), headers={"If-Match": current})

    assert response.status_code == 202, response.text
    assert_not_found(get(stack, path, adele(stack)))


def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(stack: Stack) -> None:
    weekly = stack.event("weekly-sync")[1]
    master = f"v1.0/me/events/{weekly}"
    stale = etag(stack, master)
    # Another change: an occurrence cancelled gives the master a new version.
    assert post(stack, f"{master}/instances/OID.{weekly}.2027-01-11/cancel", adele(stack)).ok
    current = etag(stack, master)
    assert current != stale

    for target in (f"{master}/instances/OID.{weekly}.2027-01-18", master):
        assert_refused(
            stack,
            partial(post, stack, f"{target}/cancel", adele(stack), headers={"If-Match": stale}),
            412,
            "ErrorIrresolvableConflict",
            STALE,
        )

    occurrence = f"{master}/instances/OID.{weekly}.2027-01-18"
    response = post(stack, f"{occurrence}/cancel", adele(stack), headers={"If-Match": current})
    assert response.status_code == 202, response.text
    assert_not_found(get(stack, occurrence, adele(stack)))


def test_if_match_star_cancels(stack: Stack) -> None:
    path = f"beta/me/calendar/events/{stack.event('planning')[1]}"

    response = post(
        stack, f"{path}/microsoft.graph.cancel", adele(stack), headers={"If-Match": "*"}
    )

    assert response.status_code == 202, response.text
    assert_not_found(get(stack, path, adele(stack)))


# Section 4 as section 12 changes it ----------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonp", "json"],
)
def test_missing_or_non_json_content_type_is_400_malformed_json(
    stack: Stack, content_type: str | None
) -> None:
    path = f"v1.0/me/events/{stack.event('planning')[1]}/cancel"
    headers = {} if content_type is None else {"Content-Type": content_type}
    assert_refused(
        stack,
        lambda: send(stack, "POST", path, adele(stack), body=b'{"Comment": "x"}', headers=headers),
        400,
        "BadRequest",
        MALFORMED,
    )


def test_attendee_cancelling_a_copy_the_organizer_cancelled_gets_the_organizer_400(
    stack: Stack,
) -> None:
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

    copy = get(stack, f"v1.0/me/events/{alex_copy}", stack.token(ALEX))
    assert copy.status_code == 200, copy.text
    assert (copy.json()["isCancelled"], copy.json()["subject"]) == (
        True,
        "Canceled: Quarterly planning",
    )
    for path, token in (
        (f"v1.0/me/events/{alex_copy}/cancel", stack.token(ALEX)),
        (
            f"beta/users/{ALEX}/calendar/events/{alex_copy}/microsoft.graph.cancel",
            stack.app_token(),
        ),
    ):
        assert_refused(
            stack,
            partial(post, stack, path, token),
            400,
            "ErrorInvalidRequest",
            ORGANIZER_ONLY,
        )
    assert get(stack, f"v1.0/me/events/{alex_copy}", stack.token(ALEX)).status_code == 200


# Lists ---------------------------------------------------------------------------------------


def adeles_events(stack: Stack) -> list[str]:
    """Adele's single events and series masters (her own and her copy of Alex's), by start."""
    own = [stack.event(key)[1] for key in ("planning", "launch", "offsite", "weekly-sync")]
    budget = stack.tenant.copies["budget"][stack.user(ADELE)]
    return [own[0], budget, *own[1:], stack.event("all-hands")[1]]


@pytest.mark.parametrize("owner", ["me", "users"])
def test_events_page_with_next_link_to_the_end(stack: Stack, owner: str) -> None:
    mailbox, token = (
        ("me", adele(stack)) if owner == "me" else (f"users/{ADELE}", stack.app_token())
    )
    first = f"{root(stack)}/v1.0/{mailbox}/events"
    link: str | None = f"{first}?$top=2"
    pages: list[list[str]] = []
    starts: list[datetime] = []
    while link is not None:
        assert link.startswith(f"{first}?"), link  # the nextLink keeps the path's mailbox
        response = get(stack, link, token)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["@odata.context"].startswith(f"{root(stack)}/v1.0/$metadata#users(")
        assert body["@odata.context"].endswith(")/events")
        pages.append([event["id"] for event in body["value"]])
        starts += [_utc(event["start"]) for event in body["value"]]
        link = body.get("@odata.nextLink")
        assert link is None or "$top=2" in link

    assert [len(page) for page in pages] == [2, 2, 2]
    assert [event for page in pages for event in page] == adeles_events(stack)
    assert starts == sorted(starts)


def test_events_context_names_the_caller(stack: Stack) -> None:
    body = get(stack, "beta/me/events", adele(stack)).json()
    assert body["@odata.context"] == (
        f"{root(stack)}/beta/$metadata#users('{stack.user(ADELE)}')/events"
    )
    assert "@odata.nextLink" not in body  # six events, Graph's default page of ten


def test_select_trims_each_event(stack: Stack) -> None:
    events = values(get(stack, "v1.0/me/events?$select=subject", adele(stack)))
    assert [event["id"] for event in events] == adeles_events(stack)
    for event in events:
        assert set(event) == {"@odata.etag", "id", "subject"}
    assert events[0]["subject"] == "Quarterly planning"


def test_orderby_start_descending_reverses(stack: Stack) -> None:
    events = values(get(stack, "v1.0/me/events?$orderby=start/dateTime desc", adele(stack)))
    assert [event["id"] for event in events] == adeles_events(stack)[::-1]


WINDOW = "startDateTime=2026-12-01T00:00:00Z&endDateTime=2027-03-20T00:00:00Z"


def expected_view(stack: Stack) -> list[tuple[str, str, str]]:
    """(id, type, UTC start) of Adele's calendar view over WINDOW, 2027-01-18 cancelled."""
    weekly, monthly = stack.event("weekly-sync")[1], stack.event("all-hands")[1]
    budget = stack.tenant.copies["budget"][stack.user(ADELE)]

    def weekly_on(day: str, hour: int = 17, kind: str = "occurrence") -> tuple[str, str, str]:
        return (f"OID.{weekly}.{day}", kind, f"{day}T{hour}:00:00")

    def monthly_on(day: str) -> tuple[str, str, str]:
        return (f"OID.{monthly}.{day}", "occurrence", f"{day}T15:00:00")

    return [
        (stack.event("planning")[1], "singleInstance", "2026-12-03T23:00:00"),
        (budget, "singleInstance", "2026-12-05T14:00:00"),
        (stack.event("launch")[1], "singleInstance", "2026-12-08T17:00:00"),
        (stack.event("offsite")[1], "singleInstance", "2026-12-10T09:00:00"),
        weekly_on("2027-01-04"),
        monthly_on("2027-01-07"),
        weekly_on("2027-01-11"),
        weekly_on("2027-01-25"),
        weekly_on("2027-02-01"),
        monthly_on("2027-02-04"),
        weekly_on("2027-02-08"),
        weekly_on("2027-02-15", 19, "exception"),  # moved to 11:00 Pacific
        weekly_on("2027-02-22"),
        weekly_on("2027-03-01"),
        monthly_on("2027-03-04"),
        weekly_on("2027-03-08"),
        weekly_on("2027-03-15", 16),  # daylight saving time from 2027-03-14
    ]


def _utc(moment: dict[str, str]) -> datetime:
    assert moment["timeZone"] == "UTC", moment
    return datetime.fromisoformat(moment["dateTime"][:19])


def test_calendar_view_in_utc_by_start_without_cancelled_occurrences(stack: Stack) -> None:
    weekly = stack.event("weekly-sync")[1]
    cancelled = f"OID.{weekly}.2027-01-18"
    assert post(stack, f"v1.0/me/events/{cancelled}/cancel", adele(stack)).status_code == 202

    response = get(stack, f"v1.0/me/calendarView?{WINDOW}&$top=50", adele(stack))

    events = values(response)
    assert "Preference-Applied" not in response.headers
    assert response.json()["@odata.context"].endswith(")/calendarView")
    assert "@odata.nextLink" not in response.json()
    assert {(event["start"]["timeZone"], event["end"]["timeZone"]) for event in events} == {
        ("UTC", "UTC")
    }
    seen = [(event["id"], event["type"], event["start"]["dateTime"]) for event in events]
    assert seen == [(i, kind, f"{start}.0000000") for i, kind, start in expected_view(stack)]


def test_calendar_view_in_the_preferred_zone(stack: Stack) -> None:
    weekly = stack.event("weekly-sync")[1]
    assert post(stack, f"v1.0/me/events/OID.{weekly}.2027-01-18/cancel", adele(stack)).ok
    pacific = ZoneInfo("America/Los_Angeles")

    response = get(
        stack,
        f"beta/me/calendarView?{WINDOW}&$top=50",
        adele(stack),
        headers={"Prefer": PREFER_PACIFIC},
    )

    assert response.headers["Preference-Applied"] == PREFER_PACIFIC
    events = values(response)
    expected = expected_view(stack)
    assert [event["id"] for event in events] == [item[0] for item in expected]
    for event, (event_id, _, utc_start) in zip(events, expected, strict=True):
        local = datetime.fromisoformat(utc_start).replace(tzinfo=UTC).astimezone(pacific)
        assert event["start"] == {
            "dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": PACIFIC,
        }
        if event_id.startswith(f"OID.{weekly}."):
            hour = "11" if event_id.endswith("2027-02-15") else "09"
            assert event["start"]["dateTime"][11:] == f"{hour}:00:00.0000000"


@pytest.mark.parametrize(
    ("template", "keys"),
    [
        ("iCalUId eq '{budget_uid}'", ["budget"]),
        ("iCalUId eq '{weekly_uid}'", ["weekly-sync"]),
        ("subject eq 'Offsite logistics'", ["offsite"]),
        ("start/dateTime ge '2027-01-01T00:00:00'", ["weekly-sync", "all-hands"]),
        ("end/dateTime lt '2026-12-06T00:00:00'", ["planning", "budget"]),
        (
            "start/dateTime ge '2026-12-04T00:00:00' and end/dateTime lt '2026-12-31T00:00:00'",
            ["budget", "launch", "offsite"],
        ),
        ("subject eq 'Quarterly planning' and start/dateTime ge '2027-01-01T00:00:00'", []),
    ],
)
def test_filter_returns_exactly_the_matching_events(
    stack: Stack, template: str, keys: list[str]
) -> None:
    budget = stack.tenant.copies["budget"][stack.user(ADELE)]
    ids = {key: stack.event(key)[1] for key in ("planning", "launch", "offsite", "weekly-sync")}
    ids |= {"budget": budget, "all-hands": stack.event("all-hands")[1]}
    uids = {
        f"{name}_uid": get(stack, f"v1.0/me/events/{ids[key]}", adele(stack)).json()["iCalUId"]
        for name, key in (("budget", "budget"), ("weekly", "weekly-sync"))
    }
    expression = template.format(**uids)

    events = values(
        send(stack, "GET", "v1.0/me/events", adele(stack), params={"$filter": expression})
    )

    assert [event["id"] for event in events] == [ids[key] for key in keys]


@pytest.mark.parametrize(
    "expression",
    [
        "contains(subject,'x')",
        "startswith(subject,'Q')",
        "location/displayName eq 'x'",
        "isCancelled eq false",
        "subject gt 'A'",
    ],
)
def test_refused_filter_is_400_invalid_url_query_filter(stack: Stack, expression: str) -> None:
    assert_refused(
        stack,
        lambda: send(stack, "GET", "v1.0/me/events", adele(stack), params={"$filter": expression}),
        400,
        "ErrorInvalidUrlQueryFilter",
        INVALID_FILTER,
    )


# 401 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "message"),
    [(None, "Access token is empty."), ("not-a-jwt", "Access token validation failure.")],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_401_carries_the_bearer_challenge(
    stack: Stack, token: str | None, message: str, method: str
) -> None:
    planning = stack.event("planning")[1]
    path = f"v1.0/me/events/{planning}" + ("/cancel" if method == "POST" else "")
    response = assert_refused(
        stack,
        lambda: send(
            stack, method, path, token, body=b"{}", headers={"Content-Type": "application/json"}
        ),
        401,
        "InvalidAuthenticationToken",
        message,
    )
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm=""'), challenge
    assert f'client_id="{DEV_API_APP_ID}"' in challenge
    assert 'authorization_uri="https://' in challenge
