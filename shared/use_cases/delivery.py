"""Telling attendees: each recipient's notification is sent once, however the message arrives.

One pipeline for both kinds of notification: a cancellation (`CANCEL`) and an invitation
(`REQUEST`, when a meeting is created). Only two things depend on the kind, and neither is
here: the message (`Notice`) and what happens to the internal attendee's copy
(`AttendeeCopies.update_copy`, which cancels it with `cancelled_copy` or creates it with
`invited_copy`).

The outbox row is the promise to notify; the queue message only points at it and may come
twice, late, or after a worker died half-way. So delivery state is kept per slice of
recipients: the notification's recipients (`recipients`, always the same, in the same order)
cut into slices of `MAIL_BATCH`, one row each; whoever creates the first slice's row fixes the
cut for every later attempt (another `MAIL_BATCH` meanwhile changes nothing). A slice is
claimed (one write) before its recipients are sent to and ended (one write) with each
recipient's outcome after, while `MAIL_CONCURRENCY` threads send: the next slice is
claimed, and the directory asked which of its recipients are users, while one is sent; the
last one is ended meanwhile. A slice a live worker holds is left to it (the message comes back
once the claim's lease is over); a claim older than the lease belongs to a worker that died
and is taken over, sending again to the recipients not recorded sent. The messages that can go
twice are those of the slices claimed but not yet ended when a worker dies: at most two (the
one being sent and the one being ended; one with a single thread), and each goes out
identical (same bytes, same Message-ID; the maildir transport keeps the first file).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from shared.calendar.model import (
    Attendee,
    Event,
    ItemBody,
    Location,
    Notification,
    NotificationPointer,
)
from shared.messages.imip import (
    InvalidRecipient,
    Notice,
    canceled_subject,
    recipient_key,
    recipients,
)
from shared.use_cases.cancellation import change_key
from shared.use_cases.ports import (
    Attempt,
    AttendeeCopies,
    Envelope,
    Outbox,
    OutboxEntry,
    Outgoing,
    RecipientRefused,
    RecipientSlice,
    RecipientStatus,
    Redelivery,
    Transport,
    TransportError,
)

log = logging.getLogger(__name__)

MIN_WAIT = timedelta(seconds=1)
T = TypeVar("T")


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    """The host's maxDequeueCount: the attempt that fails with this number is the last."""
    lease: timedelta
    """How long a claim keeps other workers off a slice of recipients."""
    concurrency: int = 1
    """How many recipients are sent to at once (`MAIL_CONCURRENCY`), each thread with its own
    transport session."""
    batch: int = 100
    """How many recipients share a delivery-state row (`MAIL_BATCH`), for a notification whose
    first slice this worker creates; every later attempt keeps that slice's size."""


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
    busy: set[int] = field(default_factory=set)
    """Slices (by index) another worker held when this one came to them, or left unfinished."""


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
    mark = Attempt(attempt, now())  # noted on the row when the attempt fails or ends it
    try:
        run = _Run(pointer, entry, mark, outbox, transport, copies, policy, now)
        progress = run.send_each()
        if run.finished:
            return Outcome.DELIVERED
        delay = None if progress.failures else _still_held(pointer, progress, outbox, policy, now())
        if delay is not None:
            redelivery.redeliver(pointer, delay)
            return Outcome.DEFERRED
    except Exception as error:
        _failed_attempt(outbox, pointer, mark, policy, f"{type(error).__name__}: {error}")
        raise
    if progress.failures:
        reason = _listed(progress.failures)
        _failed_attempt(outbox, pointer, mark, policy, reason)
        raise DeliveryFailed(reason)
    rejected = _listed(progress.rejected) if progress.rejected else None
    outbox.finish(pointer, "delivered", rejected, entry, mark)
    return Outcome.DELIVERED


@dataclass(frozen=True)
class _Slice:
    """One slice of the recipients this attempt sends to: its attendees and its row as read."""

    index: int
    members: tuple[Attendee, ...]
    current: RecipientSlice | None
    addresses: tuple[str, ...] = ()
    """The members' addresses (made once: each recipient's turn reads its own)."""

    def __post_init__(self) -> None:
        addresses = tuple(member.email_address.address.strip() for member in self.members)
        object.__setattr__(self, "addresses", addresses)


@dataclass(frozen=True)
class _Claimed:
    """A slice this worker claimed (`state`, None when another worker changed it first), and
    the mailboxes of the users among its recipients still to send to."""

    item: _Slice
    state: RecipientSlice | None
    internal: dict[str, str]


@dataclass(frozen=True)
class _Sent:
    """How one recipient's turn ended: sent, rejected, failed (`error`), or not tried
    (`lapsed`)."""

    position: int
    error: BaseException | None = None
    rejected: str | None = None
    lapsed: bool = False


def _user_time() -> float:
    """The process's CPU time in user mode, in seconds (all CPU time where that is not told)."""
    try:
        import resource
    except ImportError:  # not on Linux
        return time.process_time()
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


class Pace:
    """How many of a delivery's sending threads send at once: all of them (`MAIL_CONCURRENCY`)
    while sending mostly waits (on a server, a disk), one while the worker process is busy
    computing. Python runs one thread at a time, so when the process's own work is what a
    send waits for (an SMTP server in the same process, a disk that writes as fast as Python
    asks), more senders only take turns, each switch costing work of its own. Looked at every
    `WINDOW` sends: the process's user CPU time over the wall time since the last look (user
    time: the kernel's work for a send, writing a file, runs beside Python's).

    The senders are ranked 0 to `most - 1`; one of rank r sends while r is under the limit
    (`wait`), so at a limit of one the sender of rank 0 sends every message in turn and the
    others stay parked, not woken once a message to find the turn taken. A send already begun
    when the limit falls ends first."""

    WINDOW = 8
    BUSY = 0.85
    """At least this much of a core: one thread sends."""
    IDLE = 0.6
    """Under this much: all of them (between the two, as before)."""

    def __init__(
        self,
        most: int,
        cpu: Callable[[], float] = _user_time,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.most = self.limit = max(1, most)
        self.cpu, self.clock = cpu, clock
        self.sends = 0
        self.since = (clock(), cpu())
        self._changed = threading.Condition()

    def wait(self, rank: int, done: threading.Event) -> None:
        """Until a sender of this rank may send (rank 0 always may), or `done` is set."""
        if rank < self.limit:
            return
        with self._changed:
            while rank >= self.limit and not done.is_set():
                self._changed.wait()

    def sent(self) -> None:
        """One message sent: every `WINDOW`, a look; the parked senders woken when it let
        more of them send."""
        with self._changed:
            self.sends += 1
            if self.sends < self.WINDOW:
                return
            before = self.limit
            self._look()
            if self.limit > before:
                self._changed.notify_all()

    def release(self) -> None:
        """Wakes every parked sender (to see its `done` set)."""
        with self._changed:
            self._changed.notify_all()

    def _look(self) -> None:
        wall, cpu = self.clock(), self.cpu()
        busy = (cpu - self.since[1]) / max(wall - self.since[0], 1e-9)
        if busy >= self.BUSY:
            self.limit = 1
        elif busy < self.IDLE:
            self.limit = self.most
        self.sends, self.since = 0, (wall, cpu)


class _Sessions:
    """One transport session per thread that sends, opened on its first message and kept for
    the whole delivery: an SMTP connection serves every recipient that thread sends to."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._local = threading.local()
        self._opened = ExitStack()
        self._lock = threading.Lock()

    def outgoing(self) -> Outgoing:
        outgoing: Outgoing | None = getattr(self._local, "outgoing", None)
        if outgoing is None:
            manager = self.transport.session()
            outgoing = manager.__enter__()
            with self._lock:
                self._opened.push(manager.__exit__)
            self._local.outgoing = outgoing
        return outgoing

    def close(self) -> None:
        self._opened.close()


class _Inline(Executor):
    """Runs what is submitted at once, in the caller's thread (one thread sending alone)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as error:
            done.set_exception(error)
        return done


class _Run:
    """One attempt at a notification: its slices not yet done, claimed, sent and ended in
    turn (see the module's text)."""

    def __init__(
        self,
        pointer: NotificationPointer,
        entry: OutboxEntry,
        attempt: Attempt,
        outbox: Outbox,
        transport: Transport,
        copies: AttendeeCopies,
        policy: DeliveryPolicy,
        now: Callable[[], datetime],
    ) -> None:
        self.pointer, self.entry, self.attempt = pointer, entry, attempt
        notification = self.notification = entry.notification
        self.outbox, self.transport, self.copies = outbox, transport, copies
        self.policy, self.now = policy, now
        self.progress = _Progress()
        self.stop = threading.Event()
        """Set when the transport itself failed: recipients not yet tried are left for the
        retry."""
        self.sender = notification.organizer.email_address.address.strip()
        self.finished = False
        """Every recipient is done and the outbox row ended `delivered`: when every slice went
        well, the row is ended beside the last slice's end (two writes at once)."""

    def send_each(self) -> _Progress:
        """Every slice still to do, claimed, sent to and ended in turn; the messages' shared
        parts (`Notice`) made while the first slice is claimed."""
        everyone = recipients(self.notification)
        self.sessions = _Sessions(self.transport)
        self.pace = Pace(self.policy.concurrency)
        # One thread sends alone, writing as it goes; more send side by side, and two writer
        # threads claim the next slice and end the last while they do (two, so a claim need
        # not wait behind an end).
        several = self.policy.concurrency > 1
        workers: Executor = ThreadPoolExecutor(self.policy.concurrency) if several else _Inline()
        writer: Executor = ThreadPoolExecutor(2) if several else _Inline()
        with workers, writer, ExitStack() as closing:
            closing.callback(self.sessions.close)
            starting = writer.submit(self._start, everyone)
            # The claim's thread is let run until its request is out (it gives the interpreter
            # back as it waits for the answer); then the parts are made here meanwhile, instead
            # of taking turns with the claim's own Python from the start.
            time.sleep(0)
            try:
                self.notice = Notice(self.notification)
            except Exception:
                _, first = starting.result()
                if first is not None:
                    self._give_back(first)
                raise
            todo, first = starting.result()
            unexpected = None
            if todo:
                claiming: Future[_Claimed] = Future()
                if first is not None:
                    claiming.set_result(first)
                else:
                    claiming = writer.submit(self._claim, todo[0])
                unexpected = self._send_slices(todo, workers, writer, claiming)
        if unexpected is not None:
            raise unexpected
        return self.progress

    def _start(self, everyone: tuple[Attendee, ...]) -> tuple[list[_Slice], _Claimed | None]:
        """The slices with recipients still to send to, and the first of them already claimed
        when no attempt had claimed it before.

        The first slice's row fixes how the recipients are cut for every attempt: a worker
        cuts them into slices of `MAIL_BATCH` and creates the first one's row, claiming it,
        without reading anything first. When that row is there already (an earlier attempt, a
        racing worker: whoever created it first decides), every slice is read and the
        recipients are cut as the first one was."""
        if not everyone:
            return [], None
        size = max(1, self.policy.batch)
        first = self._claim(_Slice(0, everyone[:size], None))
        if first.state is not None:
            return [first.item, *self._todo(everyone, size, {}, after_first=True)], first
        states = self.outbox.slices(self.pointer)
        made = states.get(0)
        return self._todo(everyone, max(1, len(made.addresses)) if made else size, states), None

    def _todo(
        self,
        everyone: tuple[Attendee, ...],
        size: int,
        states: dict[int, RecipientSlice],
        after_first: bool = False,
    ) -> list[_Slice]:
        """The slices with recipients still to send to (but the first, `after_first`), as
        `states` has them; those another worker holds are noted busy. Recipients rejected by
        an earlier attempt are named again in the row's end."""
        todo: list[_Slice] = []
        first = 1 if after_first else 0
        for index, start in enumerate(range(first * size, len(everyone), size), start=first):
            item = _Slice(index, everyone[start : start + size], states.get(index))
            state = item.current
            if state is not None and state.addresses != item.addresses:
                raise RuntimeError(f"slice {index} of {self.pointer} is not its recipients'")
            if state is not None:
                for position, status in enumerate(state.statuses):
                    if status == "rejected":
                        self.progress.rejected[state.addresses[position]] = state.details[position]
                if state.complete:
                    continue
                if state.held(self.now(), self.policy.lease):
                    self.progress.busy.add(index)
                    continue
            todo.append(item)
        return todo

    def _claim(self, item: _Slice) -> _Claimed:
        """Claim the slice (one write), then ask the directory which of its recipients still to
        send to are users (once for them all)."""
        current = item.current
        count = len(item.members)
        untried: tuple[RecipientStatus, ...] = tuple("untried" for _ in range(count))
        claim = RecipientSlice(
            item.index,
            item.addresses,
            current.statuses if current is not None else untried,
            current.details if current is not None else ("",) * count,
            claimed=True,
            changed_at=self.now(),
        )
        state = self.outbox.claim_slice(self.pointer, claim, current)
        if state is None:
            return _Claimed(item, None, {})
        return self._looked_up(item, state)

    def _looked_up(self, item: _Slice, state: RecipientSlice) -> _Claimed:
        """A slice this worker claimed, with the users among its recipients still to send to."""
        pending = [a for position, a in enumerate(item.addresses) if not state.done(position)]
        return _Claimed(item, state, self.copies.internal(pending) if pending else {})

    def _sent_to(self, claimed: _Claimed, positions: list[int], workers: Executor) -> list[_Sent]:
        """Each recipient at `positions` tried once, by up to `MAIL_CONCURRENCY` ranked
        senders taking the next position in turn, as `Pace` lets them send."""
        pending = iter(positions)
        taking = threading.Lock()
        done = threading.Event()

        def sender(rank: int) -> list[_Sent]:
            results: list[_Sent] = []
            try:
                while True:
                    self.pace.wait(rank, done)
                    if done.is_set():  # nothing left, or a turn failed
                        return results
                    with taking:
                        position = next(pending, None)
                    if position is None:
                        return results
                    results.append(self._turn(claimed, position))
                    self.pace.sent()
            finally:  # the positions are all taken, or a turn failed: the parked ones leave
                done.set()
                self.pace.release()

        senders = [
            workers.submit(sender, rank) for rank in range(min(self.pace.most, len(positions)))
        ]
        wait(senders)  # woken once, not once a recipient
        return [result for ranked in senders for result in ranked.result()]

    def _turn(self, claimed: _Claimed, position: int) -> _Sent:
        assert claimed.state is not None
        claimed_at = claimed.state.changed_at
        # A claim is good for one send started within half its lease (a send takes at most
        # the transport's timeout, half the lease): later, another worker may have taken over.
        if self.stop.is_set() or self.now() >= claimed_at + self.policy.lease / 2:
            return _Sent(position, lapsed=True)
        attendee = claimed.item.members[position]
        address = claimed.item.addresses[position]
        try:
            mail = self.notice.mail(attendee)
        except InvalidRecipient as error:
            return _Sent(position, rejected=str(error))
        try:
            mailbox = claimed.internal.get(recipient_key(address))
            if mailbox is not None:
                self.copies.update_copy(self.notification, address, claimed_at, mailbox)
            if self.now() >= claimed_at + self.policy.lease / 2:
                return _Sent(position, lapsed=True)
            self.sessions.outgoing().send(mail, Envelope(self.sender, address))
        except Exception as error:
            if isinstance(error, TransportError) and not isinstance(error, RecipientRefused):
                self.stop.set()  # the transport itself is down: the next would fail alike
            return _Sent(position, error=error)
        return _Sent(position)

    def _end_row(self) -> None:
        rejected = self.progress.rejected
        reason = _listed(rejected) if rejected else None
        self.outbox.finish(self.pointer, "delivered", reason, self.entry, self.attempt)

    def _finish(self, ended: Future[None]) -> None:
        ended.result()
        self.finished = True

    def _all_well(self, unexpected: Exception | None) -> bool:
        """Nothing stands between this attempt and the row's end: every recipient it tried
        is done and no other worker holds a slice."""
        progress = self.progress
        return not (unexpected or self.stop.is_set() or progress.failures or progress.busy)

    def _ended(self, state: RecipientSlice, results: list[_Sent]) -> RecipientSlice:
        """The slice as this worker leaves it, each recipient's outcome recorded; the
        outcomes' consequences noted in the progress."""
        statuses: list[RecipientStatus] = list(state.statuses)
        details = list(state.details)
        lapsed = False
        for result in results:
            position, address = result.position, state.addresses[result.position]
            if result.lapsed:
                statuses[position], details[position] = "failed", "not tried: its claim lapsed"
                lapsed = True
            elif result.rejected is not None:
                statuses[position], details[position] = "rejected", result.rejected
                self.progress.rejected[address] = result.rejected
            elif result.error is not None:
                error = result.error
                statuses[position] = "failed"
                details[position] = f"{type(error).__name__}: {error}"
                if isinstance(error, TransportError):
                    self.progress.failures[address] = str(error)
            else:
                statuses[position], details[position] = "sent", ""
        if lapsed:
            self.progress.busy.add(state.index)
        return RecipientSlice(
            state.index,
            state.addresses,
            tuple(statuses),
            tuple(details),
            claimed=False,
            changed_at=self.now(),
        )

    def _give_back(self, claimed: _Claimed) -> None:
        """A slice claimed and not tried, given back at once: the next attempt takes it."""
        if claimed.state is not None:
            given_back = replace(claimed.state, claimed=False, changed_at=self.now(), version="")
            self.outbox.end_slice(self.pointer, given_back)
        self.progress.busy.add(claimed.item.index)

    def _send_slices(
        self,
        todo: list[_Slice],
        workers: Executor,
        writer: Executor,
        first: Future[_Claimed],
    ) -> Exception | None:
        """The slices, pipelined; the first unexpected error, raised once every slice sent to
        is ended."""
        unexpected: Exception | None = None
        claiming: Future[_Claimed] | None = first
        ending: Future[None] | None = None
        for number in range(len(todo)):
            assert claiming is not None
            claimed = claiming.result()
            claiming = None
            if number + 1 < len(todo) and not self.stop.is_set():
                claiming = writer.submit(self._claim, todo[number + 1])
            state = claimed.state
            if state is None:  # another worker took it first
                self.progress.busy.add(claimed.item.index)
                continue
            positions = [p for p in range(len(state.statuses)) if not state.done(p)]
            results = self._sent_to(claimed, positions, workers)
            for result in results:
                error = result.error
                if error is not None and not isinstance(error, TransportError):
                    unexpected = unexpected or (error if isinstance(error, Exception) else None)
            if ending is not None:
                ending.result()
            ended = self._ended(state, results)
            ending = writer.submit(self.outbox.end_slice, self.pointer, ended)
            if number + 1 == len(todo) and self._all_well(unexpected):
                # The row ends beside the last slice's end: nothing is left to wait for.
                self._finish(writer.submit(self._end_row))
            if self.stop.is_set() or unexpected is not None:
                break
        if claiming is not None:  # claimed ahead, never tried: given back at once
            ahead = claiming.result()
            if ending is not None:
                ending.result()
            ending = writer.submit(self._give_back, ahead)
        if ending is not None:
            ending.result()
        return unexpected


def _still_held(
    pointer: NotificationPointer,
    progress: _Progress,
    outbox: Outbox,
    policy: DeliveryPolicy,
    at: datetime,
) -> timedelta | None:
    """How long until another look is worth it, when slices other workers held (or this one
    left unfinished) are not done yet; None when they are. Looked up again after this
    worker's own sends, so of workers racing on one message the last to finish sees every
    recipient done and ends the row."""
    if not progress.busy:
        return None
    states = outbox.slices(pointer)
    waits: list[timedelta] = []
    for index in progress.busy:
        state = states.get(index)
        if state is not None and state.held(at, policy.lease):
            waits.append(max(MIN_WAIT, state.changed_at + policy.lease - at))
        elif state is None or not state.complete:
            waits.append(MIN_WAIT)  # released meanwhile: free to claim
    return min(waits, default=None)


def _failed_attempt(
    outbox: Outbox,
    pointer: NotificationPointer,
    attempt: Attempt,
    policy: DeliveryPolicy,
    reason: str,
) -> None:
    """The last attempt the host allows ends the row failed; earlier ones record the reason."""
    try:
        if attempt.number >= policy.max_attempts:
            outbox.finish(pointer, "failed", reason, attempt=attempt)
        else:
            outbox.record_error(pointer, reason, attempt)
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
