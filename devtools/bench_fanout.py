"""The fan-out benchmark (DESIGN.md section 10): one cancellation to N attendees.

The worker side is the real queue-trigger function in-process (`deliver_cancellation`, given
the message a cancel puts) against Azurite with the maildir transport: per attendee a
directory read (is it an internal attendee?), a claim, the message built, the file written,
the recipient marked sent, and the outbox row read, touched and ended. The floor writes the
same N messages, built beforehand, with the maildir transport alone into a maildir of its own.
Each round uses a fresh notification; worker and floor alternate which goes first.
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

from shared.calendar.model import Notification, NotificationPointer
from shared.messages.imip import message_for, recipients
from shared.storage.queue import encode
from shared.storage.tables import outbox_row
from shared.transports.maildir import MaildirTransport
from shared.use_cases.ports import Envelope

SIZES = (10, 100, 500)


def ratio(subject: float, floor: float) -> float:
    return subject / floor if floor > 0 else float("nan")


@dataclass(frozen=True)
class FanOut:
    """Milliseconds per round for one N, worker and floor taken alternately."""

    attendees: int
    worker_ms: tuple[float, ...]
    transport_ms: tuple[float, ...]

    def figures(self) -> dict[str, float]:
        worker, transport = statistics.median(self.worker_ms), statistics.median(self.transport_ms)
        return {"worker_ms": worker, "transport_ms": transport, "ratio": ratio(worker, transport)}


def fanout_line(result: FanOut) -> str:
    figures = result.figures()
    shown = "n/a" if figures["ratio"] != figures["ratio"] else f"{figures['ratio']:.2f}"
    return (
        f"fan-out N={result.attendees:<4} worker {figures['worker_ms']:.1f} ms | "
        f"transport {figures['transport_ms']:.1f} ms | ratio {shown}"
    )


def fanout_notification(mailbox: str, organizer: str, attendees: int, tag: str) -> Notification:
    """A cancelled meeting of `attendees` external guests (no directory entry, as most are)."""
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
) -> list[FanOut]:
    """Needs MAIL_TRANSPORT=maildir and MAIL_MAILDIR=`maildir/worker` in the environment before
    the worker's adapters are first built."""
    floor_dir = maildir / "floor"
    _timed_worker(table, fanout_notification(mailbox, organizer, 3, "warm"))
    _timed_floor(fanout_notification(mailbox, organizer, 3, "warm"), floor_dir)
    results = []
    for size in sizes:
        worker: list[float] = []
        floor: list[float] = []
        for number in range(rounds):
            tag = f"{size}x{number}"
            item = fanout_notification(mailbox, organizer, size, tag)
            if number % 2 == 0:
                worker.append(_timed_worker(table, item))
                floor.append(_timed_floor(item, floor_dir))
            else:
                floor.append(_timed_floor(item, floor_dir))
                worker.append(_timed_worker(table, item))
        results.append(FanOut(size, tuple(worker), tuple(floor)))
    _check_written(maildir, 3 + sum(size * rounds for size in sizes))
    return results


def _check_written(maildir: Path, expected: int) -> None:
    """Both sides really wrote their messages: one file per attendee per round, each side."""
    for side in ("worker", "floor"):
        written = len(list((maildir / side / "new").glob("*.eml")))
        if written != expected:
            raise RuntimeError(f"the {side} wrote {written} messages, not {expected}")
