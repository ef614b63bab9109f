"""Exactly once per recipient when things go wrong, counted at a real SMTP server.

The worker runs in dev hosts (their own processes) with the smtp transport pointed at an
aiosmtpd server in this process, which counts what it accepts per recipient. Each fault is
tried on a cancellation and on an invitation (a create's `REQUEST` outbox row, written by the
test as the create writes it): the same pipeline, so the same guarantee.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from devtools.azurite import Azurite, free_port
from devtools.tokens import DevKey
from shared.calendar.model import NotificationPointer
from tests.e2e.conftest import start_host, stop_host
from tests.e2e.mail.conftest import ADELE, MailStack, wait_until
from tests.mail_servers import SmtpSink

GUESTS = [f"guest{number:02d}@fabrikam.example" for number in range(24)]
PLANNING = ["AlexW@contoso.example", "MeganB@contoso.example", "pat@fabrikam.example"]


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


BATCH = 4
IN_DOUBT = 2 * BATCH
"""The README's bound with MAIL_CONCURRENCY > 1: a dead worker leaves at most two slices
sent to but not ended (the slice being sent, the one being ended)."""


def smtp(sink: SmtpSink, **more: str) -> dict[str, str]:
    return {
        "MAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "SMTP_STARTTLS": "false",
        "MAIL_BATCH": str(BATCH),
        **more,
    }


def assert_each_at_least_once_within_the_bound(sink: SmtpSink, addresses: list[str]) -> None:
    counts = {address: sink.count(address) for address in addresses}
    assert min(counts.values()) >= 1, counts
    assert sum(counts.values()) - len(addresses) <= IN_DOUBT, counts


def assert_once_each(sink: SmtpSink, addresses: list[str]) -> None:
    counts = {address: sink.count(address) for address in addresses}
    assert counts == dict.fromkeys(addresses, 1)
    assert len(sink.received) == len(addresses)


def methods(sink: SmtpSink, address: str) -> list[str]:
    """The iTIP METHOD of each calendar part the server accepted for `address`."""
    found = []
    for received in sink.received:
        if address.lower() not in (to.lower() for to in received.recipients):
            continue
        for part in received.message.walk():
            if part.get_content_type() == "text/calendar":
                text = part.get_content()
                found += [
                    line.partition(":")[2].strip()
                    for line in text.splitlines()
                    if line.upper().startswith("METHOD:")
                ]
    return found


def assert_invited_once_each(sink: SmtpSink, addresses: list[str]) -> None:
    """Each attendee exactly one message, and it is an invitation."""
    assert_once_each(sink, addresses)
    found = {address: tuple(methods(sink, address)) for address in addresses}
    assert found == dict.fromkeys(addresses, ("REQUEST",))


def test_a_worker_killed_mid_delivery_then_redelivered_sends_each_recipient_once(
    make_stack: Callable[[], MailStack], sink: SmtpSink
) -> None:
    stack = make_stack()
    attendees = ["AlexW@contoso.example", *GUESTS]
    event_id = stack.add_event("crowd", "All-hands prep", attendees)
    sink.hold_after = 5  # the sixth message is never answered: the worker dies waiting
    stack.start(smtp(sink))
    stack.cancel(event_id, "Postponed")

    assert sink.holding.wait(30)
    stack.kill()
    assert len(sink.received) == 5
    states = stack.deliveries(event_id)
    assert "sending" in states.values()
    assert list(states.values()).count("sent") <= 5

    # The dev host, like the Functions host, keeps a received message hidden for minutes; the
    # redelivery that would follow is the same message put back now.
    sink.hold_after = None
    stack.put(event_id)
    stack.start(smtp(sink, MAIL_TIMEOUT_SECONDS="2"))  # a 4 s lease on the dead one's claim

    wait_until(lambda: stack.ended(event_id), "the outbox row to end", timeout=60)
    assert stack.outbox(event_id)["Status"] == "delivered"
    assert_each_at_least_once_within_the_bound(sink, attendees)
    assert set(stack.deliveries(event_id).values()) == {"sent"}
    alex = stack.user("AlexW@contoso.example")
    assert stack.copy("AlexW@contoso.example", stack.tenant.copies["crowd"][alex]).is_cancelled


def test_the_same_message_delivered_three_times_at_once_sends_each_recipient_once(
    make_stack: Callable[[], MailStack], sink: SmtpSink
) -> None:
    stack = make_stack()
    event_id = stack.add_event("twice", "Design review", GUESTS)
    url = stack.start(http_only=True)
    stack.cancel(event_id, url=url)
    stack.put(event_id)
    stack.put(event_id)
    stack.stop()
    assert stack.queued() == 3

    # The three arrive in one batch and run side by side. One that finds a recipient another
    # holds looks again when that claim's lease ends: 4 s here.
    stack.start(smtp(sink, MAIL_TIMEOUT_SECONDS="2"))

    wait_until(lambda: stack.ended(event_id), "the outbox row to end", timeout=60)
    wait_until(lambda: stack.queued() == 0, "every copy of the message to be consumed", 60)
    assert stack.outbox(event_id)["Status"] == "delivered"
    assert_once_each(sink, GUESTS)


def test_a_queue_put_that_failed_after_the_commit_is_recovered_by_the_sweeper(
    make_stack: Callable[[], MailStack], sink: SmtpSink, azurite: Azurite, dev_key: DevKey
) -> None:
    stack = make_stack()
    event_id = stack.tenant.events["planning"][1]
    dead_queue = stack.env["AzureWebJobsStorage"].replace(
        f"QueueEndpoint=http://127.0.0.1:{azurite.ports[1]}/",
        f"QueueEndpoint=http://127.0.0.1:{free_port()}/",
    )
    assert dead_queue != stack.env["AzureWebJobsStorage"]
    process, url = start_host({**stack.env, "AzureWebJobsStorage": dead_queue})
    try:
        stack.cancel(event_id, "The queue is down", url=url)
    finally:
        stop_host(process)
    assert stack.outbox(event_id)["Status"] == "pending"
    assert stack.queued() == 0

    stack.start(smtp(sink, SWEEP_AFTER_SECONDS="1"))

    wait_until(lambda: stack.ended(event_id), "the outbox row to end", timeout=60)
    outbox = stack.outbox(event_id)
    assert (outbox["Status"], outbox["Resends"]) == ("delivered", 1)
    assert_once_each(sink, PLANNING)
    time.sleep(2.5)  # more sweeps go by: a delivered row is not swept again
    assert stack.outbox(event_id)["Resends"] == 1
    assert len(sink.received) == 3


def test_a_recipient_refused_until_the_poison_queue_ends_the_row_failed_with_the_reason(
    make_stack: Callable[[], MailStack], sink: SmtpSink
) -> None:
    stack = make_stack()
    event_id = stack.tenant.events["planning"][1]
    sink.refuse["pat@fabrikam.example"] = "451 4.3.0 Mailbox busy, try again later"
    stack.start(
        smtp(
            sink,
            AzureFunctionsJobHost__extensions__queues__maxDequeueCount="3",
            AzureFunctionsJobHost__extensions__queues__visibilityTimeout="00:00:01",
        )
    )
    stack.cancel(event_id)

    wait_until(lambda: stack.ended(event_id), "the outbox row to end", timeout=60)
    outbox = stack.outbox(event_id)
    assert outbox["Status"] == "failed"
    assert outbox["Attempts"] == 3
    assert outbox["Reason"] == (
        "pat@fabrikam.example: smtp: 451 4.3.0 Mailbox busy, try again later"
    )
    pointer = NotificationPointer(stack.user(ADELE), event_id)
    assert wait_until(lambda: stack.poisoned(), "the message in the poison queue") == [pointer]
    assert stack.queued() == 0
    assert_once_each(sink, ["AlexW@contoso.example", "MeganB@contoso.example"])
    assert stack.deliveries(event_id)["pat@fabrikam.example"] == "failed"


# Invitations -----------------------------------------------------------------------------------


def test_an_invitation_whose_worker_was_killed_mid_delivery_reaches_each_attendee_once(
    make_stack: Callable[[], MailStack], sink: SmtpSink
) -> None:
    stack = make_stack()
    attendees = ["AlexW@contoso.example", "MeganB@contoso.example", *GUESTS]
    sink.hold_after = 5  # the sixth message is never answered: the worker dies waiting
    stack.start(smtp(sink))
    invitation = stack.invite("crowd", "All-hands prep", attendees)

    assert sink.holding.wait(30)
    stack.kill()
    assert len(sink.received) == 5
    assert "sending" in stack.deliveries(invitation.id).values()

    sink.hold_after = None
    stack.put(invitation.id)  # the redelivery, now rather than minutes later
    stack.start(smtp(sink, MAIL_TIMEOUT_SECONDS="2"))  # a 4 s lease on the dead one's claim

    wait_until(lambda: stack.ended(invitation.id), "the outbox row to end", timeout=60)
    assert stack.outbox(invitation.id)["Status"] == "delivered"
    assert_each_at_least_once_within_the_bound(sink, attendees)
    assert {m for a in attendees for m in methods(sink, a)} == {"REQUEST"}
    assert set(stack.deliveries(invitation.id).values()) == {"sent"}
    for upn in ("AlexW@contoso.example", "MeganB@contoso.example"):
        copy = stack.invited_copy(upn, invitation)
        assert copy is not None
        assert not copy.is_organizer
        assert stack.events_with(upn, invitation.i_cal_u_id) == 1


def test_the_same_invitation_delivered_three_times_at_once_reaches_each_attendee_once(
    make_stack: Callable[[], MailStack], sink: SmtpSink
) -> None:
    stack = make_stack()
    attendees = ["AlexW@contoso.example", *GUESTS]
    invitation = stack.invite("thrice", "Design review", attendees)
    stack.put(invitation.id)
    stack.put(invitation.id)
    assert stack.queued() == 3

    stack.start(smtp(sink, MAIL_TIMEOUT_SECONDS="2"))

    wait_until(lambda: stack.ended(invitation.id), "the outbox row to end", timeout=60)
    wait_until(lambda: stack.queued() == 0, "every copy of the message to be consumed", 60)
    assert stack.outbox(invitation.id)["Status"] == "delivered"
    assert_invited_once_each(sink, attendees)
    assert stack.events_with("AlexW@contoso.example", invitation.i_cal_u_id) == 1


def test_an_invitation_whose_queue_put_failed_is_recovered_by_the_sweeper(
    make_stack: Callable[[], MailStack], sink: SmtpSink
) -> None:
    stack = make_stack()
    invitation = stack.invite("swept", "Roadmap", PLANNING, put=False)
    assert stack.outbox(invitation.id)["Status"] == "pending"
    assert stack.queued() == 0

    stack.start(smtp(sink, SWEEP_AFTER_SECONDS="1"))

    wait_until(lambda: stack.ended(invitation.id), "the outbox row to end", timeout=60)
    outbox = stack.outbox(invitation.id)
    assert (outbox["Status"], outbox["Resends"]) == ("delivered", 1)
    assert_invited_once_each(sink, PLANNING)
    time.sleep(2.5)  # more sweeps go by: a delivered row is not swept again
    assert stack.outbox(invitation.id)["Resends"] == 1
    assert len(sink.received) == 3
    for upn in ("AlexW@contoso.example", "MeganB@contoso.example"):
        assert stack.events_with(upn, invitation.i_cal_u_id) == 1
