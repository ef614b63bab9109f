"""Each error row of DESIGN.md section 4 over HTTP: status, code, exact message, no change."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from devtools.tokens import mint
from tests.e2e.conftest import Stack

ADELE = "AdeleV@contoso.example"
ALEX = "AlexW@contoso.example"
LEE = "LeeG@contoso.example"
NOT_FOUND = "The specified object was not found in the store."
TOKEN_FAILURE = "Access token validation failure."
DENIED = "Access is denied. Check credentials and try again."
ORGANIZER_ONLY = "Your request can't be completed. You need to be an organizer to cancel a meeting."
MALFORMED = (
    "Unable to read JSON request payload. Please ensure Content-Type header is set and "
    "payload is of valid JSON format."
)


def assert_refused(
    stack: Stack,
    send: Callable[[], requests.Response],
    status: int,
    code: str,
    message: str | None = None,
) -> dict[str, object]:
    before = stack.snapshot()
    response = send()
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    if message is not None:
        assert error["message"] == message
    inner = error["innerError"]
    assert inner["request-id"] == response.headers["request-id"]
    assert inner["client-request-id"] == response.headers["client-request-id"]
    datetime.strptime(inner["date"], "%Y-%m-%dT%H:%M:%S")
    assert "Traceback" not in response.text
    assert stack.snapshot() == before, "a refused request changed storage"
    return dict(error)


def planning(stack: Stack) -> str:
    return f"me/events/{stack.event('planning')[1]}/cancel"


def test_attendee_gets_the_organizer_error(stack: Stack) -> None:
    copy = stack.tenant.copies["budget"][stack.user(ADELE)]
    assert_refused(
        stack,
        lambda: stack.post(f"me/events/{copy}/cancel", stack.token(ADELE)),
        400,
        "ErrorInvalidRequest",
        ORGANIZER_ONLY,
    )


def test_attendee_copy_through_users_route(stack: Stack) -> None:
    copy = stack.tenant.copies["planning"][stack.user(ALEX)]
    assert_refused(
        stack,
        lambda: stack.post(f"users/{ALEX}/events/{copy}/cancel", stack.app_token()),
        400,
        "ErrorInvalidRequest",
        ORGANIZER_ONLY,
    )


def test_unknown_event(stack: Stack) -> None:
    assert_refused(
        stack,
        lambda: stack.post("me/events/AAMkAGI1AAAnotThere=/cancel", stack.token(ADELE)),
        404,
        "ErrorItemNotFound",
        NOT_FOUND,
    )


def test_already_cancelled(stack: Stack) -> None:
    assert stack.post(planning(stack), stack.token(ADELE)).status_code == 202
    assert_refused(
        stack,
        lambda: stack.post(planning(stack), stack.token(ADELE)),
        404,
        "ErrorItemNotFound",
        NOT_FOUND,
    )


def test_event_of_another_mailbox_is_not_found(stack: Stack) -> None:
    _, alex_event = stack.event("budget")
    assert_refused(
        stack,
        lambda: stack.post(f"me/events/{alex_event}/cancel", stack.token(ADELE)),
        404,
        "ErrorItemNotFound",
        NOT_FOUND,
    )


@pytest.mark.parametrize(
    "template",
    [
        "me/calendars/{projects}/events/{planning}/cancel",
        "me/calendar/events/{launch}/cancel",
        "me/calendargroup/calendars/{trips}/events/{offsite}/cancel",
        "me/calendargroup/calendars/{projects}/events/{planning}/cancel",
        "me/calendargroups/{travel}/calendars/{projects}/events/{launch}/cancel",
        "me/calendargroups/{travel}/calendars/{trips}/events/{launch}/cancel",
        "me/calendargroups/{default_group}/calendars/{trips}/events/{offsite}/cancel",
    ],
)
def test_event_not_in_the_named_container(stack: Stack, template: str) -> None:
    calendars = stack.tenant.calendars[stack.user(ADELE)]
    path = template.format(
        projects=calendars["Projects"].calendar_id,
        trips=calendars["Trips"].calendar_id,
        travel=calendars["Trips"].calendar_group_id,
        default_group=calendars["Calendar"].calendar_group_id,
        planning=stack.event("planning")[1],
        launch=stack.event("launch")[1],
        offsite=stack.event("offsite")[1],
    )
    assert_refused(
        stack, lambda: stack.post(path, stack.token(ADELE)), 404, "ErrorItemNotFound", NOT_FOUND
    )


def test_unknown_user(stack: Stack) -> None:
    _, event_id = stack.event("planning")
    assert_refused(
        stack,
        lambda: stack.post(
            f"users/nobody@contoso.example/events/{event_id}/cancel", stack.app_token()
        ),
        404,
        "ErrorInvalidUser",
        "The requested user 'nobody@contoso.example' is invalid.",
    )


def test_unknown_user_by_object_id(stack: Stack) -> None:
    _, event_id = stack.event("planning")
    unknown = "0f0e0d0c-0b0a-4909-8807-060504030201"
    assert_refused(
        stack,
        lambda: stack.post(f"users/{unknown}/events/{event_id}/cancel", stack.app_token()),
        404,
        "ErrorInvalidUser",
        f"The requested user '{unknown}' is invalid.",
    )


@pytest.mark.parametrize(
    "template",
    [
        "groups/0f0e0d0c-0b0a-4909-8807-060504030201/events/{planning}/cancel",
        "me/calendars/AAMkNoSuchCalendar/events/{planning}/cancel",
        "me/calendargroups/AAMkNoSuchGroup/calendars/{default}/events/{planning}/cancel",
    ],
)
def test_unknown_group_calendar_or_calendar_group(stack: Stack, template: str) -> None:
    calendars = stack.tenant.calendars[stack.user(ADELE)]
    path = template.format(
        planning=stack.event("planning")[1], default=calendars["Calendar"].calendar_id
    )
    assert_refused(
        stack, lambda: stack.post(path, stack.token(ADELE)), 404, "ErrorItemNotFound", NOT_FOUND
    )


@pytest.mark.parametrize(
    "path",
    [
        "me/events/bad%23id/cancel",
        "me/events/has%20space/cancel",
        "me/events/OID.AAMkSeries.2026-02-30/cancel",
        "me/calendars/a%5Cb/events/AAMkx/cancel",
        "groups/not-a-guid/events/AAMkx/cancel",
        "me/calendargroups/%3F/calendars/AAMkx/events/AAMkx/cancel",
    ],
)
def test_malformed_id(stack: Stack, path: str) -> None:
    assert_refused(
        stack,
        lambda: stack.post(path, stack.token(ADELE)),
        400,
        "ErrorInvalidIdMalformed",
        "Id is malformed.",
    )


def test_me_with_an_application_token(stack: Stack) -> None:
    assert_refused(
        stack,
        lambda: stack.post(planning(stack), stack.app_token()),
        400,
        "BadRequest",
        "/me request is only valid with delegated authentication flow.",
    )


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer "])
def test_no_token(stack: Stack, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_refused(
        stack,
        lambda: stack.post(planning(stack), None, headers=headers),
        401,
        "InvalidAuthenticationToken",
        "Access token is empty.",
    )


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scp"] = "Calendars.ReadWrite Directory.ReadWrite.All"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


BAD_TOKENS: dict[str, Callable[[Stack], str]] = {
    "signature": lambda s: _tampered(s.token(ADELE)),
    "expired": lambda s: mint(
        s.key, subject_oid=s.user(ADELE), now=datetime.now(UTC) - timedelta(hours=3)
    ),
    "audience": lambda s: mint(s.key, subject_oid=s.user(ADELE), audience="api://other"),
    "issuer": lambda s: mint(s.key, subject_oid=s.user(ADELE), issuer="https://evil.example/"),
    "tenant": lambda s: mint(
        s.key, subject_oid=s.user(ADELE), tenant_id="99999999-9999-4999-8999-999999999999"
    ),
    "garbage": lambda s: "not-a-jwt",
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_bad_token(stack: Stack, kind: str) -> None:
    token = BAD_TOKENS[kind](stack)
    assert_refused(
        stack,
        lambda: stack.post(planning(stack), token),
        401,
        "InvalidAuthenticationToken",
        TOKEN_FAILURE,
    )


def test_token_without_calendars_read_write(stack: Stack) -> None:
    token = stack.token(ADELE, scopes=("Calendars.Read", "User.Read"))
    assert_refused(
        stack, lambda: stack.post(planning(stack), token), 403, "ErrorAccessDenied", DENIED
    )


def test_application_token_without_the_role(stack: Stack) -> None:
    owner, event_id = stack.event("planning")
    token = stack.app_token(roles=("Calendars.Read",))
    assert_refused(
        stack,
        lambda: stack.post(f"users/{owner}/events/{event_id}/cancel", token),
        403,
        "ErrorAccessDenied",
        DENIED,
    )


def test_delegated_caller_cannot_reach_another_mailbox(stack: Stack) -> None:
    _, event_id = stack.event("planning")
    assert_refused(
        stack,
        lambda: stack.post(f"users/{ADELE}/events/{event_id}/cancel", stack.token(LEE)),
        403,
        "ErrorAccessDenied",
        DENIED,
    )


def test_delegated_caller_outside_the_group(stack: Stack) -> None:
    group, event_id = stack.event("marketing-sync")
    assert_refused(
        stack,
        lambda: stack.post(f"groups/{group}/events/{event_id}/cancel", stack.token(LEE)),
        403,
        "ErrorAccessDenied",
        DENIED,
    )


@pytest.mark.parametrize("body", [b"", b"   \r\n"])
def test_empty_body(stack: Stack, body: bytes) -> None:
    assert_refused(
        stack,
        lambda: stack.post(planning(stack), stack.token(ADELE), body),
        400,
        "BadRequest",
        "Empty Payload. JSON content expected.",
    )


@pytest.mark.parametrize(
    "body", [b"{", b'{"Comment": }', b"{'Comment': 'x'}", b'{"Comment": NaN}', b"\xff\xfe{}"]
)
def test_malformed_json(stack: Stack, body: bytes) -> None:
    assert_refused(
        stack,
        lambda: stack.post(planning(stack), stack.token(ADELE), body),
        400,
        "BadRequest",
        MALFORMED,
    )


def test_deeply_nested_json_is_malformed_not_a_crash(stack: Stack) -> None:
    body = b"[" * 200_000 + b"]" * 200_000
    assert_refused(
        stack, lambda: stack.post(planning(stack), stack.token(ADELE), body), 400, "BadRequest"
    )


@pytest.mark.parametrize("body", [b"[]", b'"Cancel"', b"42", b"null"])
def test_body_not_an_object(stack: Stack, body: bytes) -> None:
    assert_refused(
        stack,
        lambda: stack.post(planning(stack), stack.token(ADELE), body),
        400,
        "RequestBodyRead",
    )


def test_unknown_parameter(stack: Stack) -> None:
    assert_refused(
        stack,
        lambda: stack.post(
            planning(stack), stack.token(ADELE), b'{"Comment": "x", "Notify": true}'
        ),
        400,
        "RequestBodyRead",
        "The parameter 'Notify' in the request payload is not a valid parameter for the "
        "operation 'cancel'.",
    )


@pytest.mark.parametrize("value", [b"5", b"true", b"[]", b'{"text": "x"}'])
def test_comment_not_a_string(stack: Stack, value: bytes) -> None:
    assert_refused(
        stack,
        lambda: stack.post(planning(stack), stack.token(ADELE), b'{"Comment": ' + value + b"}"),
        400,
        "RequestBodyRead",
        "Cannot convert the value of parameter 'Comment' to the expected type 'Edm.String'.",
    )


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml", "json"])
def test_content_type_missing_or_not_json(stack: Stack, content_type: str | None) -> None:
    def send() -> requests.Response:
        headers = {"Authorization": f"Bearer {stack.token(ADELE)}"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        return stack.http.post(f"{stack.base_url}/{planning(stack)}", data=b"{}", headers=headers)

    assert_refused(
        stack,
        send,
        400,
        "BadRequest",
        "Unable to read JSON request payload. Please ensure Content-Type header is set and "
        "payload is of valid JSON format.",
    )


def test_body_over_the_limit(stack: Stack) -> None:
    body = b'{"Comment": "' + b"x" * (1024 * 1024) + b'"}'
    assert_refused(
        stack,
        lambda: stack.post(planning(stack), stack.token(ADELE), body),
        413,
        "RequestEntityTooLarge",
        "The request body is larger than 1048576 bytes.",
    )


def test_comment_longer_than_the_store_keeps(stack: Stack) -> None:
    body = json.dumps({"Comment": "x" * 32_001}).encode()
    assert_refused(
        stack,
        lambda: stack.post(planning(stack), stack.token(ADELE), body),
        400,
        "RequestBodyRead",
        "The parameter 'Comment' is longer than the 32000 characters a cancellation can carry.",
    )


def test_comment_at_the_limit_is_kept_whole(stack: Stack) -> None:
    owner, event_id = stack.event("planning")
    comment = "é" * 31_999 + "z"
    response = stack.post(
        planning(stack), stack.token(ADELE), json.dumps({"Comment": comment}).encode()
    )
    assert response.status_code == 202
    outbox = stack.row(owner, f"outbox|{event_id}")
    assert outbox is not None
    stored = "".join(str(outbox[k]) for k in sorted(outbox) if k.startswith("Notification"))
    assert json.loads(stored)["comment"] == comment
