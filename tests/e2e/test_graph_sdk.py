"""The official msgraph-sdk for Python, pointed at the app, works unchanged."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.calendar_groups.item.calendars.item.events.item.cancel import (
    cancel_post_request_body as calendar_group_cancel,
)
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import (
    CancelPostRequestBody,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as sdk_default_options
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory

from tests.e2e.conftest import Stack

# kiota's httpx adapter leaves the connection of an error response open past the client's close;
# its ResourceWarning surfaces at garbage collection. That is the SDK's, not this app's.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

ADELE = "AdeleV@contoso.example"
ORGANIZER_ONLY = "Your request can't be completed. You need to be an organizer to cancel a meeting."


class DevToken(AccessTokenProvider):
    """Hands the SDK a dev token, as azure-identity would hand it an Entra one."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator([])


@dataclass(frozen=True)
class Refusal:
    """What an `ODataError` raised by the SDK said."""

    status: int | None
    code: str | None
    message: str | None


def call(
    stack: Stack, token: str, request: Callable[[GraphServiceClient], Awaitable[None]]
) -> Refusal | None:
    """One SDK call through the SDK's own default client (middleware and options), then closed.

    An `ODataError` is reduced to what it said, so that its traceback, which pins the SDK's
    leaked connection, is gone before the collection below reports that leak here.
    """

    async def run() -> Refusal | None:
        factory = GraphClientFactory.create_with_default_middleware
        async with factory(options=sdk_default_options) as http:
            auth = BaseBearerTokenAuthenticationProvider(DevToken(token))
            adapter = GraphRequestAdapter(auth, client=http)
            adapter.base_url = stack.base_url
            try:
                await request(GraphServiceClient(request_adapter=adapter))
            except ODataError as error:
                main = error.error
                return Refusal(
                    error.response_status_code,
                    main.code if main else None,
                    main.message if main else None,
                )
            return None

    try:
        return asyncio.run(run())
    finally:
        gc.collect()


def test_sdk_cancels_with_a_comment(stack: Stack) -> None:
    owner, event_id = stack.event("planning")
    body = CancelPostRequestBody(comment="Cancelling for this week due to all hands")

    refusal = call(
        stack, stack.token(ADELE), lambda c: c.me.events.by_event_id(event_id).cancel.post(body)
    )

    assert refusal is None

    outbox = stack.row(owner, f"outbox|{event_id}")
    assert outbox is not None
    assert '"comment":"Cancelling for this week due to all hands"' in outbox["Notification"]
    event_row = stack.row(owner, f"event|{event_id}")
    assert event_row is not None
    assert event_row["Folder"] == "deleteditems"


def test_sdk_cancels_without_a_comment_through_calendar_groups(stack: Stack) -> None:
    owner, event_id = stack.event("offsite")
    trips = stack.tenant.calendars[owner]["Trips"]

    def cancel(client: GraphServiceClient) -> Awaitable[None]:
        return (
            client.users.by_user_id(ADELE)
            .calendar_groups.by_calendar_group_id(trips.calendar_group_id)
            .calendars.by_calendar_id(trips.calendar_id)
            .events.by_event_id(event_id)
            .cancel.post(calendar_group_cancel.CancelPostRequestBody())
        )

    assert call(stack, stack.token(ADELE), cancel) is None

    outbox = stack.row(owner, f"outbox|{event_id}")
    assert outbox is not None
    assert '"comment":null' in outbox["Notification"]


def test_sdk_raises_odata_error_for_an_attendee(stack: Stack) -> None:
    copy = stack.tenant.copies["budget"][stack.user(ADELE)]
    before = stack.snapshot()

    refusal = call(
        stack,
        stack.token(ADELE),
        lambda c: c.me.events.by_event_id(copy).cancel.post(CancelPostRequestBody(comment="no")),
    )

    assert refusal == Refusal(400, "ErrorInvalidRequest", ORGANIZER_ONLY)
    assert stack.snapshot() == before
