"""The sweeper: outbox rows left pending are put on the queue again.

A cancel commits its outbox row and then puts a message; when the put fails (or the message is
lost with a worker that died on its last attempt) the row stays pending and nothing else would
ever send it. Rows are swept once nothing has touched them for a while (every failed attempt
and every re-send touches the row) and no worker holds a slice of their recipients (a worker
sending claims each slice for the lease), so a row in hand is not put back. A row re-sent
`MAX_RESENDS` times without ending is given up as failed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from shared.calendar.model import NotificationPointer
from shared.use_cases.ports import Ending, QueueUnavailable, RecipientSlice, Redelivery

log = logging.getLogger(__name__)

MAX_RESENDS = 5


@dataclass(frozen=True)
class PendingEntry:
    pointer: NotificationPointer
    resends: int
    last_error: str | None
    version: str


class PendingOutbox(Protocol):
    def stale_pending(self, untouched_since: datetime) -> Iterable[PendingEntry]:
        """Pending rows nothing has written since `untouched_since`."""
        ...

    def mark_resent(self, entry: PendingEntry, at: datetime) -> bool:
        """Count one more re-send if the row is still that version; False if it changed."""
        ...

    def slices(self, pointer: NotificationPointer) -> dict[int, RecipientSlice]:
        """Every slice of the notification's recipients written so far, by index."""
        ...

    def finish(self, pointer: NotificationPointer, status: Ending, reason: str | None) -> None: ...


@dataclass(frozen=True)
class SweepReport:
    resent: int = 0
    given_up: int = 0


def sweep_outbox(
    *,
    outbox: PendingOutbox,
    redelivery: Redelivery,
    now: datetime,
    after: timedelta,
    lease: timedelta,
    max_resends: int = MAX_RESENDS,
) -> SweepReport:
    """`lease`: how long a worker's claim of a slice of recipients holds."""
    resent = given_up = 0
    for entry in outbox.stale_pending(now - after):
        if any(state.held(now, lease) for state in outbox.slices(entry.pointer).values()):
            continue  # a worker is sending to it
        if entry.resends >= max_resends:
            reason = f"still pending after {entry.resends} re-sends"
            outbox.finish(entry.pointer, "failed", f"{reason}; last error: {entry.last_error}")
            given_up += 1
            continue
        try:
            redelivery.redeliver(entry.pointer, timedelta(0))
        except QueueUnavailable as error:
            log.warning("sweep stopped: the queue refused %s: %s", entry.pointer, error)
            break
        # Put first, count after: losing this race costs a duplicate message, which the worker
        # ignores, never a lost one.
        if outbox.mark_resent(entry, now):
            resent += 1
    return SweepReport(resent, given_up)
