"""Hand-written fakes of the mail worker's ports, and notifications to deliver (a cancellation,
an invitation).

`FakeOutbox` keeps the rules the Table adapter keeps: a claim is a create, or a replace of the
version read; `finish` never turns a delivered row failed. `FakeTransport` records what it
sent and can refuse a recipient, fail altogether, or kill the worker after some messages.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from shared.calendar.model import (
    Attendee,
    DateTimeTimeZone,
    EmailAddress,
    ItemBody,
    Location,
    Notification,
    NotificationPointer,
    PatternedRecurrence,
    Recipient,
)
from shared.messages.imip import Mail, recipient_key
from shared.use_cases.outbox_sweep import PendingEntry, PendingOutbox
from shared.use_cases.ports import (
    Attempt,
    AttendeeCopies,
    Ending,
    Envelope,
    Outbox,
    OutboxEntry,
    OutboxStatus,
    Outgoing,
    QueueUnavailable,
    RecipientRefused,
    RecipientSlice,
    Redelivery,
    Transport,
    TransportError,
)

MAILBOX = "6e7b768e-07e2-4810-8459-485f84f8f204"
ORGANIZER = "AdeleV@contoso.example"
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def attendee(address: str, name: str = "", kind: str = "required") -> Attendee:
    return Attendee.model_validate(
        {"type": kind, "emailAddress": {"name": name, "address": address}}
    )


def notification(
    *attendees: Attendee,
    subject: str = "Quarterly planning",
    comment: str | None = "Cancelling for this week due to all hands",
    occurrence_id: str | None = None,
    original_start: str | None = None,
    time_zone: str = "Pacific Standard Time",
    notification_id: str = "AAMkEvent1",
) -> Notification:
    return Notification(
        id=notification_id,
        mailbox=MAILBOX,
        event_id="AAMkEvent1",
        occurrence_id=occurrence_id,
        i_cal_u_id="040000008200E00074C5B7101A82E0080000000001",
        subject=subject,
        organizer=Recipient(email_address=EmailAddress(name="Adele Vance", address=ORGANIZER)),
        attendees=attendees
        or (
            attendee("AlexW@contoso.example", "Alex Wilber"),
            attendee("MeganB@contoso.example", "Megan Bowen"),
            attendee("pat@fabrikam.example", "Pat Jones", "optional"),
        ),
        start=DateTimeTimeZone(date_time="2026-12-03T15:00:00.0000000", time_zone=time_zone),
        end=DateTimeTimeZone(date_time="2026-12-03T16:00:00.0000000", time_zone=time_zone),
        original_start=original_start,
        sequence=3,
        comment=comment,
        cancelled_at="2026-11-24T08:59:30Z",
    )


def invitation(
    *attendees: Attendee,
    subject: str = "Quarterly planning",
    recurrence: PatternedRecurrence | None = None,
    cancelled_occurrences: tuple[str, ...] = (),
    time_zone: str = "Pacific Standard Time",
) -> Notification:
    """The invitation the create of event `AAMkEvent1` writes (sequence 0, no comment)."""
    return notification(*attendees, subject=subject, comment=None, time_zone=time_zone).model_copy(
        update={
            "method": "REQUEST",
            "id": "AAMkEvent1.invitation",
            "sequence": 0,
            "cancelled_at": "2026-11-20T10:15:00Z",
            "body": ItemBody(content_type="html", content="<p>Agenda to follow</p>"),
            "location": Location(display_name="Conf Room Rainier"),
            "recurrence": recurrence,
            "cancelled_occurrences": cancelled_occurrences,
        }
    )


def pointer_of(item: Notification) -> NotificationPointer:
    return NotificationPointer(item.mailbox, item.id)


class Clock:
    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class OutboxRow:
    notification: Notification
    status: OutboxStatus = "pending"
    reason: str | None = None
    attempts: int = 0
    last_error: str | None = None
    resends: int = 0
    touched_at: datetime = START
    version: int = 0


class FakeOutbox:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.rows: dict[NotificationPointer, OutboxRow] = {}
        self.slice_rows: dict[tuple[NotificationPointer, int], RecipientSlice] = {}
        self._versions = itertools.count(1)
        self.steal_claims = False
        """Another worker claims every slice just before this one does."""
        self.others_finish = False
        """... and has sent to it by the time this worker looks again."""
        self.finishes: list[tuple[str, bool]] = []
        """Each finish: its status, and whether it came with the row as it still is."""
        self.slice_reads = 0
        """How many times a notification's slices were read (`slices`)."""
        self.writes: list[tuple[str, int]] = []
        """Each claim and end of a slice: its kind and how many recipients it holds."""
        self._lock = threading.Lock()

    def add(self, item: Notification, at: datetime | None = None) -> NotificationPointer:
        pointer = pointer_of(item)
        self.rows[pointer] = OutboxRow(item, touched_at=at or self.clock())
        return pointer

    def _touch(self, row: OutboxRow) -> None:
        row.touched_at, row.version = self.clock(), next(self._versions)

    def find(self, pointer: NotificationPointer) -> OutboxEntry | None:
        row = self.rows.get(pointer)
        if row is None:
            return None
        return OutboxEntry(row.notification, row.status, str(row.version))

    def slices(self, pointer: NotificationPointer) -> dict[int, RecipientSlice]:
        with self._lock:
            self.slice_reads += 1
            return {i: state for (owner, i), state in self.slice_rows.items() if owner == pointer}

    def _put(self, pointer: NotificationPointer, state: RecipientSlice) -> RecipientSlice:
        written = replace(state, version=f"v{next(self._versions)}")
        self.slice_rows[(pointer, state.index)] = written
        return written

    def claim_slice(
        self, pointer: NotificationPointer, claim: RecipientSlice, current: RecipientSlice | None
    ) -> RecipientSlice | None:
        self.writes.append(("claim", len(claim.addresses)))
        with self._lock:
            if self.steal_claims:
                if self.others_finish:
                    done = tuple("sent" for _ in claim.statuses)
                    self._put(pointer, replace(claim, statuses=done, claimed=False))  # type: ignore[arg-type]
                else:
                    self._put(pointer, claim)
                return None
            now = self.slice_rows.get((pointer, claim.index))
            if (current is None and now is not None) or (
                current is not None and (now is None or now.version != current.version)
            ):
                return None
            return self._put(pointer, claim)

    def end_slice(self, pointer: NotificationPointer, ended: RecipientSlice) -> None:
        self.writes.append(("mark", len(ended.addresses)))
        with self._lock:
            self._put(pointer, ended)

    def record_error(
        self, pointer: NotificationPointer, reason: str, attempt: Attempt | None = None
    ) -> None:
        row = self.rows[pointer]
        row.last_error = reason
        if attempt is not None:
            row.attempts = attempt.number
        self._touch(row)

    def finish(
        self,
        pointer: NotificationPointer,
        status: Ending,
        reason: str | None,
        seen: OutboxEntry | None = None,
        attempt: Attempt | None = None,
    ) -> None:
        self.finishes.append(
            (status, seen is not None and seen.version == str(self.rows[pointer].version))
        )
        row = self.rows[pointer]
        if row.status != "delivered":
            row.status, row.reason = status, reason
            if attempt is not None:
                row.attempts = attempt.number
            self._touch(row)

    def stale_pending(self, untouched_since: datetime) -> Iterable[PendingEntry]:
        return [
            PendingEntry(pointer, row.resends, row.last_error, str(row.version))
            for pointer, row in self.rows.items()
            if row.status == "pending" and row.touched_at < untouched_since
        ]

    def mark_resent(self, entry: PendingEntry, at: datetime) -> bool:
        row = self.rows[entry.pointer]
        if str(row.version) != entry.version:
            return False
        row.resends += 1
        self._touch(row)
        return True

    def status_of(self, address: str, item: Notification) -> str | None:
        """The recipient's status; `sending` while its slice is claimed and it is not done."""
        for (owner, _), state in self.slice_rows.items():
            status = state.status_of(address) if owner == pointer_of(item) else None
            if status is not None:
                if state.claimed and status not in ("sent", "rejected"):
                    return "sending"
                return status
        return None


class WorkerKilled(BaseException):
    """The process died: nothing after it runs, not even the worker's own error handling."""


@dataclass
class FakeTransport:
    sent: list[tuple[Envelope, Mail]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    down: bool = False
    kill_after: int | None = None
    sessions: int = 0

    closed: int = 0
    threads: set[int] = field(default_factory=set)
    """The threads that sent."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def session(self) -> Iterator[Outgoing]:
        if self.down:
            raise TransportError("connection refused")
        with self._lock:
            self.sessions += 1
        try:
            yield self
        finally:
            with self._lock:
                self.closed += 1

    def send(self, mail: Mail, envelope: Envelope) -> None:
        with self._lock:
            if self.kill_after is not None and len(self.sent) >= self.kill_after:
                raise WorkerKilled()
            if recipient_key(envelope.recipient) in self.refuse:
                raise RecipientRefused(self.refuse[recipient_key(envelope.recipient)])
            self.sent.append((envelope, mail))
            self.threads.add(threading.get_ident())

    def count(self, address: str) -> int:
        key = recipient_key(address)
        return sum(1 for envelope, _ in self.sent if recipient_key(envelope.recipient) == key)


@dataclass
class FakeCopies:
    """Internal attendees (`users`, by `recipient_key`) have copies: an invitation creates one,
    a cancellation cancels it; each only once, as the Table adapter does."""

    users: set[str] = field(default_factory=set)
    cancelled: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    failing: bool = False
    """Every copy update fails, as storage that is down would."""
    lookups: list[int] = field(default_factory=list)
    """How many addresses each `internal` looked up."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def internal(self, addresses: Sequence[str]) -> dict[str, str]:
        self.lookups.append(len(addresses))
        keys = {recipient_key(a) for a in addresses}
        return {key: f"mailbox-of-{key}" for key in keys & self.users}

    def update_copy(
        self, notification: Notification, address: str, at: datetime, mailbox: str | None = None
    ) -> bool:
        if self.failing:
            raise ConnectionError("table storage is unreachable")
        if mailbox is not None:
            assert mailbox == f"mailbox-of-{recipient_key(address)}"
        done = self.created if notification.method == "REQUEST" else self.cancelled
        with self._lock:
            if recipient_key(address) not in self.users or address in done:
                return False
            done.append(address)
        return True


@dataclass
class FakeRedelivery:
    put: list[tuple[NotificationPointer, timedelta]] = field(default_factory=list)
    down: bool = False

    def redeliver(self, pointer: NotificationPointer, delay: timedelta) -> None:
        if self.down:
            raise QueueUnavailable("queue is down")
        self.put.append((pointer, delay))


_outbox: Outbox = FakeOutbox(Clock())
_pending: PendingOutbox = FakeOutbox(Clock())
_transport: Transport = FakeTransport()
_copies: AttendeeCopies = FakeCopies()
_redelivery: Redelivery = FakeRedelivery()
