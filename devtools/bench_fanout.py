"""The fan-out benchmark (DESIGN.md section 10): one cancellation, and one invitation, to N
attendees.

The worker side is the real queue-trigger function in-process (`deliver_cancellation`, given
the message a cancel or a create puts) against Azurite with the maildir transport: per
attendee a directory read (is it an internal attendee?), a claim, the message built, the file
written, the recipient marked sent, and the outbox row read, touched and ended. The floor
writes the same N messages, built beforehand, with the maildir transport alone into a maildir
of its own. Each round uses a fresh notification; worker and floor alternate which goes first.

Both kinds go through the same pipeline; what differs is the message: a CANCEL names its one
attendee, a REQUEST every attendee of the meeting, so N invitations carry N² attendee lines
(the floor writes those same messages). The attendees are external, as most are: an internal
attendee's copy (created by an invitation, cancelled by a cancellation) is not measured here.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from azure.data.tables import TableClient
from azure.functions.queue import QueueMessage

from shared.calendar.model import Notification, NotificationMethod, NotificationPointer
from shared.messages.imip import message_for, recipients
from shared.storage.queue import encode
from shared.storage.tables import outbox_row
from shared.transports.maildir import MaildirTransport
from shared.use_cases.ports import Envelope

SIZES = (10, 100, 500)
METHODS: tuple[NotificationMethod, ...] = ("CANCEL", "REQUEST")
_NAMES: dict[NotificationMethod, str] = {"CANCEL": "cancellation", "REQUEST": "invitation"}


def ratio(subject: float, floor: float) -> float:
    return subject / floor if floor > 0 else float("nan")


@dataclass(frozen=True)
class FanOut:
    """Milliseconds per round for one N and one kind of notification, worker and floor taken
    alternately."""

    attendees: int
    worker_ms: tuple[float, ...]
    transport_ms: tuple[float, ...]
    method: NotificationMethod = "CANCEL"

    @property
    def key(self) -> str:
        """Its name among the results: `10` for cancellations (as before), `10-invitation`."""
        if self.method == "CANCEL":
            return str(self.attendees)
        return f"{self.attendees}-{_NAMES[self.method]}"

    @property
    def label(self) -> str:
        """How its spread lines are named: `worker 10`, `alone 10` for cancellations as
        before; `invitation worker 10`, `invitation alone 10`."""
        return "" if self.method == "CANCEL" else f"{_NAMES[self.method]} "

    def figures(self) -> dict[str, float]:
        worker, transport = statistics.median(self.worker_ms), statistics.median(self.transport_ms)
        return {"worker_ms": worker, "transport_ms": transport, "ratio": ratio(worker, transport)}


def fanout_line(result: FanOut) -> str:
    figures = result.figures()
    shown = "n/a" if figures["ratio"] != figures["ratio"] else f"{figures['ratio']:.2f}"
    return (
        f"fan-out N={result.attendees:<4} {result.label}worker {figures['worker_ms']:.1f} ms | "
        f"transport {figures['transport_ms']:.1f} ms | ratio {shown}"
    )


def fanout_notification(
    mailbox: str,
    organizer: str,
    attendees: int,
    tag: str,
    method: NotificationMethod = "CANCEL",
) -> Notification:
    """A cancelled meeting of `attendees` external guests (no directory entry, as most are),
    or the invitation to such a meeting (`REQUEST`: as a create writes it, sequence 0, no
    comment, with body and location)."""
    invitation: dict[str, object] = {
        "method": "REQUEST",
        "id": f"AAMkFanOut{tag}.invitation",
        "sequence": 0,
        "comment": None,
        "body": {"contentType": "html", "content": f"<p>Fan-out {attendees}: the agenda.</p>"},
        "location": {"displayName": "Conf Room Bench"},
    }
    return Notification.model_validate(
        {
            "id": f"AAMkFanOut{tag}",
            "mailbox": mailbox,
            "eventId": f"AAMkFanOut{tag}",
            "iCalUId": f"040000008200E00074C5B7101A82E008FANOUT{tag}",
            "subject": f"Fan-out {attendees}",
            "organizer": {"emailAddress": {"name": "Bench Organizer", "address": organizer}},
            "attendees": [
                {"emailAddress": {"name": f"Guest {n}", "address": f"g{tag}.{n}@fabrikam.example"}}
                for n in range(attendees)
            ],
            "start": {"dateTime": "2026-12-01T08:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-01T08:30:00.0000000", "timeZone": "UTC"},
            "sequence": 1,
            "comment": "Cancelled for the benchmark",
            "cancelledAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            **(invitation if method == "REQUEST" else {}),
        }
    )


def _timed_worker(table: TableClient, notification: Notification) -> float:
    from notify.functions import deliver_cancellation

    table.create_entity(outbox_row(notification))
    message = QueueMessage(
        body=encode(NotificationPointer(notification.mailbox, notification.id)).encode(),
        dequeue_count=1,
    )
    start = time.perf_counter_ns()
    deliver_cancellation(message)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    row = table.get_entity(notification.mailbox, f"outbox|{notification.id}")
    if row["Status"] != "delivered":
        raise RuntimeError(f"the worker left {notification.id} {row['Status']}")
    return elapsed


def _timed_floor(notification: Notification, folder: Path) -> float:
    """The same messages the worker writes for `notification`, written by the transport alone."""
    sender = notification.organizer.email_address.address
    messages = [
        (message_for(notification, a), Envelope(sender, a.email_address.address))
        for a in recipients(notification)
    ]
    transport = MaildirTransport(folder)
    start = time.perf_counter_ns()
    with transport.session() as outgoing:
        for message, envelope in messages:
            outgoing.send(message, envelope)
    return (time.perf_counter_ns() - start) / 1e6


def measure_fanout(
    table: TableClient,
    mailbox: str,
    organizer: str,
    maildir: Path,
    rounds: int,
    sizes: Sequence[int] = SIZES,
    methods: Sequence[NotificationMethod] = ("CANCEL",),
) -> list[FanOut]:
    """For each N, one result per method (in the order given: cancellations, then invitations
    beside them). Needs MAIL_TRANSPORT=maildir and MAIL_MAILDIR=`maildir/worker` in the
    environment before the worker's adapters are first built."""
    floor_dir = maildir / "floor"
    for method in methods:
        _timed_worker(table, fanout_notification(mailbox, organizer, 3, "warm", method))
        _timed_floor(fanout_notification(mailbox, organizer, 3, "warm", method), floor_dir)
    results = []
    for size in sizes:
        for method in methods:
            worker: list[float] = []
            floor: list[float] = []
            for number in range(rounds):
                item = fanout_notification(mailbox, organizer, size, f"{size}x{number}", method)
                if number % 2 == 0:
                    worker.append(_timed_worker(table, item))
                    floor.append(_timed_floor(item, floor_dir))
                else:
                    floor.append(_timed_floor(item, floor_dir))
                    worker.append(_timed_worker(table, item))
            results.append(FanOut(size, tuple(worker), tuple(floor), method))
    _check_written(maildir, len(methods) * (3 + sum(size * rounds for size in sizes)))
    return results


def _check_written(maildir: Path, expected: int) -> None:
    """Both sides really wrote their messages: one file per attendee per round, each side."""
    for side in ("worker", "floor"):
        written = len(list((maildir / side / "new").glob("*.eml")))
        if written != expected:
            raise RuntimeError(f"the {side} wrote {written} messages, not {expected}")
