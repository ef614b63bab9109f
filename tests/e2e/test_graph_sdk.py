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
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.calendar_groups.item.calendars.item.events.item.cancel import (
    cancel_post_request_body as calendar_group_cancel,
)
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
    CalendarViewRequestBuilder,
)
from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder
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
    stack: Stack,
    token: str,
    request: Callable[[GraphServiceClient], Awaitable[object]],
    *,
    base_url: str | None = None,
) -> Refusal | None:
    """One SDK call through the SDK's own default client (middleware and options), then closed.

    The client's base URL is `base_url` (`stack.base_url`, the `/api` alias, unless given).
    An `ODataError` is reduced to what it said, so that its traceback, which pins the SDK's
    leaked connection, is gone before the collection below reports that leak here.
    """

    async def run() -> Refusal | None:
        factory = GraphClientFactory.create_with_default_middleware
        async with factory(options=sdk_default_options) as http:
            auth = BaseBearerTokenAuthenticationProvider(DevToken(token))
            adapter = GraphRequestAdapter(auth, client=http)
            adapter.base_url = base_url or stack.base_url
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


# The Graph surface around cancel, through the SDK at Graph's own base URL ---------------------

PREFER_PACIFIC = 'outlook.timezone="Pacific Standard Time"'


def graph_base(stack: Stack) -> str:
    """`<host>/v1.0`, as the SDK's default `https://graph.microsoft.com/v1.0`."""
    return f"{stack.base_url.removesuffix('/api')}/v1.0"


def test_sdk_pages_events_to_the_end_with_next_link(stack: Stack) -> None:
    pages: list[list[str]] = []
    links: list[str] = []

    async def walk(client: GraphServiceClient) -> None:
        config = RequestConfiguration(
            query_parameters=EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(top=2)
        )
        page = await client.me.events.get(request_configuration=config)
        while page is not None:
            pages.append([event.id or "" for event in page.value or []])
            if page.odata_next_link is None:
                break
            links.append(page.odata_next_link)
            page = await client.me.events.with_url(page.odata_next_link).get()

    assert call(stack, stack.token(ADELE), walk, base_url=graph_base(stack)) is None

    adele = stack.user(ADELE)
    expected = [stack.event(key)[1] for key in ("planning",)]
    expected.append(stack.tenant.copies["budget"][adele])  # Alex's meeting, Adele's copy
    expected += [stack.event(key)[1] for key in ("launch", "offsite", "weekly-sync", "all-hands")]
    assert pages == [expected[0:2], expected[2:4], expected[4:6]]
    assert all(link.startswith(f"{graph_base(stack)}/me/events?") for link in links), links


def test_sdk_calendar_view_in_utc_and_in_the_preferred_zone(stack: Stack) -> None:
    _, weekly = stack.event("weekly-sync")  # Mondays 09:00 Pacific; DST from 2027-03-14
    views: list[list[tuple[str, str | None, str | None]]] = []

    async def view(client: GraphServiceClient) -> None:
        for prefer in (None, PREFER_PACIFIC):
            config = RequestConfiguration(
                query_parameters=CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
                    start_date_time="2027-03-01T00:00:00Z", end_date_time="2027-03-20T00:00:00Z"
                )
            )
            if prefer is not None:
                config.headers.add("Prefer", prefer)
            found = await client.me.calendar_view.get(request_configuration=config)
            assert found is not None
            views.append(
                [
                    (
                        event.id or "",
                        event.start.date_time if event.start else None,
                        event.start.time_zone if event.start else None,
                    )
                    for event in found.value or []
                    if (event.id or "").startswith(f"OID.{weekly}.")
                ]
            )

    assert call(stack, stack.token(ADELE), view, base_url=graph_base(stack)) is None

    days = ("2027-03-01", "2027-03-08", "2027-03-15")
    utc_hours = ("17", "17", "16")
    assert views[0] == [
        (f"OID.{weekly}.{day}", f"{day}T{hour}:00:00.0000000", "UTC")
        for day, hour in zip(days, utc_hours, strict=True)
    ]
    assert views[1] == [
        (f"OID.{weekly}.{day}", f"{day}T09:00:00.0000000", "Pacific Standard Time") for day in days
    ]


def test_sdk_cancels_an_occurrence_through_instances(stack: Stack) -> None:
    owner, master = stack.event("weekly-sync")
    occurrence = f"OID.{master}.2027-01-11"
    # msgraph-sdk has no item builder under `instances` (`….instances.by_event_id` does not
    # exist), so the cancel builder is pointed at the path; the SDK's own request machinery
    # (serializer, middleware, error mapping) still sends it.
    url = f"{graph_base(stack)}/me/events/{master}/instances/{occurrence}/cancel"
    body = CancelPostRequestBody(comment="Not this week")

    refusal = call(
        stack,
        stack.token(ADELE),
        lambda c: c.me.events.by_event_id(master).cancel.with_url(url).post(body),
        base_url=graph_base(stack),
    )

    assert refusal is None
    token = stack.token(ADELE)
    gone = stack.get(f"me/events/{master}/instances/{occurrence}", token)
    assert gone.status_code == 404
    master_json = stack.get(f"me/events/{master}", token).json()
    assert master_json["cancelledOccurrences"] == [occurrence]
    outbox = stack.row(owner, f"outbox|{occurrence}")
    assert outbox is not None
    assert '"comment":"Not this week"' in outbox["Notification"]


def test_sdk_raises_odata_error_for_an_unknown_segment(stack: Stack) -> None:
    url = f"{graph_base(stack)}/me/eventz"

    refusal = call(
        stack,
        stack.token(ADELE),
        lambda c: c.me.events.with_url(url).get(),
        base_url=graph_base(stack),
    )

    assert refusal == Refusal(400, "BadRequest", "Resource not found for the segment 'eventz'.")
