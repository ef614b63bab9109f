"""The fan-out benchmark (DESIGN.md section 10): one cancellation, and one invitation, to N
attendees.

The worker side is the real queue-trigger function in-process (`deliver_cancellation`, given
the message a cancel or a create puts) against Azurite: the outbox row read, each slice of
`MAIL_BATCH` recipients claimed (one row write; the first without reading any slice), the
directory asked which of its recipients are users, the slice sent to by up to
`MAIL_CONCURRENCY` threads building and sending the messages and ended (one row write), the
row ended. Two transports:

- maildir: the floor writes the same N messages, built beforehand (their bytes ready), with
  the maildir transport alone into a maildir of its own (`measure_fanout`);
- smtp: the worker sends to an aiosmtpd server in this process; the floor sends the same N
  messages, built beforehand, over one SMTP connection to that server (`measure_fanout_smtp`).

Each round uses a fresh notification; worker and floor alternate which goes first. After
them, the storage calls exactly-once makes a delivery wait for whatever N is are made with the
raw SDK on rows of their own (`_timed_storage`: the outbox row read, the first slice claimed,
the slice and the row ended side by side), and the line gives the worker against the transport
plus those too: what the worker spends beyond what no delivery of this design can skip.
`measure_peak_memory` runs the N=500 delivery in a fresh interpreter and reports its peak
resident set (VmHWM), so the figure is the worker's and not the benchmark's.

Both kinds go through the same pipeline; what differs is the message: a CANCEL names its one
attendee, a REQUEST every attendee of the meeting, so N invitations carry N² attendee lines
(the floor writes those same messages). The attendees are external, as most are: an internal
attendee's copy (created by an invitation, cancelled by a cancellation) is not measured here.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.data.tables import TableClient, UpdateMode
from azure.functions.queue import QueueMessage

from shared.calendar.model import Notification, NotificationMethod, NotificationPointer
from shared.messages.imip import Mail, Notice, recipients
from shared.runtime.settings import MailSettings
from shared.storage.outbox import slice_row
from shared.storage.queue import encode
from shared.storage.tables import outbox_row
from shared.transports.maildir import MaildirTransport
from shared.use_cases.ports import Envelope, RecipientSlice, RecipientStatus

SIZES = (10, 100, 500)
SMTP_SIZES = (100, 500)
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
    transport: str = "maildir"
    """`maildir` (the floor: the maildir transport alone) or `smtp` (the floor: one SMTP
    connection to the same aiosmtpd server)."""
    storage_ms: tuple[float, ...] = ()
    """The storage calls the delivery waits for whatever N is, with the raw SDK, per round
    (`_timed_storage`); none when not measured."""

    @property
    def key(self) -> str:
        """Its name among the results: `10` for cancellations (as before), `10-invitation`;
        `100-smtp`, `100-invitation-smtp` over SMTP."""
        key = str(self.attendees)
        if self.method != "CANCEL":
            key += f"-{_NAMES[self.method]}"
        return key if self.transport == "maildir" else f"{key}-{self.transport}"

    @property
    def label(self) -> str:
        """How its spread lines are named: `worker 10`, `alone 10` for cancellations as
        before; `invitation worker 10`, `invitation alone 10`; `smtp …` over SMTP."""
        label = "" if self.method == "CANCEL" else f"{_NAMES[self.method]} "
        return label if self.transport == "maildir" else f"{self.transport} {label}"

    def figures(self) -> dict[str, float]:
        """Medians of each side, their ratio, and the median of the rounds' own ratios
        (`paired`: each round's worker against the floor measured next to it, so a disk or
        machine that speeds up or slows down between rounds moves both sides of it alike)."""
        worker, transport = statistics.median(self.worker_ms), statistics.median(self.transport_ms)
        paired = statistics.median(
            ratio(w, t) for w, t in zip(self.worker_ms, self.transport_ms, strict=True)
        )
        figures = {
            "worker_ms": worker,
            "transport_ms": transport,
            "ratio": ratio(worker, transport),
            "paired_ratio": paired,
        }
        if self.storage_ms:
            storage = statistics.median(self.storage_ms)
            figures["storage_ms"] = storage
            figures["ratio_to_transport_and_storage"] = ratio(worker, transport + storage)
        return figures


def _shown(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}"


def fanout_line(result: FanOut) -> str:
    figures = result.figures()
    line = (
        f"fan-out N={result.attendees:<4} {result.label}worker {figures['worker_ms']:.1f} ms | "
        f"transport {figures['transport_ms']:.1f} ms | ratio {_shown(figures['ratio'])} "
        f"(paired {_shown(figures['paired_ratio'])})"
    )
    if "storage_ms" in figures:
        line += (
            f" | + storage it waits for {figures['storage_ms']:.1f} ms: "
            f"{_shown(figures['ratio_to_transport_and_storage'])}"
        )
    return line


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


def _built(notification: Notification) -> list[tuple[Mail, Envelope]]:
    """The messages the worker sends for `notification`, as they go out: the floor is given
    them ready, so it pays only for the transport's own work."""
    sender = notification.organizer.email_address.address
    notice = Notice(notification)
    return [
        (notice.mail(a), Envelope(sender, a.email_address.address))
        for a in recipients(notification)
    ]


def _timed_floor(notification: Notification, folder: Path) -> float:
    """The same messages the worker writes for `notification`, written by the transport alone."""
    messages = _built(notification)
    transport = MaildirTransport(folder)
    start = time.perf_counter_ns()
    with transport.session() as outgoing:
        for message, envelope in messages:
            outgoing.send(message, envelope)
    return (time.perf_counter_ns() - start) / 1e6


def _timed_smtp_floor(notification: Notification, port: int) -> float:
    """The same messages the worker sends for `notification`, over one SMTP connection."""
    from shared.transports.smtp import SmtpSettings, SmtpTransport

    messages = _built(notification)
    transport = SmtpTransport(SmtpSettings(host="127.0.0.1", port=port, starttls=False))
    start = time.perf_counter_ns()
    with transport.session() as outgoing:
        for message, envelope in messages:
            outgoing.send(message, envelope)
    return (time.perf_counter_ns() - start) / 1e6


def _alternating(
    table: TableClient,
    mailbox: str,
    organizer: str,
    rounds: int,
    sizes: Sequence[int],
    methods: Sequence[NotificationMethod],
    floor: Callable[[Notification], float],
    transport: str,
) -> list[FanOut]:
    """Each N and method: `rounds` fresh notifications, the worker (`_timed_worker`) and
    `floor` alternating which goes first, then the storage calls the delivery waits for
    (`_timed_storage`)."""
    with ThreadPoolExecutor(1, thread_name_prefix="storage") as beside:
        return _rounds(
            mailbox,
            organizer,
            rounds,
            sizes,
            methods,
            lambda item: _timed_worker(table, item),
            floor,
            transport,
            lambda item: _timed_storage(table, item, beside),
        )


def _rounds(
    mailbox: str,
    organizer: str,
    rounds: int,
    sizes: Sequence[int],
    methods: Sequence[NotificationMethod],
    worker: Callable[[Notification], float],
    floor: Callable[[Notification], float],
    transport: str,
    storage: Callable[[Notification], float],
) -> list[FanOut]:
    suffix = "" if transport == "maildir" else transport
    for method in methods:
        warm = fanout_notification(mailbox, organizer, 3, f"warm{suffix}", method)
        worker(warm)
        floor(warm)
        storage(warm)
    results = []
    for size in sizes:
        for method in methods:
            worker_ms: list[float] = []
            floor_ms: list[float] = []
            storage_ms: list[float] = []
            for number in range(rounds):
                item = fanout_notification(
                    mailbox, organizer, size, f"{size}x{number}{suffix}", method
                )
                if number % 2 == 0:
                    worker_ms.append(worker(item))
                    floor_ms.append(floor(item))
                else:
                    floor_ms.append(floor(item))
                    worker_ms.append(worker(item))
                storage_ms.append(storage(item))
            results.append(
                FanOut(
                    size,
                    tuple(worker_ms),
                    tuple(floor_ms),
                    method,
                    transport,
                    tuple(storage_ms),
                )
            )
    return results


def _timed_storage(table: TableClient, notification: Notification, beside: Executor) -> float:
    """The storage calls exactly-once makes one delivery of `notification` wait for, whatever
    N is, with the raw SDK and nothing else: the outbox row read (what to send), the first
    slice's row created (claimed before anything is sent), then that slice ended beside the
    row (after the last send). Under a notification id of its own; the rows are the ones the
    worker writes for it (`outbox_row`, `slice_row`), made beforehand. `table` sends as the
    worker's clients do (`./dev bench` gives it the app's `StorageTransport`)."""
    item = notification.model_copy(update={"id": f"{notification.id}.storage"})
    pointer = NotificationPointer(item.mailbox, item.id)
    table.create_entity(outbox_row(item))
    batch = MailSettings.from_env(os.environ).batch  # the worker's, from the same settings
    first = tuple(a.email_address.address for a in recipients(item)[:batch])
    untried: tuple[RecipientStatus, ...] = tuple("untried" for _ in first)
    sent: tuple[RecipientStatus, ...] = tuple("sent" for _ in first)
    claimed = RecipientSlice(
        0, first, untried, ("",) * len(first), claimed=True, changed_at=datetime.now(UTC)
    )
    claim = slice_row(pointer, claimed)
    ended = slice_row(pointer, replace(claimed, statuses=sent, claimed=False))
    key = f"outbox|{item.id}"
    end = {"PartitionKey": item.mailbox, "RowKey": key, "Status": "delivered"}
    start = time.perf_counter_ns()
    table.get_entity(item.mailbox, key)
    table.create_entity(claim)
    ending = beside.submit(table.upsert_entity, ended, mode=UpdateMode.REPLACE)
    table.update_entity(end, mode=UpdateMode.MERGE)
    ending.result()
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
    results = _alternating(
        table,
        mailbox,
        organizer,
        rounds,
        sizes,
        methods,
        lambda item: _timed_floor(item, floor_dir),
        "maildir",
    )
    _check_written(maildir, len(methods) * (3 + sum(size * rounds for size in sizes)))
    return results


def _check_written(maildir: Path, expected: int) -> None:
    """Both sides really wrote their messages: one file per attendee per round, each side."""
    for side in ("worker", "floor"):
        written = len(list((maildir / side / "new").glob("*.eml")))
        if written != expected:
            raise RuntimeError(f"the {side} wrote {written} messages, not {expected}")


# --- over SMTP ---------------------------------------------------------------------------------

_SMTP_SETTINGS = ("MAIL_TRANSPORT", "SMTP_HOST", "SMTP_PORT", "SMTP_STARTTLS")


class SmtpCounter:
    """An aiosmtpd server on a free port of this process that accepts and counts messages."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from devtools.azurite import free_port

        self.port = free_port()
        self.recipients = 0
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        with self._lock:
            self.recipients += len(envelope.rcpt_tos)
        return "250 2.0.0 Accepted"

    def __enter__(self) -> SmtpCounter:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def _worker_with(environment: dict[str, str]) -> None:
    """The worker's settings changed: its adapters are built again on the next message."""
    from shared.runtime.services import delivery_services
    from shared.runtime.settings import mail_settings

    os.environ.update(environment)
    mail_settings.cache_clear()
    delivery_services.cache_clear()


def measure_fanout_smtp(
    table: TableClient,
    mailbox: str,
    organizer: str,
    rounds: int,
    sizes: Sequence[int] = SMTP_SIZES,
    methods: Sequence[NotificationMethod] = METHODS,
) -> list[FanOut]:
    """The same fan-out over SMTP: the worker with `MAIL_TRANSPORT=smtp` against an aiosmtpd
    server in this process, its floor one SMTP connection to that server sending the same
    messages built beforehand. The worker's earlier settings are back when it returns."""
    before = {name: os.environ.get(name) for name in _SMTP_SETTINGS}
    with SmtpCounter() as server:
        _worker_with(
            {
                "MAIL_TRANSPORT": "smtp",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(server.port),
                "SMTP_STARTTLS": "false",
            }
        )
        try:
            results = _alternating(
                table,
                mailbox,
                organizer,
                rounds,
                sizes,
                methods,
                lambda item: _timed_smtp_floor(item, server.port),
                "smtp",
            )
        finally:
            for name, value in before.items():
                os.environ.pop(name, None)
                if value is not None:
                    os.environ[name] = value
            _worker_with({})
        expected = 2 * len(methods) * (3 + sum(size * rounds for size in sizes))
        if server.recipients != expected:
            raise RuntimeError(f"the SMTP server took {server.recipients} messages, not {expected}")
    return results


def smtp_lines(results: Sequence[FanOut]) -> list[str]:
    """The SMTP figures, one line each (`fanout_line` of each)."""
    return [fanout_line(result) for result in results]


# --- peak memory -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeakMemory:
    """The worker's peak resident set (VmHWM) in a process of its own: once warmed up by a
    notification to 3 attendees, and after one to `attendees`; `growth_kb` is what that
    delivery added to the peak."""

    attendees: int
    method: NotificationMethod
    warm_kb: int
    peak_kb: int

    @property
    def growth_kb(self) -> int:
        return self.peak_kb - self.warm_kb


def memory_line(result: PeakMemory) -> str:
    return (
        f"fan-out N={result.attendees:<4} {_NAMES[result.method]} worker peak RSS "
        f"{result.peak_kb / 1024:.1f} MB | warmed up {result.warm_kb / 1024:.1f} MB | "
        f"delivery +{result.growth_kb / 1024:.1f} MB  (VmHWM of a process of its own)"
    )


def measure_peak_memory(
    calendar_table: str,
    mailbox: str,
    organizer: str,
    maildir: Path,
    attendees: int = 500,
    methods: Sequence[NotificationMethod] = METHODS,
) -> list[PeakMemory]:
    """One fresh interpreter per method, on this environment's storage settings with the
    maildir transport into `maildir/memory`, so the figure is the worker's own and not the
    benchmark's: `python -m devtools.bench_fanout memory …` prints its VmHWM warmed up and
    after the delivery."""
    results = []
    for method in methods:
        env = {**os.environ, "MAIL_TRANSPORT": "maildir", "MAIL_MAILDIR": str(maildir / "memory")}
        command = [sys.executable, "-m", "devtools.bench_fanout", "memory", calendar_table,
                   mailbox, organizer, str(attendees), method]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(PeakMemory(attendees, method, figures["warm_kb"], figures["peak_kb"]))
    return results


def vm_hwm_kb() -> int:
    """This process's peak resident set so far, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # kB on Linux


def _memory(argv: Sequence[str]) -> None:
    calendar_table, mailbox, organizer, size, method = argv
    chosen: NotificationMethod = "REQUEST" if method == "REQUEST" else "CANCEL"
    tag = f"mem{time.time_ns()}"
    with TableClient.from_connection_string(
        os.environ["AzureWebJobsStorage"], calendar_table
    ) as table:
        _timed_worker(table, fanout_notification(mailbox, organizer, 3, f"{tag}w", chosen))
        gc.collect()
        warm = vm_hwm_kb()
        _timed_worker(table, fanout_notification(mailbox, organizer, int(size), tag, chosen))
        peak = vm_hwm_kb()
    print(json.dumps({"warm_kb": warm, "peak_kb": peak}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["memory"]:
        _memory(sys.argv[2:])
