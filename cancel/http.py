"""Parsing a cancel request, and the one place a `GraphError` becomes Graph's error envelope."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import azure.functions as func
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError, field_validator

from shared.calendar.errors import (
    EmptyPayload,
    GraphError,
    MalformedJson,
    MissingTimeWindow,
    PayloadTooLarge,
    RequestBodyRead,
    UnsupportedMediaType,
)
from shared.calendar.model import Caller, Container, MailboxRef
from shared.runtime.services import services, utc_now
from shared.use_cases.cancellation import CancelEvent, cancel_event, list_instances, read_event

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_COMMENT_UTF16_UNITS = 32_000
"""What one Table string property holds (64 KiB of UTF-16), less room for nothing else."""


class InternalError(GraphError):
    status = 500
    code = "generalException"
    message = "An internal server error occurred while processing the request."


class CancelParameters(BaseModel):
    """The body of `cancel`: one optional string, `Comment`, named in any letter case."""

    model_config = ConfigDict(extra="forbid")

    comment: StrictStr | None = None

    @field_validator("comment")
    @classmethod
    def _fits_the_store(cls, comment: str | None) -> str | None:
        if comment is None:
            return None
        try:
            units = len(comment.encode("utf-16-le")) // 2
        except UnicodeEncodeError:
            raise ValueError("The parameter 'Comment' is not valid Unicode text.") from None
        if units > MAX_COMMENT_UTF16_UNITS:
            raise ValueError(
                f"The parameter 'Comment' is longer than the {MAX_COMMENT_UTF16_UNITS} "
                "characters a cancellation can carry."
            )
        return comment


def read_comment(req: func.HttpRequest) -> str | None:
    media_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType()
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    if not body.strip():
        raise EmptyPayload()
    try:
        document = json.loads(body.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_no)
    except (ValueError, RecursionError):
        raise MalformedJson() from None
    if not isinstance(document, _Object):
        raise RequestBodyRead(
            "The request payload must be a JSON object holding the parameters of 'cancel'."
        )
    parameters: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, value in document.pairs:
        if name.startswith("@"):
            continue  # OData instance annotations describe the payload; they are not parameters
        key = name.lower()
        if key in names:
            raise RequestBodyRead(f"The parameter '{name}' is specified more than once.")
        names[key] = name
        parameters[key] = value
    try:
        return CancelParameters.model_validate(parameters).comment
    except ValidationError as error:
        raise _body_error(error, names) from None


class _Object:
    """A parsed JSON object that remembers its members in order, duplicates included."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    return _Object(pairs)


def _no(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def _body_error(error: ValidationError, names: dict[str, str]) -> RequestBodyRead:
    first = error.errors()[0]
    name = names.get(str(first["loc"][0]), str(first["loc"][0])) if first["loc"] else "Comment"
    if first["type"] == "extra_forbidden":
        return RequestBodyRead(
            f"The parameter '{name}' in the request payload is not a valid parameter "
            "for the operation 'cancel'."
        )
    if first["type"] == "value_error":
        return RequestBodyRead(str(first["ctx"]["error"]))
    return RequestBodyRead(
        f"Cannot convert the value of parameter '{name}' to the expected type 'Edm.String'."
    )


def authenticate(req: func.HttpRequest) -> Caller:
    return services().tokens.caller(req.headers.get("authorization"))


_CLIENT_REQUEST_ID = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?")
"""What we echo of a `client-request-id` (Graph expects a GUID): printable ASCII, at most 128
characters; anything else is replaced by the request's own id, never written back."""


def client_request_id(req: func.HttpRequest, request_id: str) -> str:
    sent = req.headers.get("client-request-id") or ""
    return sent if _CLIENT_REQUEST_ID.fullmatch(sent) else request_id


def respond(req: func.HttpRequest, action: Callable[[], func.HttpResponse]) -> func.HttpResponse:
    """Run one request; every outcome carries `request-id` and `client-request-id`."""
    request_id = str(uuid4())
    client_id = client_request_id(req, request_id)
    try:
        response = action()
    except GraphError as error:
        response = graph_error(error, request_id, client_id)
    except Exception:
        log.exception("request %s failed", request_id)
        response = graph_error(InternalError(), request_id, client_id)
    response.headers["request-id"] = request_id
    response.headers["client-request-id"] = client_id
    return response


def graph_error(error: GraphError, request_id: str, client_request_id: str) -> func.HttpResponse:
    envelope = {
        "error": {
            "code": error.code,
            "message": error.message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }
    headers = error.headers
    return func.HttpResponse(
        json.dumps(envelope), status_code=error.status, mimetype="application/json", headers=headers
    )


def cancel(req: func.HttpRequest, mailbox: MailboxRef, container: Container) -> func.HttpResponse:
    """`POST …/events/{id}/cancel` on any route family: 202 and an empty body when done."""

    def action() -> func.HttpResponse:
        caller = authenticate(req)
        comment = read_comment(req)
        ports = services()
        cancel_event(
            CancelEvent(mailbox, container, req.route_params["id"], comment),
            caller,
            directory=ports.directory,
            calendars=ports.calendars,
            queue=ports.queue,
            now=utc_now,
        )
        return func.HttpResponse(status_code=202)

    return respond(req, action)


def get(req: func.HttpRequest, mailbox: MailboxRef, container: Container) -> func.HttpResponse:
    """`GET …/events/{id}`: the event in Graph JSON, to observe what cancel did."""

    def action() -> func.HttpResponse:
        caller = authenticate(req)
        ports = services()
        event = read_event(
            mailbox,
            container,
            req.route_params["id"],
            caller,
            directory=ports.directory,
            calendars=ports.calendars,
        )
        return func.HttpResponse(
            json.dumps(event.to_graph()), status_code=200, mimetype="application/json"
        )

    return respond(req, action)


def instances(
    req: func.HttpRequest, mailbox: MailboxRef, container: Container
) -> func.HttpResponse:
    """`GET …/events/{id}/instances?startDateTime=…&endDateTime=…`: a series' occurrences."""

    def action() -> func.HttpResponse:
        caller = authenticate(req)
        window = time_window(req)
        ports = services()
        found = list_instances(
            mailbox,
            container,
            req.route_params["id"],
            window,
            caller,
            directory=ports.directory,
            calendars=ports.calendars,
        )
        body = {"value": [event.to_graph() for event in found]}
        return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")

    return respond(req, action)


def time_window(req: func.HttpRequest) -> tuple[datetime, datetime]:
    """Graph's startDateTime/endDateTime: ISO 8601, UTC when no offset is given.

    Only parsed here; the core decides whether the window is one it serves.
    """
    params = {key.lower(): value for key, value in req.params.items()}
    try:
        start, end = (
            datetime.fromisoformat(params[name].replace("Z", "+00:00"))
            for name in ("startdatetime", "enddatetime")
        )
    except (KeyError, ValueError):
        raise MissingTimeWindow() from None
    start, end = (m if m.tzinfo else m.replace(tzinfo=UTC) for m in (start, end))
    return start, end
