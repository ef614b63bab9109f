"""Telling attendees: each recipient's notification is sent once, however the message arrives.

One pipeline for both kinds of notification: a cancellation (`CANCEL`) and an invitation
(`REQUEST`, when a meeting is created). Only two things depend on the kind, and neither is
here: the message (`message_for`) and what happens to the internal attendee's copy
(`AttendeeCopies.update_copy`, which cancels it with `cancelled_copy` or creates it with
`invited_copy`).

The outbox row is the promise to notify; the queue message only points at it and may come
twice, late, or after a worker died half-way. So delivery state is kept per recipient: a
recipient is claimed before its message is sent and marked sent after, `MAIL_BATCH` of them in
one transaction each way, while `MAIL_CONCURRENCY` threads send (the next batch is claimed and
the last one marked while one is being sent). A claim a live worker holds is left to it (the
message comes back once the claim's lease is over); a claim older than the lease belongs to a
worker that died and is taken over. The messages that can go twice are those sent but not yet
marked when a worker dies: at most two batches (the one being sent and the one whose marks are
being written; one batch with a single thread), and each goes out identical (same bytes, same
Message-ID; the maildir transport keeps the first file).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
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
    mail_address,
    recipient_key,
    recipients,
)
from shared.use_cases.cancellation import change_key
from shared.use_cases.ports import (
    AttendeeCopies,
    Envelope,
    Outbox,
    Outgoing,
    RecipientMark,
    RecipientRefused,
    RecipientState,
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
    """How long a claim keeps other workers off a recipient."""
    concurrency: int = 1
    """How many recipients are sent to at once (`MAIL_CONCURRENCY`), each thread with its own
    transport session."""
    batch: int = 100
    """How many recipients are claimed, and then marked, in one write (at most 100, a
    transaction's limit)."""


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


@dataclass(frozen=True)
class _Recipient:
    attendee: Attendee
    address: str
    state: RecipientState | None

    @property
    def key(self) -> str:
        return recipient_key(self.address)


@dataclass(frozen=True)
class _Sent:
    """How one recipient's turn ended: sent, not sent (`error`), or not tried (`lapsed`)."""

    recipient: _Recipient
    error: BaseException | None = None
    lapsed: bool = False


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


def _chunks(items: list[_Recipient], size: int) -> list[list[_Recipient]]:
    return [items[start : start + size] for start in range(0, len(items), max(1, size))]


def _send_each(
    pointer: NotificationPointer,
    notification: Notification,
    outbox: Outbox,
    transport: Transport,
    copies: AttendeeCopies,
    policy: DeliveryPolicy,
    now: Callable[[], datetime],
) -> _Progress:
    """Every recipient not yet done, in batches of `policy.batch`: a batch is claimed in one
    write, its recipients sent to by `policy.concurrency` threads (each with its own transport
    session), then marked in one write. The next batch is claimed while one is sent, and a
    batch's marks are written while the next is sent, so a worker that dies leaves at most
    two batches' recipients sent but not marked (`sending`); nothing else is sent twice."""
    progress = _Progress()
    states = outbox.recipients(pointer)
    todo: list[_Recipient] = []
    for attendee in recipients(notification):
        address = attendee.email_address.address.strip()
        state = states.get(recipient_key(address))
        if state is not None and state.done:
            continue
        if state is not None and state.held(now(), policy.lease):
            progress.busy.add(recipient_key(address))
            continue
        todo.append(_Recipient(attendee, address, state))
    if not todo:
        return progress
    notice = Notice(notification)
    sendable: list[_Recipient] = []
    rejected: list[RecipientMark] = []
    for recipient in todo:
        try:
            mail_address(recipient.attendee.email_address)
        except InvalidRecipient as error:
            rejected.append(RecipientMark(recipient.address, "rejected", str(error)))
            progress.rejected[recipient.address] = str(error)
            continue
        sendable.append(recipient)
    if rejected:
        outbox.mark_all(pointer, rejected, now())
    if not sendable:
        return progress
    internal = copies.internal([recipient.address for recipient in sendable])
    sender = notification.organizer.email_address.address.strip()
    sessions = _Sessions(transport)
    stop = threading.Event()
    """Set when the transport itself failed: recipients not yet tried are left for the retry."""

    def turn(recipient: _Recipient, claimed_at: datetime) -> _Sent:
        # A claim is good for one send started within half its lease (a send takes at most
        # the transport's timeout, half the lease): later, another worker may have taken over.
        if stop.is_set() or now() >= claimed_at + policy.lease / 2:
            return _Sent(recipient, lapsed=True)
        try:
            mailbox = internal.get(recipient.key)
            if mailbox is not None:
                copies.update_copy(notification, recipient.address, claimed_at, mailbox)
            message = notice.message(recipient.attendee)
            if now() >= claimed_at + policy.lease / 2:
                return _Sent(recipient, lapsed=True)
            sessions.outgoing().send(message, Envelope(sender, recipient.address))
        except Exception as error:
            if isinstance(error, TransportError) and not isinstance(error, RecipientRefused):
                stop.set()  # the transport itself is down: the next recipients would fail alike
            return _Sent(recipient, error=error)
        return _Sent(recipient)

    # One thread sends alone, writing as it goes; more send side by side, and a writer thread
    # claims the next batch and marks the last while they do.
    workers: Executor = (
        ThreadPoolExecutor(policy.concurrency) if policy.concurrency > 1 else _Inline()
    )
    writer: Executor = ThreadPoolExecutor(1) if policy.concurrency > 1 else _Inline()
    with workers, writer, ExitStack() as closing:
        closing.callback(sessions.close)
        unexpected = _send_batches(
            pointer, sendable, outbox, policy, now, progress, turn, workers, writer, stop
        )
    if unexpected is not None:
        raise unexpected
    return progress


class _Inline(Executor):
    """Runs what is submitted at once, in the caller's thread (one thread sending alone)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as error:
            done.set_exception(error)
        return done


def _send_batches(
    pointer: NotificationPointer,
    sendable: list[_Recipient],
    outbox: Outbox,
    policy: DeliveryPolicy,
    now: Callable[[], datetime],
    progress: _Progress,
    turn: Callable[[_Recipient, datetime], _Sent],
    workers: Executor,
    writer: Executor,
    stop: threading.Event,
) -> Exception | None:
    """The batches, pipelined (see `_send_each`); the first unexpected error, raised once
    every recipient sent to is marked."""
    batches = _chunks(sendable, policy.batch)

    def claim(batch: list[_Recipient]) -> tuple[datetime, list[_Recipient]]:
        at = now()
        taken = set(outbox.claim_all(pointer, [(r.address, r.state) for r in batch], at))
        return at, [r for r in batch if r.address in taken]

    unexpected: Exception | None = None
    claiming: Future[tuple[datetime, list[_Recipient]]] | None = writer.submit(claim, batches[0])
    marking: Future[None] | None = None
    for number, batch in enumerate(batches):
        assert claiming is not None
        claimed_at, claimed = claiming.result()
        taken = {r.address for r in claimed}
        progress.busy.update(r.key for r in batch if r.address not in taken)
        claiming = None
        if number + 1 < len(batches) and not stop.is_set():
            claiming = writer.submit(claim, batches[number + 1])
        ended = [f.result() for f in [workers.submit(turn, r, claimed_at) for r in claimed]]
        marks: list[RecipientMark] = []
        for result in ended:
            address = result.recipient.address
            if result.lapsed:
                marks.append(RecipientMark(address, "failed", "not tried: its claim lapsed"))
                progress.busy.add(result.recipient.key)
            elif result.error is not None:
                error = result.error
                marks.append(RecipientMark(address, "failed", f"{type(error).__name__}: {error}"))
                if isinstance(error, TransportError):
                    progress.failures[address] = str(error)
                elif unexpected is None and isinstance(error, Exception):
                    unexpected = error
            else:
                marks.append(RecipientMark(address, "sent"))
        if marking is not None:
            marking.result()
        marking = writer.submit(outbox.mark_all, pointer, marks, now())
        if stop.is_set() or unexpected is not None:
            break
    if claiming is not None:  # claimed ahead, never tried: given up at once
        _, ahead = claiming.result()
        if ahead:
            assert marking is not None
            marking.result()
            reason = "not tried: the attempt stopped"
            marking = writer.submit(
                outbox.mark_all,
                pointer,
                [RecipientMark(r.address, "failed", reason) for r in ahead],
                now(),
            )
            progress.busy.update(r.key for r in ahead)
    if marking is not None:
        marking.result()
    return unexpected


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
