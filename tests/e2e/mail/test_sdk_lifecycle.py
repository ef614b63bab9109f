"""A meeting's whole life through the official msgraph-sdk's own request builders, over the dev
host (HTTP and the mail worker) and Azurite: created with attendees, invitations read by an
independent iCalendar implementation, copies listed by the attendees, one occurrence cancelled,
the series deleted, an attendee's copy deleted (DESIGN.md sections 11 and 13)."""

from __future__ import annotations

import asyncio
import email
import gc
import time
from collections.abc import Awaitable, Callable
from datetime import date
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
import vobject  # type: ignore[import-untyped]
from kiota_abstractions.authentication import BaseBearerTokenAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.day_of_week import DayOfWeek
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.patterned_recurrence import PatternedRecurrence
from msgraph.generated.models.recurrence_pattern import RecurrencePattern
from msgraph.generated.models.recurrence_pattern_type import RecurrencePatternType
from msgraph.generated.models.recurrence_range import RecurrenceRange
from msgraph.generated.models.recurrence_range_type import RecurrenceRangeType
from msgraph.generated.models.response_type import ResponseType
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import (
    CancelPostRequestBody,
)
from msgraph.generated.users.item.events.item.instances.instances_request_builder import (
    InstancesRequestBuilder,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as sdk_default_options
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory

from devtools.tokens import mint
from tests.e2e.mail.conftest import MailStack, wait_until
from tests.e2e.test_graph_sdk import DevToken

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

ADELE, ALEX, MEGAN = "AdeleV@contoso.example", "AlexW@contoso.example", "MeganB@contoso.example"
PAT = "pat@fabrikam.example"
T = TypeVar("T")


def sdk(stack: MailStack, upn: str, request: Callable[[GraphServiceClient], Awaitable[T]]) -> T:
    """One call through the SDK's own default client, as `upn` signed in, then closed."""

    async def run() -> T:
        factory = GraphClientFactory.create_with_default_middleware
        async with factory(options=sdk_default_options) as http:
            token = mint(stack.key, subject_oid=stack.user(upn))
            adapter = GraphRequestAdapter(
                BaseBearerTokenAuthenticationProvider(DevToken(token)), client=http
            )
            adapter.base_url = stack.base_url
            return await request(GraphServiceClient(request_adapter=adapter))

    try:
        return asyncio.run(run())
    finally:
        gc.collect()


def calendar_part(path: Path) -> tuple[str, Any]:
    """The recipient and the `text/calendar` part of one .eml, read by vobject."""
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return str(message["To"]), vobject.readOne(part.get_content())
    raise AssertionError(f"{path.name} has no text/calendar part")


def new_messages(stack: MailStack, seen: int, count: int) -> list[tuple[str, Any]]:
    """The next `count` messages after the first `seen`, each (recipient, calendar)."""
    files = stack.wait_for_eml(seen + count)
    fresh = sorted(files, key=lambda f: f.stat().st_mtime_ns)[seen:]
    return [calendar_part(path) for path in fresh]


def addressed(messages: list[tuple[str, Any]]) -> list[str]:
    return sorted(to.rsplit("<", 1)[-1].rstrip(">").lower() for to, _ in messages)


def weekly_all_day() -> Event:
    day = DateTimeTimeZone
    return Event(
        subject="Team offsite planning",
        is_all_day=True,
        start=day(date_time="2027-01-04T00:00:00", time_zone="Pacific Standard Time"),
        end=day(date_time="2027-01-05T00:00:00", time_zone="Pacific Standard Time"),
        recurrence=PatternedRecurrence(
            pattern=RecurrencePattern(
                type=RecurrencePatternType.Weekly, interval=1, days_of_week=[DayOfWeek.Monday]
            ),
            range=RecurrenceRange(
                type=RecurrenceRangeType.Numbered,
                start_date=date(2027, 1, 4),
                number_of_occurrences=4,
            ),
        ),
        attendees=[
            Attendee(type=AttendeeType.Required, email_address=EmailAddress(name=n, address=a))
            for n, a in (("Alex Wilber", ALEX), ("Megan Bowen", MEGAN), ("Pat", PAT))
        ],
    )


def test_a_weekly_all_day_meeting_from_create_to_delete(
    make_stack: Callable[[], MailStack],
) -> None:
    stack = make_stack()
    stack.start()
    everyone = sorted(a.lower() for a in (ALEX, MEGAN, PAT))
    already = len(stack.eml())

    created = sdk(stack, ADELE, lambda c: c.me.events.post(weekly_all_day()))
    assert created is not None
    assert created.id
    assert created.i_cal_u_id
    assert created.is_organizer is True
    assert created.response_status is not None
    assert created.response_status.response == ResponseType.Organizer

    invitations = new_messages(stack, already, 3)
    assert addressed(invitations) == everyone
    for _, calendar in invitations:
        assert calendar.method.value == "REQUEST"
        vevent = calendar.vevent
        assert vevent.uid.value == created.i_cal_u_id
        assert vevent.dtstart.value == date(2027, 1, 4)  # a date: an all-day event
        assert "FREQ=WEEKLY" in vevent.rrule.value
        assert "COUNT=4" in vevent.rrule.value
        assert len(list(vevent.getrruleset())) == 4

    copies: dict[str, str] = {}
    for upn in (ALEX, MEGAN):
        listed = sdk(stack, upn, lambda c: c.me.events.get())
        assert listed is not None
        assert listed.value is not None
        (copy,) = [e for e in listed.value if e.i_cal_u_id == created.i_cal_u_id]
        assert copy.is_organizer is False
        assert copy.response_status is not None
        assert copy.response_status.response == ResponseType.NotResponded
        assert copy.subject == "Team offsite planning"
        assert copy.id is not None
        copies[upn] = copy.id

    window = RequestConfiguration(
        query_parameters=InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
            start_date_time="2027-01-01T00:00:00Z", end_date_time="2027-02-01T00:00:00Z"
        )
    )
    instances = sdk(
        stack, ADELE, lambda c: c.me.events.by_event_id(str(created.id)).instances.get(window)
    )
    assert instances is not None
    assert instances.value is not None
    assert len(instances.value) == 4
    second = instances.value[1].id
    assert second is not None

    sdk(
        stack,
        ADELE,
        lambda c: c.me.events.by_event_id(second).cancel.post(
            CancelPostRequestBody(comment="Not this week")
        ),
    )
    occurrence = new_messages(stack, already + 3, 3)
    assert addressed(occurrence) == everyone
    for _, calendar in occurrence:
        assert calendar.method.value == "CANCEL"
        assert calendar.vevent.recurrence_id.value == date(2027, 1, 11)  # RECURRENCE-ID;VALUE=DATE

    sdk(stack, ADELE, lambda c: c.me.events.by_event_id(str(created.id)).delete())
    series = new_messages(stack, already + 6, 3)
    assert addressed(series) == everyone
    for _, calendar in series:
        assert calendar.method.value == "CANCEL"
        assert "recurrence_id" not in calendar.vevent.contents

    sdk(stack, ALEX, lambda c: c.me.events.by_event_id(copies[ALEX]).delete())
    alex_now = sdk(stack, ALEX, lambda c: c.me.events.get())
    assert alex_now is not None
    assert alex_now.value is not None
    assert all(e.id != copies[ALEX] for e in alex_now.value)

    # Each attendee got each message once, and the attendee's delete sent nothing.
    time.sleep(3)
    assert len(stack.eml()) == already + 9
    wait_until(lambda: stack.queued() == 0, "an empty queue")
