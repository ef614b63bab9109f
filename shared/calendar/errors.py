"""One exception hierarchy for every refusal the product gives, each carrying Graph's wire form.

The HTTP edge turns a `GraphError` into Graph's error envelope in one place
(`cancel.http`); nothing else formats error responses.
"""

from __future__ import annotations

ITEM_NOT_FOUND = "The specified object was not found in the store."


class GraphError(Exception):
    status: int = 400
    code: str = "BadRequest"
    message: str = "The request is invalid."
    retry_after: int | None = None
    """Seconds for a `Retry-After` header (503 and 429)."""

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)

    @property
    def headers(self) -> dict[str, str]:
        """Headers the refusal carries beside the envelope."""
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class NotOrganizer(GraphError):
    status = 400
    code = "ErrorInvalidRequest"
    message = "Your request can't be completed. You need to be an organizer to cancel a meeting."


class ItemNotFound(GraphError):
    status = 404
    code = "ErrorItemNotFound"
    message = ITEM_NOT_FOUND


class InvalidUser(GraphError):
    status = 404
    code = "ErrorInvalidUser"

    def __init__(self, user: str) -> None:
        super().__init__(f"The requested user '{user}' is invalid.")


class IdMalformed(GraphError):
    status = 400
    code = "ErrorInvalidIdMalformed"
    message = "Id is malformed."


class MeRequiresDelegated(GraphError):
    status = 400
    code = "BadRequest"
    message = "/me request is only valid with delegated authentication flow."


class MissingToken(GraphError):
    status = 401
    code = "InvalidAuthenticationToken"
    message = "Access token is empty."


class InvalidToken(GraphError):
    status = 401
    code = "InvalidAuthenticationToken"
    message = "Access token validation failure."


class AccessDenied(GraphError):
    status = 403
    code = "ErrorAccessDenied"
    message = "Access is denied. Check credentials and try again."


class EmptyPayload(GraphError):
    status = 400
    code = "BadRequest"
    message = "Empty Payload. JSON content expected."


class MalformedJson(GraphError):
    status = 400
    code = "BadRequest"
    message = (
        "Unable to read JSON request payload. Please ensure Content-Type header is set "
        "and payload is of valid JSON format."
    )


class RequestBodyRead(GraphError):
    status = 400
    code = "RequestBodyRead"


class PayloadTooLarge(GraphError):
    status = 413
    code = "RequestEntityTooLarge"


class ServiceUnavailable(GraphError):
    """Storage could not be reached: the client may retry; nothing was changed."""

    status = 503
    code = "ServiceNotAvailable"
    message = "The service is temporarily unavailable. Please retry later."
    retry_after = 5


class ItemBusy(ServiceUnavailable):
    """The item kept changing under concurrent writers; nothing was changed."""

    message = "The item is being changed by other requests. Please retry later."
    retry_after = 1


class MissingTimeWindow(GraphError):
    status = 400
    code = "ErrorInvalidParameter"
    message = (
        "This request requires a time window specified by the query string parameters "
        "StartDateTime and EndDateTime."
    )


class WindowTooLarge(GraphError):
    """Graph's own limit and sentence for a calendar view's window (1825 days)."""

    status = 400
    code = "ErrorInvalidRequest"

    def __init__(self, days: int) -> None:
        super().__init__(
            "Your request can't be completed. The range between the start and end dates is "
            f"greater than the allowed range. Maximum number of days: {days}"
        )


class WindowOutOfRange(GraphError):
    status = 400
    code = "ErrorInvalidParameter"

    def __init__(self, first: str, last: str) -> None:
        super().__init__(f"The time window must lie between {first} and {last}.")


# The Graph surface: paths, methods, versions and query options ------------------------------


class InvalidVersion(GraphError):
    status = 400
    code = "BadRequest"
    message = "Invalid version."


class UnknownSegment(GraphError):
    status = 400
    code = "BadRequest"

    def __init__(self, segment: str) -> None:
        super().__init__(f"Resource not found for the segment '{segment}'.")


class MethodNotAllowed(GraphError):
    status = 405
    code = "ErrorInvalidRequest"
    message = "The OData request is not supported."

    def __init__(self, allow: tuple[str, ...]) -> None:
        super().__init__()
        self.allow = allow

    @property
    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allow)}


class InvalidQueryOption(GraphError):
    """A query option ($top, $select, $orderby, $skiptoken, …) the product cannot honour."""

    status = 400
    code = "BadRequest"


class UnknownProperty(InvalidQueryOption):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"Could not find a property named '{name}' on type 'microsoft.graph.event'."
        )


class InvalidFilter(GraphError):
    status = 400
    code = "ErrorInvalidUrlQueryFilter"
    message = "The query filter contains one or more invalid nodes."


class ChangeKeyMismatch(GraphError):
    """`If-Match` named a version of the item that is no longer current."""

    status = 412
    code = "ErrorIrresolvableConflict"
    message = (
        "The send or update operation could not be performed because the change key passed "
        "in the request does not match the current change key for the item."
    )
