"""Reading a request (body, window, ids) and the one place a `GraphError` becomes Graph's error
envelope; what each path does is `cancel/graph.py`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
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
)
from shared.calendar.model import Caller
from shared.runtime import telemetry
from shared.runtime.services import services

if TYPE_CHECKING:
    from shared.graph.new_event import NewEvent

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


def read_json_object(req: func.HttpRequest, not_an_object: str) -> list[tuple[str, Any]]:
    """The members of the JSON object a request carries, in order, duplicates included; what
    Graph answers for anything else (`not_an_object` when the JSON is not an object)."""
    media_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise MalformedJson()  # what Graph answers for a missing or non-JSON Content-Type
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
        raise RequestBodyRead(not_an_object)
    return document.pairs


def read_comment(req: func.HttpRequest) -> str | None:
    pairs = read_json_object(
        req, "The request payload must be a JSON object holding the parameters of 'cancel'."
    )
    parameters: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, value in pairs:
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


MAX_BODY_DEPTH = 32
"""How deeply objects and arrays may nest in a posted resource (an event needs four)."""


def read_new_event(req: func.HttpRequest) -> NewEvent:
    """The body of a create: Graph's `event` (`shared/graph/new_event.py` checks it), after
    the checks every body gets and one more: no name twice in any object, no text that is not
    Unicode (a lone surrogate), no nesting deeper than MAX_BODY_DEPTH."""
    # Imported by the first create, not at start: its models only serve this route.
    from shared.graph.new_event import parse_new_event

    pairs = read_json_object(
        req, "The request payload must be a JSON object holding a 'microsoft.graph.event'."
    )
    return parse_new_event(_plain(_Object(pairs), "", 0))


def _plain(value: Any, name: str, depth: int) -> Any:
    """A parsed JSON value as dicts and lists, refusing what `read_new_event` refuses."""
    if depth > MAX_BODY_DEPTH:
        raise RequestBodyRead(f"The request payload is nested deeper than {MAX_BODY_DEPTH} levels.")
    if isinstance(value, str):
        _unicode(value, name)
        return value
    if isinstance(value, list):
        return [_plain(item, name, depth + 1) for item in value]
    if not isinstance(value, _Object):
        return value
    members: dict[str, Any] = {}
    for key, item in value.pairs:
        _unicode(key, key)
        if key in members:
            raise RequestBodyRead(
                f"Multiple properties with the name '{key}' were detected in an entry or a "
                "complex value. In OData, duplicate property names are not allowed."
            )
        members[key] = _plain(item, key, depth + 1)
    return members


def _unicode(text: str, name: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestBodyRead(f"The property '{name}' is not valid Unicode text.") from None


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


def respond(
    req: func.HttpRequest,
    action: Callable[[], func.HttpResponse],
    context: func.Context | None = None,
    *,
    route: str = "/{*path}",
) -> func.HttpResponse:
    """Run one request; every outcome carries `request-id` and `client-request-id`, and so do
    its log records and spans, with the invocation id of `context` (see
    `shared/runtime/telemetry.py`; `route` names the span until the path is read)."""
    request_id = str(uuid4())
    client_id = client_request_id(req, request_id)
    with telemetry.http_request(
        req, route=route, context=context, request_id=request_id, client_request_id=client_id
    ) as scope:
        try:
            response = action()
        except GraphError as error:
            response = graph_error(error, request_id, client_id)
        except Exception as error:
            log.exception("request %s failed", request_id)
            scope.failed(error)
            response = graph_error(InternalError(), request_id, client_id)
        response.headers["request-id"] = request_id
        response.headers["client-request-id"] = client_id
        scope.answered(response.status_code)
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
    if error.status == 401:
        headers["WWW-Authenticate"] = services().tokens.challenge()
    return func.HttpResponse(
        json.dumps(envelope), status_code=error.status, mimetype="application/json", headers=headers
    )


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
