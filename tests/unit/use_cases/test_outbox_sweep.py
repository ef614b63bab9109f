"""The sweeper with fakes: pending rows nothing touched go back on the queue, within limits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from shared.use_cases.outbox_sweep import MAX_RESENDS, PendingEntry, SweepReport, sweep_outbox
from shared.use_cases.ports import RecipientSlice, RecipientStatus
from tests.unit.use_cases.delivery_fakes import Clock, FakeOutbox, FakeRedelivery, notification

AFTER = timedelta(seconds=60)
LEASE = timedelta(seconds=120)


def sweep(outbox: FakeOutbox, redelivery: FakeRedelivery, clock: Clock) -> SweepReport:
    return sweep_outbox(outbox=outbox, redelivery=redelivery, now=clock(), after=AFTER, lease=LEASE)


def test_a_row_left_pending_is_put_back_once_per_quiet_period() -> None:
    clock = Clock()
    outbox, redelivery = FakeOutbox(clock), FakeRedelivery()
    stale = outbox.add(notification(notification_id="AAMkStale"))
    clock.advance(30)
    outbox.add(notification(notification_id="AAMkRecent"))
    clock.advance(40)

    assert sweep(outbox, redelivery, clock) == SweepReport(resent=1)
    assert redelivery.put == [(stale, timedelta(0))]
    assert outbox.rows[stale].resends == 1

    clock.advance(30)  # the re-send touched the row: not yet again
    assert sweep(outbox, redelivery, clock) == SweepReport(resent=1)  # only the recent one now
    assert [pointer.notification_id for pointer, _ in redelivery.put] == ["AAMkStale", "AAMkRecent"]


def test_rows_that_ended_or_are_in_hand_are_left_alone() -> None:
    clock = Clock()
    outbox, redelivery = FakeOutbox(clock), FakeRedelivery()
    delivered = outbox.add(notification(notification_id="AAMkDone"))
    outbox.rows[delivered].status = "delivered"
    failed = outbox.add(notification(notification_id="AAMkFailed"))
    outbox.rows[failed].status = "failed"
    in_hand = outbox.add(notification(notification_id="AAMkInHand"))
    clock.advance(120)
    item = outbox.rows[in_hand].notification
    guests = tuple(a.email_address.address for a in item.attendees)
    untried: list[RecipientStatus] = ["untried"] * len(guests)
    claim = RecipientSlice(0, guests, tuple(untried), ("",) * len(guests), True, clock())
    assert outbox.claim_slice(in_hand, claim, None) is not None  # a worker is sending to it

    assert sweep(outbox, redelivery, clock) == SweepReport()
    assert redelivery.put == []

    clock.advance(LEASE.total_seconds())  # the claim lapsed: the worker died
    assert sweep(outbox, redelivery, clock) == SweepReport(resent=1)
    assert redelivery.put == [(in_hand, timedelta(0))]


def test_a_row_resent_too_often_is_given_up_as_failed_with_its_last_error() -> None:
    clock = Clock()
    outbox, redelivery = FakeOutbox(clock), FakeRedelivery()
    pointer = outbox.add(notification())
    outbox.rows[pointer].resends = MAX_RESENDS
    outbox.rows[pointer].last_error = "smtp: 451 try later"
    clock.advance(120)

    assert sweep(outbox, redelivery, clock) == SweepReport(given_up=1)
    row = outbox.rows[pointer]
    assert row.status == "failed"
    assert (
        row.reason == f"still pending after {MAX_RESENDS} re-sends; last error: smtp: 451 try later"
    )
    assert redelivery.put == []


def test_a_queue_that_is_down_ends_the_sweep_and_counts_nothing() -> None:
    clock = Clock()
    outbox, redelivery = FakeOutbox(clock), FakeRedelivery(down=True)
    pointer = outbox.add(notification())
    clock.advance(120)

    assert sweep(outbox, redelivery, clock) == SweepReport()
    assert outbox.rows[pointer].resends == 0


class RacingOutbox(FakeOutbox):
    """A worker writes each row between the sweeper's query and its count."""

    def stale_pending(self, untouched_since: datetime) -> Iterable[PendingEntry]:
        found = list(super().stale_pending(untouched_since))
        for entry in found:
            self.record_error(entry.pointer, "a worker wrote meanwhile")
        return found


def test_a_row_that_changed_meanwhile_is_put_back_but_not_counted() -> None:
    clock = Clock()
    outbox, redelivery = RacingOutbox(clock), FakeRedelivery()
    pointer = outbox.add(notification())
    clock.advance(120)

    assert sweep(outbox, redelivery, clock) == SweepReport()
    assert redelivery.put == [(pointer, timedelta(0))]  # a duplicate the worker ignores
    assert outbox.rows[pointer].resends == 0
