"""What the core needs from the outside world, as small protocols the adapters implement."""

from __future__ import annotations

from typing import Protocol

from shared.model import EventCancelled, Group, NotificationPointer, StoredEvent, User


class StaleEvent(Exception):
    """The event changed (or was cancelled) between the read and the commit."""


class AlreadyNotified(StaleEvent):
    """The outbox row of this very cancellation exists: someone else made it first."""


class QueueUnavailable(Exception):
    """The notification queue refused the message; the outbox row stays pending."""


class Directory(Protocol):
    def find_user(self, key: str) -> User | None:
        """By object id or userPrincipalName (lowercased)."""
        ...

    def find_group(self, group_id: str) -> Group | None: ...


class Calendars(Protocol):
    def find_event(self, mailbox: str, event_id: str) -> StoredEvent | None:
        """The event in the mailbox's calendars; None when absent or in Deleted Items."""
        ...

    def commit(self, cancelled: EventCancelled) -> None:
        """Write the event's new state and its outbox row at once, if the event is unchanged.

        Raises StaleEvent when the event's ETag no longer matches, AlreadyNotified when the
        outbox row exists.
        """
        ...


class NotificationQueue(Protocol):
    def enqueue(self, pointer: NotificationPointer) -> None:
        """Raises QueueUnavailable when the message could not be put."""
        ...
