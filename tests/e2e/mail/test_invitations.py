"""An invitation through the worker into the maildir, then the cancel of that meeting over HTTP:
one `.eml` of each per attendee, the internal attendees' copies created once in their default
calendars (seen over HTTP as the attendee sees them) and then cancelled.

The invitation's outbox row is written by the test as the create writes it (see
`MailStack.invite`), so these tests stand on the worker alone."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests

from devtools.tokens import mint
from tests.e2e.mail.conftest import MailStack, wait_until

ATTENDEES = ["AlexW@contoso.example", "MeganB@contoso.example", "pat@fabrikam.example"]
INTERNAL = ATTENDEES[:2]


def methods_by_recipient(files: list[Path]) -> dict[str, list[str]]:
    """Each recipient's messages, by the METHOD of their calendar part, in file order."""
    found: dict[str, list[str]] = {}
    for file in files:
        message = message_from_bytes(file.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        (calendar,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        assert isinstance(calendar, EmailMessage)
        lines = calendar.get_content().splitlines()
        method = [line.partition(":")[2] for line in lines if line.startswith("METHOD:")]
        found.setdefault(message["To"].addresses[0].addr_spec, []).extend(method)
    return found


def seen_by(stack: MailStack, upn: str, path: str) -> Any:
    response = requests.get(
        f"{stack.base_url}/me/{path}",
        headers={"Authorization": f"Bearer {mint(stack.key, subject_oid=stack.user(upn))}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_an_invitation_then_its_cancel_reach_each_attendee_once_each_and_the_copies_follow(
    make_stack: Callable[[], MailStack],
) -> None:
    stack = make_stack()
    stack.start()
    invitation = stack.invite("roadmap", "Roadmap review", ATTENDEES)

    files = stack.wait_for_eml(3)
    wait_until(lambda: stack.ended(invitation.id), "the invitation's outbox row to end")
    assert stack.outbox(invitation.id)["Status"] == "delivered"
    assert stack.deliveries(invitation.id) == dict.fromkeys(ATTENDEES, "sent")
    assert methods_by_recipient(files) == {address: ["REQUEST"] for address in ATTENDEES}

    for upn in INTERNAL:
        copy = stack.invited_copy(upn, invitation)
        assert copy is not None
        seen = seen_by(stack, upn, f"events/{copy.id}")
        assert (seen["isOrganizer"], seen["isCancelled"], seen["iCalUId"]) == (
            False,
            False,
            invitation.i_cal_u_id,
        )
        assert seen["organizer"]["emailAddress"]["address"] == "AdeleV@contoso.example"
        in_default = seen_by(stack, upn, f"calendar/events?$filter=iCalUId eq '{copy.i_cal_u_id}'")
        assert [event["id"] for event in in_default["value"]] == [copy.id]

    # The organizer cancels it: one CANCEL each, and the copies the invitation made follow.
    stack.cancel(invitation.event_id, "Moved to next quarter")
    files = stack.wait_for_eml(6)
    wait_until(lambda: stack.ended(invitation.event_id), "the cancel's outbox row to end")
    assert len(files) == 6
    assert {address: sorted(found) for address, found in methods_by_recipient(files).items()} == {
        address: ["CANCEL", "REQUEST"] for address in ATTENDEES
    }
    for upn in INTERNAL:
        copy = stack.invited_copy(upn, invitation)
        assert copy is not None
        assert copy.is_cancelled
        assert copy.subject == "Canceled: Roadmap review"
        assert stack.events_with(upn, invitation.i_cal_u_id) == 1


def test_an_invited_series_is_a_series_in_the_attendees_calendar_without_its_cancelled_dates(
    make_stack: Callable[[], MailStack],
) -> None:
    stack = make_stack()
    stack.start()
    invitation = stack.invite(
        "standup",
        "Standup",
        ["AlexW@contoso.example"],
        cancelled_dates=("2026-12-16",),
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2026-12-14", "numberOfOccurrences": 5},
        },
    )

    stack.wait_for_eml(1)
    wait_until(lambda: stack.ended(invitation.id), "the outbox row to end")
    copy = stack.invited_copy("AlexW@contoso.example", invitation)
    assert copy is not None
    assert copy.type == "seriesMaster"
    assert copy.cancelled_occurrences == (f"OID.{copy.id}.2026-12-16",)
    window = "startDateTime=2026-12-14T00:00:00Z&endDateTime=2026-12-21T00:00:00Z"
    instances = seen_by(stack, "AlexW@contoso.example", f"events/{copy.id}/instances?{window}")
    assert [event["id"] for event in instances["value"]] == [
        f"OID.{copy.id}.{day}" for day in ("2026-12-14", "2026-12-15", "2026-12-17", "2026-12-18")
    ]
