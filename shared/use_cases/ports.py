"""What the use cases need from the outside world, as small protocols the adapters implement.

Cancelling (`cancellation.py`) needs the directory, the calendars and the notification queue;
delivering (`delivery.py`, `outbox_sweep.py`) needs the outbox, the attendees' copies, a
transport and redelivery. `shared/storage/` and `shared/transports/` implement them for Azure
and for mail; the hand-written fakes of `tests/unit/use_cases/` implement them for the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from shared.calendar.model import (
    Event,
    EventCancelled,
    Group,
    Notification,
    NotificationPointer,
    Placement,
    StoredEvent,
    User,
)
from shared.calendar.windows import Window

if TYPE_CHECKING:  # the HTTP functions never load the mail modules
    from shared.messages.imip import Mail

# Cancelling ----------------------------------------------------------------------------------


class StaleEvent(Exception):
    """The event changed (or was cancelled) between the read and the commit."""


class AlreadyNotified(StaleEvent):
    """The outbox row of this very cancellation exists: someone else made it first."""


class QueueUnavailable(Exception):
    """The notification queue refused the message; the outbox row stays pending."""


class TransactionTaken(Exception):
    """A create's `transactionId` is already that of an event of the mailbox (a retry, or the
    winner of a race of the same create): nothing was written."""

    def __init__(self, event_id: str) -> None:
        super().__init__(event_id)
        self.event_id = event_id


@dataclass(frozen=True)
class EventCreated:
    """What a create writes at once: the event in its calendar, the invitation's outbox row
    (None without attendees) and, given a `transactionId`, the row that keeps it taken."""

    mailbox: str
    event: Event
    placement: Placement
    notification: Notification | None
    transaction_id: str | None


class Directory(Protocol):
    def find_user(self, key: str) -> User | None:
        """By object id or userPrincipalName (lowercased)."""
        ...

    def find_group(self, group_id: str) -> Group | None: ...


class Calendars(Protocol):
    def find_event(self, mailbox: str, event_id: str) -> StoredEvent | None:
        """The event in the mailbox's calendars; None when absent or in Deleted Items."""
        ...

    def find_calendar(self, mailbox: str, calendar_id: str) -> Placement | None:
        """Where a calendar of the mailbox sits (its group, whether it is the default one)."""
        ...

    def list_events(self, mailbox: str, window: Window | None) -> list[StoredEvent]:
        """The events in the mailbox's calendars (single events and series masters, not in
        Deleted Items), in one partition read; with a window, at least those whose span
        (a series' first start to its last end) overlaps it."""
        ...

    def commit(self, cancelled: EventCancelled) -> None:
        """Write the event's new state and its outbox row at once, if the event is unchanged.

        Raises StaleEvent when the event's ETag no longer matches, AlreadyNotified when the
        outbox row exists.
        """
        ...

    def find_default_calendar(self, mailbox: str) -> Placement | None:
        """Where the mailbox's default calendar sits; None when the mailbox has none."""
        ...

    def create(self, created: EventCreated) -> StoredEvent:
        """Write the new event, its iCalUId index, its transaction and its outbox row in one
        transaction; the event as stored. Raises TransactionTaken (writing nothing) when the
        transaction id is taken already."""
        ...


class NotificationQueue(Protocol):
    def enqueue(self, pointer: NotificationPointer) -> None:
        """Raises QueueUnavailable when the message could not be put."""
        ...


# Delivering ---------------------------------------------------------------------------------

OutboxStatus = Literal["pending", "delivered", "failed"]
RecipientStatus = Literal["untried", "sent", "failed", "rejected"]
Ending = Literal["delivered", "failed"]


@dataclass(frozen=True)
class Attempt:
    """One attempt at a notification, as the outbox row notes it when the attempt ends."""

    number: int
    """The queue message's dequeue count."""
    at: datetime


@dataclass(frozen=True)
class OutboxEntry:
    notification: Notification
    status: OutboxStatus
    version: str = ""
    """The row's version as read: its end is one write on it while nobody else wrote the row
    since."""


@dataclass(frozen=True)
class RecipientSlice:
    """Where one slice of a notification's recipients stands: `size` recipients in a row, the
    `index`th slice of `recipients(notification)` (the notification never changes, so neither
    do its slices). One row holds it: written when a worker claims the slice, and when it is
    done with it. A takeover must still find `version`."""

    index: int
    addresses: tuple[str, ...]
    statuses: tuple[RecipientStatus, ...]
    details: tuple[str, ...]
    """Why a recipient failed or was rejected ("" otherwise)."""
    claimed: bool
    """A worker is sending to this slice's recipients (since `changed_at`)."""
    changed_at: datetime
    version: str = ""

    def done(self, position: int) -> bool:
        return self.statuses[position] in ("sent", "rejected")

    @property
    def complete(self) -> bool:
        return all(self.done(position) for position in range(len(self.statuses)))

    def held(self, now: datetime, lease: timedelta) -> bool:
        """Claimed by a worker that may still be sending."""
        return self.claimed and now < self.changed_at + lease

    def status_of(self, address: str) -> RecipientStatus | None:
        """The status of the recipient with this address (compared as `recipient_key`)."""
        key = address.strip().casefold()
        for position, own in enumerate(self.addresses):
            if own.strip().casefold() == key:
                return self.statuses[position]
        return None


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str


class TransportError(Exception):
    """The transport failed: this attempt stops and the message is tried again later."""


class RecipientRefused(TransportError):
    """Only this recipient was refused; the other recipients are still tried."""


class Outgoing(Protocol):
    def send(self, mail: Mail, envelope: Envelope) -> None:
        """Raises TransportError, or RecipientRefused when only this recipient is refused."""
        ...


class Transport(Protocol):
    def session(self) -> AbstractContextManager[Outgoing]:
        """One connection (or token) for messages sent one after another: a delivery opens one
        per thread it sends from and keeps it for all that thread sends. Sessions of one
        transport may be used from several threads at once, each session from one."""
        ...


class Outbox(Protocol):
    def find(self, pointer: NotificationPointer) -> OutboxEntry | None: ...

    def slices(self, pointer: NotificationPointer) -> dict[int, RecipientSlice]:
        """Every slice of the notification's recipients written so far, by index (one range
        query)."""
        ...

    def claim_slice(
        self, pointer: NotificationPointer, claim: RecipientSlice, current: RecipientSlice | None
    ) -> RecipientSlice | None:
        """Write `claim` (claimed): create the slice's row, or replace `current` if it is still
        that version. The slice as written (its new version), or None when another worker
        changed it first."""
        ...

    def end_slice(self, pointer: NotificationPointer, ended: RecipientSlice) -> None:
        """Write the slice as this worker leaves it (not claimed), whoever wrote it last."""
        ...

    def record_error(
        self, pointer: NotificationPointer, reason: str, attempt: Attempt | None = None
    ) -> None:
        """Note why an attempt failed (and which attempt it was) on the outbox row."""
        ...

    def finish(
        self,
        pointer: NotificationPointer,
        status: Ending,
        reason: str | None,
        seen: OutboxEntry | None = None,
        attempt: Attempt | None = None,
    ) -> None:
        """End the row `delivered` or `failed` (noting the attempt that ended it); a delivered
        row is never made failed. `seen`, the row as this worker read it, spares reading it
        again while nobody else wrote it since (one write)."""
        ...


class AttendeeCopies(Protocol):
    def internal(self, addresses: Sequence[str]) -> dict[str, str]:
        """The users of the directory among these addresses: their mailboxes (user ids) by
        `recipient_key` of the address. Looked up once for all the recipients of a slice,
        together rather than one by one."""
        ...

    def update_copy(
        self, notification: Notification, address: str, at: datetime, mailbox: str | None = None
    ) -> bool:
        """Apply the notification to an internal attendee's (a directory user's) copy: create
        it (`REQUEST`) or cancel it (`CANCEL`); False when there is nothing to do (not a user,
        no copy to cancel, or already done). `mailbox` is the user's, as `internal` found it;
        without it the directory is read."""
        ...


class Redelivery(Protocol):
    def redeliver(self, pointer: NotificationPointer, delay: timedelta) -> None:
        """Put the pointer on the queue again, visible after `delay`; QueueUnavailable if not."""
        ...
