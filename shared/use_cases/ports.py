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
from email.message import EmailMessage
from typing import Literal, Protocol

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
RecipientStatus = Literal["sending", "sent", "failed", "rejected"]
Ending = Literal["delivered", "failed"]


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
        """One connection (or token) for messages sent one after another: a delivery opens one
        per thread it sends from and keeps it for all that thread sends. Sessions of one
        transport may be used from several threads at once, each session from one."""
        ...


@dataclass(frozen=True)
class RecipientMark:
    """One recipient's new delivery state, written with others of the notification at once."""

    address: str
    status: RecipientStatus
    detail: str | None = None


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

    def claim_all(
        self,
        pointer: NotificationPointer,
        claims: Sequence[tuple[str, RecipientState | None]],
        at: datetime,
    ) -> list[str]:
        """`claim` each (address, current) pair, as few writes as can be (the recipients share
        the organizer's partition); the addresses claimed, in the order given. An address
        another worker changed first is left out, and the others are still claimed."""
        ...

    def mark(
        self,
        pointer: NotificationPointer,
        address: str,
        status: RecipientStatus,
        at: datetime,
        detail: str | None = None,
    ) -> None: ...

    def mark_all(
        self, pointer: NotificationPointer, marks: Sequence[RecipientMark], at: datetime
    ) -> None:
        """`mark` each, as few writes as can be; all are written when it returns."""
        ...

    def record_attempt(self, pointer: NotificationPointer, attempt: int, at: datetime) -> None:
        """Note the attempt on the outbox row (which also tells the sweeper it is in hand)."""
        ...

    def record_error(self, pointer: NotificationPointer, reason: str) -> None: ...

    def finish(self, pointer: NotificationPointer, status: Ending, reason: str | None) -> None:
        """End the row `delivered` or `failed`; a delivered row is never made failed."""
        ...


class AttendeeCopies(Protocol):
    def internal(self, addresses: Sequence[str]) -> dict[str, str]:
        """The users of the directory among these addresses: their mailboxes (user ids) by
        `recipient_key` of the address. Looked up once for all the recipients of a
        notification, together rather than one by one."""
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
