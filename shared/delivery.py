"""Telling attendees: each recipient's cancellation is sent once, however the message arrives.

The outbox row is the promise to notify; the queue message only points at it and may come
twice, late, or after a worker died half-way. So delivery state is kept per recipient: a
recipient is claimed before its message is sent and marked sent after. A claim a live worker
holds is left to it (the message comes back once the claim's lease is over); a claim older
than the lease belongs to a worker that died and is taken over. The one message that can go
twice is the one in flight when a worker dies, and it goes out identical (same Message-ID; the
maildir transport keeps the first file).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import Enum
from typing import Literal, Protocol

from shared.cancellation import change_key
from shared.cancellation_mail import (
    InvalidRecipient,
    canceled_subject,
    cancellation_message,
    recipient_key,
    recipients,
)
from shared.model import Event, Notification, NotificationPointer

log = logging.getLogger(__name__)

OutboxStatus = Literal["pending", "delivered", "failed"]
RecipientStatus = Literal["sending", "sent", "failed", "rejected"]
Ending = Literal["delivered", "failed"]
MIN_WAIT = timedelta(seconds=1)


@dataclass(frozen=True)
class OutboxEntry:
    notification: Notification
    status: OutboxStatus


@dataclass(frozen=True)
class RecipientState:
    """Where one recipient's delivery stands; a takeover must still find `version`."""

    address: str
    status: RecipientStatus
    changed_at: datetime
    version: str

    @property
    def done(self) -> bool:
        return self.status in ("sent", "rejected")

    def held(self, now: datetime, lease: timedelta) -> bool:
        """Claimed by a worker that may still be sending."""
        return self.status == "sending" and now < self.changed_at + lease


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str


class TransportError(Exception):
    """The transport failed: this attempt stops and the message is tried again later."""


class RecipientRefused(TransportError):
    """Only this recipient was refused; the other recipients are still tried."""


class Outgoing(Protocol):
    def send(self, message: EmailMessage, envelope: Envelope) -> None:
        """Raises TransportError, or RecipientRefused when only this recipient is refused."""
        ...


class Transport(Protocol):
    def session(self) -> AbstractContextManager[Outgoing]:
        """One connection (or token) for the messages of one delivery."""
        ...


class Outbox(Protocol):
    def find(self, pointer: NotificationPointer) -> OutboxEntry | None: ...

    def recipients(self, pointer: NotificationPointer) -> dict[str, RecipientState]:
        """Every recipient's state so far, by `recipient_key` of its address."""
        ...

    def claim(
        self,
        pointer: NotificationPointer,
        address: str,
        current: RecipientState | None,
        at: datetime,
    ) -> bool:
        """Mark the recipient `sending`: create its state, or replace `current` if it is still
        that version. False when another worker changed it first."""
        ...

    def mark(
        self,
        pointer: NotificationPointer,
        address: str,
        status: RecipientStatus,
        at: datetime,
        detail: str | None = None,
    ) -> None: ...

    def record_attempt(self, pointer: NotificationPointer, attempt: int, at: datetime) -> None:
        """Note the attempt on the outbox row (which also tells the sweeper it is in hand)."""
        ...

    def record_error(self, pointer: NotificationPointer, reason: str) -> None: ...

    def finish(self, pointer: NotificationPointer, status: Ending, reason: str | None) -> None:
        """End the row `delivered` or `failed`; a delivered row is never made failed."""
        ...


class AttendeeCopies(Protocol):
    def cancel_copy(self, notification: Notification, address: str, at: datetime) -> bool:
        """Cancel the copy of an internal attendee (one in the directory); False when there is
        none or it was already cancelled."""
        ...


class Redelivery(Protocol):
    def redeliver(self, pointer: NotificationPointer, delay: timedelta) -> None:
        """Put the pointer on the queue again, visible after `delay`; QueueUnavailable if not."""
        ...


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
    """Send the cancellation the outbox row holds to every recipient not yet reached."""
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
                message = cancellation_message(notification, attendee)
            except InvalidRecipient as error:
                outbox.mark(pointer, address, "rejected", at, str(error))
                progress.rejected[address] = str(error)
                continue
            if not outbox.claim(pointer, address, state, at):
                progress.busy.add(recipient_key(address))
                continue
            try:
                copies.cancel_copy(notification, address, at)
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
