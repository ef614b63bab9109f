"""Reading a request (body, window, ids) and the one place a `GraphError` becomes Graph's error
envelope; what each path does is `cancel/graph.py`."""

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
)
from shared.calendar.model import Caller
from shared.runtime import telemetry
from shared.runtime.services import services

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
