"""Telling attendees: each recipient's notification is sent once, however the message arrives.

One pipeline for both kinds of notification: a cancellation (`CANCEL`) and an invitation
(`REQUEST`, when a meeting is created). Only two things depend on the kind, and neither is
here: the message (`message_for`) and what happens to the internal attendee's copy
(`AttendeeCopies.update_copy`, which cancels it with `cancelled_copy` or creates it with
`invited_copy`).

The outbox row is the promise to notify; the queue message only points at it and may come
twice, late, or after a worker died half-way. So delivery state is kept per recipient: a
recipient is claimed before its message is sent and marked sent after. A claim a live worker
holds is left to it (the message comes back once the claim's lease is over); a claim older
than the lease belongs to a worker that died and is taken over. The one message that can go
twice is the one in flight when a worker dies, and it goes out identical (same Message-ID; the
maildir transport keeps the first file).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from shared.calendar.model import (
    Event,
    ItemBody,
    Location,
    Notification,
    NotificationPointer,
)
from shared.messages.imip import (
    InvalidRecipient,
    canceled_subject,
    message_for,
    recipient_key,
    recipients,
)
from shared.use_cases.cancellation import change_key
from shared.use_cases.ports import (
    AttendeeCopies,
    Envelope,
    Outbox,
    Outgoing,
    RecipientRefused,
    Redelivery,
    Transport,
    TransportError,
)

log = logging.getLogger(__name__)

MIN_WAIT = timedelta(seconds=1)


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    """The host's maxDequeueCount: the attempt that fails with this number is the last."""
    lease: timedelta
    """How long a claim keeps other workers off a recipient."""


class Outcome(Enum):
    DROPPED = "dropped"
    ALREADY_DELIVERED = "already delivered"
    DELIVERED = "delivered"
    DEFERRED = "deferred"


class DeliveryFailed(Exception):
    """Some recipients were not reached this time; the queue tries the message again."""


@dataclass
class _Progress:
    failures: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)
    """Recipients (by key) another worker held when this one came to them."""


def deliver(
    pointer: NotificationPointer,
    attempt: int,
    *,
    outbox: Outbox,
    transport: Transport,
    copies: AttendeeCopies,
    redelivery: Redelivery,
    policy: DeliveryPolicy,
    now: Callable[[], datetime],
) -> Outcome:
    """Send the notification the outbox row holds to every recipient not yet reached."""
    entry = outbox.find(pointer)
    if entry is None:
        log.warning("message for %s points at no outbox row: dropped", pointer)
        return Outcome.DROPPED
    if entry.status == "delivered":
        return Outcome.ALREADY_DELIVERED
    try:
        outbox.record_attempt(pointer, attempt, now())
        progress = _send_each(pointer, entry.notification, outbox, transport, copies, policy, now)
        wait = None if progress.failures else _still_held(pointer, progress, outbox, policy, now())
        if wait is not None:
            redelivery.redeliver(pointer, wait)
            return Outcome.DEFERRED
    except Exception as error:
        _failed_attempt(outbox, pointer, attempt, policy, f"{type(error).__name__}: {error}")
        raise
    if progress.failures:
        reason = _listed(progress.failures)
        _failed_attempt(outbox, pointer, attempt, policy, reason)
        raise DeliveryFailed(reason)
    outbox.finish(pointer, "delivered", _listed(progress.rejected) if progress.rejected else None)
    return Outcome.DELIVERED


def _send_each(
    pointer: NotificationPointer,
    notification: Notification,
    outbox: Outbox,
    transport: Transport,
    copies: AttendeeCopies,
    policy: DeliveryPolicy,
    now: Callable[[], datetime],
) -> _Progress:
    progress = _Progress()
    states = outbox.recipients(pointer)
    sender = notification.organizer.email_address.address.strip()
    with ExitStack() as stack:
        outgoing: Outgoing | None = None
        for attendee in recipients(notification):
            address = attendee.email_address.address.strip()
            state = states.get(recipient_key(address))
            at = now()
            if state is not None and state.done:
                continue
            if state is not None and state.held(at, policy.lease):
                progress.busy.add(recipient_key(address))
                continue
            try:
                message = message_for(notification, attendee)
            except InvalidRecipient as error:
                outbox.mark(pointer, address, "rejected", at, str(error))
                progress.rejected[address] = str(error)
                continue
            if not outbox.claim(pointer, address, state, at):
                progress.busy.add(recipient_key(address))
                continue
            try:
                copies.update_copy(notification, address, at)
                if outgoing is None:
                    outgoing = stack.enter_context(transport.session())
                outgoing.send(message, Envelope(sender, address))
            except Exception as error:
                _release(outbox, pointer, address, now(), f"{type(error).__name__}: {error}")
                if not isinstance(error, TransportError):
                    raise
                progress.failures[address] = str(error)
                if isinstance(error, RecipientRefused):
                    continue
                break  # the transport itself is down: the next recipients would fail alike
            outbox.mark(pointer, address, "sent", now())
    return progress


def _still_held(
    pointer: NotificationPointer,
    progress: _Progress,
    outbox: Outbox,
    policy: DeliveryPolicy,
    at: datetime,
) -> timedelta | None:
    """How long until another look is worth it, when recipients other workers held are not
    done yet; None when they are. Looked up again after this worker's own sends, so of workers
    racing on one message the last to finish sees every recipient done and ends the row."""
    if not progress.busy:
        return None
    states = outbox.recipients(pointer)
    waits: list[timedelta] = []
    for key in progress.busy:
        state = states.get(key)
        if state is not None and state.held(at, policy.lease):
            waits.append(max(MIN_WAIT, state.changed_at + policy.lease - at))
        elif state is None or not state.done:
            waits.append(MIN_WAIT)  # released meanwhile: free to claim
    return min(waits, default=None)


def _release(
    outbox: Outbox, pointer: NotificationPointer, address: str, at: datetime, reason: str
) -> None:
    """Give the claim up at once, so the retry need not wait for its lease to end."""
    try:
        outbox.mark(pointer, address, "failed", at, reason)
    except Exception:
        log.exception("could not release %s of %s; its claim lapses", address, pointer)


def _failed_attempt(
    outbox: Outbox, pointer: NotificationPointer, attempt: int, policy: DeliveryPolicy, reason: str
) -> None:
    """The last attempt the host allows ends the row failed; earlier ones record the reason."""
    try:
        if attempt >= policy.max_attempts:
            outbox.finish(pointer, "failed", reason)
        else:
            outbox.record_error(pointer, reason)
    except Exception:
        log.exception("could not record the failure of %s: %s", pointer, reason)


def _listed(reasons: dict[str, str]) -> str:
    return "; ".join(f"{address}: {reason}" for address, reason in reasons.items())


def cancelled_copy(event: Event, notification: Notification, stamp: str) -> Event | None:
    """An internal attendee's copy once the organizer cancelled; None when it already is.

    A whole meeting: `isCancelled` and `Canceled: <subject>` (never doubled). One occurrence:
    the copy's own occurrence id for that date joins its `cancelledOccurrences`; the series
    itself stays as it is.
    """
    if notification.occurrence_id is not None:
        day = notification.occurrence_id.rpartition(".")[2]
        occurrence = f"OID.{event.id}.{day}"
        if occurrence in event.cancelled_occurrences:
            return None
        update: dict[str, object] = {
            "cancelled_occurrences": (*event.cancelled_occurrences, occurrence)
        }
    else:
        subject = canceled_subject(event.subject)
        if event.is_cancelled and subject == event.subject:
            return None
        update = {"is_cancelled": True, "subject": subject}
    update.update(last_modified_date_time=stamp, change_key=change_key(event.id, stamp))
    return event.model_copy(update=update)


def copy_id(mailbox: str, i_cal_u_id: str) -> str:
    """The id of the copy of a meeting (by its iCalUId) in an attendee's mailbox: the same for
    every retry, so a copy is written once whoever writes it. The loader (`devtools/load.py`)
    derives its attendee copies' ids the same way."""
    digest = hashlib.sha256(f"{mailbox}|event|{i_cal_u_id}".encode()).digest()
    return "AAMk" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def invited_copy(notification: Notification, copy_id: str) -> Event:
    """An internal attendee's copy of a meeting the organizer created, as Exchange puts it in
    the attendee's calendar when the invitation arrives: the organizer's meeting under the
    copy's own id, `isOrganizer: false`, the same iCalUId, organizer and attendees; a series
    with its pattern, its cancelled occurrences named by the copy's own occurrence ids.

    A pure function of the notification: `createdDateTime`, `lastModifiedDateTime` and the
    `changeKey` come from the notification's stamp (the moment of the create), so every retry
    builds the same copy.
    """
    if notification.method != "REQUEST":
        raise ValueError(f"a copy is created from an invitation, not a {notification.method}")
    stamp = notification.cancelled_at
    series = notification.recurrence is not None
    return Event(
        id=copy_id,
        i_cal_u_id=notification.i_cal_u_id,
        subject=notification.subject,
        body=notification.body or ItemBody(),
        start=notification.start,
        end=notification.end,
        location=notification.location or Location(),
        is_all_day=notification.is_all_day,
        is_organizer=False,
        organizer=notification.organizer,
        attendees=notification.attendees,
        type="seriesMaster" if series else "singleInstance",
        recurrence=notification.recurrence,
        cancelled_occurrences=tuple(
            f"OID.{copy_id}.{occurrence.rpartition('.')[2]}"
            for occurrence in notification.cancelled_occurrences
        )
        if series
        else (),
        created_date_time=stamp,
        last_modified_date_time=stamp,
        change_key=change_key(copy_id, stamp),
        sequence=notification.sequence,
    )


def reconciled_copy(copy: Event, organizers: Event | None, stamp: str) -> Event | None:
    """A copy an invitation made, brought up to the organizer's meeting as it is now; None when
    it is up to date already.

    A cancellation the worker delivers before the invitation has made the copy finds no copy to
    change (the two messages may run side by side, or the invitation's be swept late), so the
    invitation looks at the organizer's event once its copy exists: gone from the organizer's
    calendar (`organizers` None) or cancelled, the copy is cancelled as `cancelled_copy` would
    have; occurrences the organizer cancelled meanwhile are cancelled in the copy too.
    """
    if organizers is None or organizers.is_cancelled:
        subject = canceled_subject(copy.subject)
        if copy.is_cancelled and subject == copy.subject:
            return None
        update: dict[str, object] = {"is_cancelled": True, "subject": subject}
    else:
        own = (f"OID.{copy.id}.{o.rpartition('.')[2]}" for o in organizers.cancelled_occurrences)
        missing = tuple(o for o in own if o not in copy.cancelled_occurrences)
        if not missing:
            return None
        update = {"cancelled_occurrences": (*copy.cancelled_occurrences, *missing)}
    update.update(last_modified_date_time=stamp, change_key=change_key(copy.id, stamp))
    return copy.model_copy(update=update)
