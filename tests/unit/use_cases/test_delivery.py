"""The delivery use case with hand-written fakes: each recipient once, whatever happens."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from shared.calendar.model import (
    EmailAddress,
    Notification,
    NotificationPointer,
    PatternedRecurrence,
    Recipient,
)
from shared.use_cases.delivery import (
    DeliveryFailed,
    DeliveryPolicy,
    Outcome,
    cancelled_copy,
    copy_id,
    deliver,
    invited_copy,
    reconciled_copy,
)
from tests.unit.use_cases.delivery_fakes import (
    ORGANIZER,
    START,
    Clock,
    FakeCopies,
    FakeOutbox,
    FakeRedelivery,
    FakeTransport,
    WorkerKilled,
    attendee,
    invitation,
    notification,
)
from tests.unit.use_cases.fakes import event

LEASE = timedelta(seconds=60)
POLICY = DeliveryPolicy(max_attempts=3, lease=LEASE)
ALEX, MEGAN, PAT = "AlexW@contoso.example", "MeganB@contoso.example", "pat@fabrikam.example"


class World:
    """One outbox row and every port the use case needs, all fakes."""

    def __init__(self, item: Notification | None = None) -> None:
        self.clock = Clock()
        self.outbox = FakeOutbox(self.clock)
        self.transport = FakeTransport()
        self.copies = FakeCopies(users={ALEX.casefold(), MEGAN.casefold()})
        self.redelivery = FakeRedelivery()
        self.notification = item or notification()
        self.pointer = self.outbox.add(self.notification)

    def deliver(
        self,
        attempt: int = 1,
        pointer: NotificationPointer | None = None,
        policy: DeliveryPolicy = POLICY,
    ) -> Outcome:
        return deliver(
            pointer or self.pointer,
            attempt,
            outbox=self.outbox,
            transport=self.transport,
            copies=self.copies,
            redelivery=self.redelivery,
            policy=policy,
            now=self.clock,
        )

    @property
    def row_status(self) -> str:
        return self.outbox.rows[self.pointer].status


def test_every_attendee_gets_one_message_and_internal_copies_are_cancelled() -> None:
    world = World()

    assert world.deliver() is Outcome.DELIVERED

    assert [envelope.recipient for envelope, _ in world.transport.sent] == [ALEX, MEGAN, PAT]
    assert {envelope.sender for envelope, _ in world.transport.sent} == {ORGANIZER}
    assert world.copies.cancelled == [ALEX, MEGAN]
    assert world.row_status == "delivered"
    assert world.transport.sessions == 1


def test_organizer_is_left_out_and_addresses_are_deduplicated_in_any_case() -> None:
    item = notification(
        attendee(ALEX),
        attendee("alexw@CONTOSO.example"),
        attendee(ORGANIZER.upper()),
        attendee(f"  {PAT} "),
    )
    world = World(item)

    world.deliver()

    assert [envelope.recipient for envelope, _ in world.transport.sent] == [ALEX, PAT]


def test_a_redelivered_message_sends_nothing_already_sent() -> None:
    world = World()
    world.deliver()

    assert world.deliver() is Outcome.ALREADY_DELIVERED
    # Even if the row had not been marked delivered, the recipients' state holds.
    world.outbox.rows[world.pointer].status = "pending"
    assert world.deliver() is Outcome.DELIVERED

    assert len(world.transport.sent) == 3


def test_a_worker_killed_half_way_resends_at_most_its_slice_after_the_lease() -> None:
    world = World()  # one slice of three, claimed at once and ended at once
    world.transport.kill_after = 1
    with pytest.raises(WorkerKilled):
        world.deliver()
    assert world.outbox.writes == [("claim", 3)]  # killed before the slice was ended
    assert {a: world.outbox.status_of(a, world.notification) for a in (ALEX, MEGAN, PAT)} == (
        dict.fromkeys((ALEX, MEGAN, PAT), "sending")
    )

    world.transport.kill_after = None
    world.clock.advance(5)
    assert world.deliver() is Outcome.DEFERRED  # the claims may still be a live worker's
    assert len(world.transport.sent) == 1
    ((pointer, delay),) = world.redelivery.put
    assert pointer == world.pointer
    assert delay == LEASE - timedelta(seconds=5)

    world.clock.advance(delay.total_seconds())
    assert world.deliver() is Outcome.DELIVERED  # the lease is over: the claims are taken over
    # Alex's message went out before the worker died and again after: the slice in doubt.
    assert [world.transport.count(a) for a in (ALEX, MEGAN, PAT)] == [2, 1, 1]


def test_with_slices_of_one_a_killed_worker_leaves_one_recipient_in_doubt() -> None:
    world = World()
    world.transport.kill_after = 1
    with pytest.raises(WorkerKilled):
        world.deliver(policy=replace(POLICY, batch=1))
    assert world.outbox.status_of(ALEX, world.notification) == "sent"
    assert world.outbox.status_of(MEGAN, world.notification) == "sending"  # died while sending
    assert world.outbox.status_of(PAT, world.notification) == "sending"  # claimed, not tried

    world.transport.kill_after = None
    world.clock.advance(LEASE.total_seconds())
    assert world.deliver(policy=replace(POLICY, batch=1)) is Outcome.DELIVERED
    assert [world.transport.count(a) for a in (ALEX, MEGAN, PAT)] == [1, 1, 1]


MANY = tuple(attendee(f"guest{n:02d}@fabrikam.example") for n in range(30))


@pytest.mark.parametrize("killed_after", [0, 1, 4, 5, 12, 23, 29])
@pytest.mark.parametrize(("concurrency", "batch"), [(1, 5), (4, 5), (3, 100), (8, 1)])
def test_killed_anywhere_each_recipient_gets_its_message_and_at_most_the_bound_twice(
    killed_after: int, concurrency: int, batch: int
) -> None:
    world = World(notification(attendee(ALEX), *MANY))
    policy = replace(POLICY, concurrency=concurrency, batch=batch)
    world.transport.kill_after = killed_after
    with pytest.raises(WorkerKilled):
        world.deliver(policy=policy)

    world.transport.kill_after = None
    world.clock.advance(LEASE.total_seconds())
    assert world.deliver(2, policy=policy) is Outcome.DELIVERED

    counts = [world.transport.count(a.email_address.address) for a in (attendee(ALEX), *MANY)]
    assert min(counts) == 1
    assert sum(counts) - len(counts) <= in_doubt(policy)
    assert world.copies.cancelled == [ALEX]


def in_doubt(policy: DeliveryPolicy) -> int:
    """The README's bound: one slice sending alone, two when sending side by side (the slice
    being sent and the one being ended)."""
    return policy.batch * (1 if policy.concurrency == 1 else 2)


def test_recipients_are_sent_to_side_by_side_each_thread_with_its_own_session() -> None:
    world = World(notification(*MANY))
    policy = replace(POLICY, concurrency=4, batch=10)

    assert world.deliver(policy=policy) is Outcome.DELIVERED

    assert sorted(e.recipient for e, _ in world.transport.sent) == sorted(
        a.email_address.address for a in MANY
    )
    assert 1 <= world.transport.sessions <= 4
    assert world.transport.closed == world.transport.sessions
    assert world.transport.sessions == len(world.transport.threads)
    assert sorted(world.outbox.writes) == [("claim", 10)] * 3 + [("mark", 10)] * 3
    assert world.copies.lookups == [10, 10, 10]  # the directory asked once per slice
    # The last slice is ended with the row, on the version this worker wrote: one write.
    assert world.outbox.finishes == [("delivered", True)]
    assert world.outbox.writes[-1] == ("mark", 10)


def test_a_slice_left_undone_is_ended_before_the_row_is_looked_at_again() -> None:
    world = World(notification(*MANY[:4]))
    world.transport.refuse = {MANY[3].email_address.address.casefold(): "451 busy"}
    with pytest.raises(DeliveryFailed):
        world.deliver(policy=replace(POLICY, batch=2))

    slices = world.outbox.slices(world.pointer)
    assert [slices[i].claimed for i in (0, 1)] == [False, False]
    assert slices[1].statuses == ("sent", "failed")
    assert world.outbox.finishes == []  # an attempt that failed does not end the row


def test_an_unusable_organizer_fails_the_attempt_and_leaves_no_slice_claimed() -> None:
    item = notification().model_copy(
        update={"organizer": Recipient(email_address=EmailAddress(address="not an address"))}
    )
    world = World(item)

    with pytest.raises(ValueError, match="organizer"):
        world.deliver()

    assert world.transport.sent == []
    assert [state.claimed for state in world.outbox.slices(world.pointer).values()] == [False]
    assert world.outbox.rows[world.pointer].last_error is not None


def test_the_first_slices_row_fixes_the_slice_size_for_every_later_attempt() -> None:
    world = World(notification(*MANY))
    world.transport.kill_after = 7
    with pytest.raises(WorkerKilled):
        world.deliver(policy=replace(POLICY, batch=5))
    world.transport.kill_after = None
    world.clock.advance(LEASE.total_seconds())

    # MAIL_BATCH changed meanwhile (a new setting, another worker): the rows stay as they were.
    assert world.deliver(2, policy=replace(POLICY, batch=100)) is Outcome.DELIVERED

    slices = world.outbox.slices(world.pointer)
    assert sorted(slices) == list(range(6))
    assert all(len(state.addresses) == 5 and state.complete for state in slices.values())
    counts = [world.transport.count(a.email_address.address) for a in MANY]
    assert min(counts) == 1
    assert sum(counts) - len(counts) <= 5  # the one slice in flight when the worker died


def test_a_worker_with_smaller_slices_keeps_the_one_slice_the_first_attempt_made() -> None:
    world = World(notification(*MANY))
    world.transport.kill_after = 7
    with pytest.raises(WorkerKilled):
        world.deliver(policy=replace(POLICY, batch=100))  # one slice of all 30
    world.transport.kill_after = None
    world.clock.advance(LEASE.total_seconds())

    assert world.deliver(2, policy=replace(POLICY, batch=4)) is Outcome.DELIVERED

    slices = world.outbox.slices(world.pointer)
    assert list(slices) == [0]
    assert len(slices[0].addresses) == 30
    assert slices[0].complete
    # The first attempt's claim; the second's create of slice 0, refused (the row is there),
    # then its takeover of the slice as it found it; its end.
    assert world.outbox.writes == [("claim", 30), ("claim", 4), ("claim", 30), ("mark", 30)]


def test_a_first_attempt_claims_its_first_slice_without_reading_any() -> None:
    world = World(notification(*MANY))

    assert world.deliver(policy=replace(POLICY, batch=10)) is Outcome.DELIVERED

    assert world.outbox.slice_reads == 0
    assert world.outbox.rows[world.pointer].attempts == 1  # recorded beside the sends


def test_a_recipient_rejected_by_an_earlier_attempt_is_still_named_when_the_row_ends() -> None:
    world = World(notification(attendee("not an address"), attendee(PAT), attendee(ALEX)))
    world.transport.refuse = {PAT.casefold(): "451 busy"}
    with pytest.raises(DeliveryFailed):
        world.deliver()
    world.transport.refuse = {}

    assert world.deliver(2) is Outcome.DELIVERED

    assert [world.transport.count(a) for a in (PAT, ALEX)] == [1, 1]
    reason = world.outbox.rows[world.pointer].reason
    assert reason is not None
    assert reason.startswith("not an address: ")


def test_the_directory_is_asked_once_for_the_recipients_not_yet_done() -> None:
    world = World()
    world.transport.refuse = {PAT.casefold(): "451 busy"}
    with pytest.raises(DeliveryFailed):
        world.deliver()
    world.transport.refuse = {}
    world.deliver(2)
    assert world.copies.lookups == [3, 1]


def test_a_claim_that_lapsed_before_its_turn_is_given_back_unsent() -> None:
    world = World(notification(*MANY[:4]))
    ticks = iter(range(1000))
    slow = Clock()
    world.clock = slow

    def late() -> datetime:  # every look at the clock is 20 s on: the third is past half the lease
        return START + timedelta(seconds=20 * next(ticks))

    outcome = deliver(
        world.pointer,
        1,
        outbox=world.outbox,
        transport=world.transport,
        copies=world.copies,
        redelivery=world.redelivery,
        policy=POLICY,
        now=late,
    )
    assert outcome is Outcome.DEFERRED
    assert len(world.transport.sent) < 4
    unsent = [a for a in MANY[:4] if world.transport.count(a.email_address.address) == 0]
    assert unsent
    for guest in unsent:
        assert world.outbox.status_of(guest.email_address.address, world.notification) == "failed"


def test_a_recipient_claimed_by_another_worker_is_left_to_it() -> None:
    world = World()
    world.outbox.steal_claims = True

    assert world.deliver() is Outcome.DEFERRED

    assert world.transport.sent == []
    assert world.redelivery.put == [(world.pointer, LEASE)]
    assert world.row_status == "pending"


def test_the_worker_that_finishes_last_ends_the_row_others_finished_for_it() -> None:
    world = World()
    world.outbox.steal_claims = world.outbox.others_finish = True

    assert world.deliver() is Outcome.DELIVERED

    assert world.transport.sent == []
    assert world.redelivery.put == []
    assert world.row_status == "delivered"


def test_one_refused_recipient_is_retried_alone_then_the_row_ends_failed() -> None:
    world = World()
    world.transport.refuse = {PAT.casefold(): "smtp: 451 4.3.0 mailbox busy"}

    for attempt in (1, 2):
        with pytest.raises(DeliveryFailed, match="451"):
            world.deliver(attempt)
        assert world.row_status == "pending"
        assert world.outbox.rows[world.pointer].last_error == (
            f"{PAT}: smtp: 451 4.3.0 mailbox busy"
        )
    with pytest.raises(DeliveryFailed):
        world.deliver(3)

    row = world.outbox.rows[world.pointer]
    assert row.status == "failed"
    assert row.reason == f"{PAT}: smtp: 451 4.3.0 mailbox busy"
    assert [world.transport.count(a) for a in (ALEX, MEGAN, PAT)] == [1, 1, 0]
    assert world.outbox.status_of(PAT, world.notification) == "failed"


def test_a_transport_that_is_down_stops_the_attempt_and_frees_the_claim() -> None:
    world = World()
    world.transport.down = True

    with pytest.raises(DeliveryFailed, match="connection refused"):
        world.deliver()

    assert world.outbox.status_of(ALEX, world.notification) == "failed"
    # Claimed with Alex, not tried once the transport failed: given back at once too.
    assert world.outbox.status_of(MEGAN, world.notification) == "failed"
    world.transport.down = False
    assert world.deliver(2) is Outcome.DELIVERED  # no lease to wait for
    assert len(world.transport.sent) == 3


def test_an_unexpected_error_frees_the_claim_records_why_and_propagates() -> None:
    world = World()
    world.copies.failing = True

    with pytest.raises(ConnectionError):
        world.deliver(1)

    assert world.outbox.status_of(ALEX, world.notification) == "failed"
    assert world.outbox.rows[world.pointer].last_error == (
        "ConnectionError: table storage is unreachable"
    )
    with pytest.raises(ConnectionError):
        world.deliver(3)
    assert world.row_status == "failed"


def test_a_message_pointing_at_no_outbox_row_is_dropped() -> None:
    world = World()

    missing = NotificationPointer(world.pointer.mailbox, "AAMkNoSuchNotification")
    assert world.deliver(pointer=missing) is Outcome.DROPPED
    assert world.transport.sent == []


def test_an_address_no_message_can_go_to_is_rejected_and_the_rest_delivered() -> None:
    world = World(notification(attendee("not an address"), attendee(PAT)))

    assert world.deliver() is Outcome.DELIVERED

    assert [envelope.recipient for envelope, _ in world.transport.sent] == [PAT]
    row = world.outbox.rows[world.pointer]
    assert row.status == "delivered"
    assert row.reason is not None
    assert row.reason.startswith("not an address: ")
    assert world.outbox.status_of("not an address", world.notification) == "rejected"


def test_a_failed_row_is_delivered_when_its_message_is_replayed() -> None:
    world = World()
    world.transport.refuse = {PAT.casefold(): "550 no such user"}
    with pytest.raises(DeliveryFailed):
        world.deliver(3)
    assert world.row_status == "failed"

    world.transport.refuse = {}
    assert world.deliver(1) is Outcome.DELIVERED
    assert [world.transport.count(a) for a in (ALEX, MEGAN, PAT)] == [1, 1, 1]


def test_a_whole_meeting_copy_is_cancelled_once_and_its_subject_prefixed_once() -> None:
    copy = event("AAMkCopy", is_organizer=False, subject="Quarterly review")
    stamp = "2026-11-24T09:00:00Z"

    changed = cancelled_copy(copy, notification(), stamp)
    assert changed is not None
    assert changed.is_cancelled
    assert changed.subject == "Canceled: Quarterly review"
    assert changed.last_modified_date_time == stamp
    assert changed.change_key != copy.change_key
    assert cancelled_copy(changed, notification(), stamp) is None

    already = event("AAMkCopy", is_organizer=False, subject="Canceled: Quarterly review")
    again = cancelled_copy(already, notification(), stamp)
    assert again is not None
    assert again.subject == "Canceled: Quarterly review"


def test_an_occurrence_cancel_marks_the_copys_own_occurrence_once() -> None:
    copy = event("AAMkCopySeries", is_organizer=False)
    item = notification(
        occurrence_id="OID.AAMkOrganizerSeries.2027-01-11",
        original_start="2027-01-11T17:00:00Z",
        notification_id="OID.AAMkOrganizerSeries.2027-01-11",
    )

    changed = cancelled_copy(copy, item, "2026-11-24T09:00:00Z")
    assert changed is not None
    assert changed.cancelled_occurrences == ("OID.AAMkCopySeries.2027-01-11",)
    assert not changed.is_cancelled
    assert changed.subject == copy.subject
    assert cancelled_copy(changed, item, "2026-11-24T09:00:00Z") is None


# Invitations: the same pipeline, another method --------------------------------------------


WEEKLY = PatternedRecurrence.model_validate(
    {
        "pattern": {"type": "weekly", "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
        "range": {
            "type": "endDate",
            "startDate": "2026-12-07",
            "endDate": "2027-03-29",
            "recurrenceTimeZone": "Pacific Standard Time",
        },
    }
)


def test_an_invitation_goes_to_every_attendee_once_and_creates_each_internal_copy_once() -> None:
    world = World(invitation())

    assert world.deliver() is Outcome.DELIVERED

    assert [envelope.recipient for envelope, _ in world.transport.sent] == [ALEX, MEGAN, PAT]
    assert {envelope.sender for envelope, _ in world.transport.sent} == {ORGANIZER}
    assert world.copies.created == [ALEX, MEGAN]
    assert world.copies.cancelled == []
    assert world.row_status == "delivered"
    assert world.transport.sessions == 1


def test_a_redelivered_invitation_sends_nothing_twice_and_creates_no_copy_twice() -> None:
    world = World(invitation())
    world.deliver()

    assert world.deliver() is Outcome.ALREADY_DELIVERED
    world.outbox.rows[world.pointer].status = "pending"  # as if the end was never written
    assert world.deliver() is Outcome.DELIVERED

    assert [world.transport.count(a) for a in (ALEX, MEGAN, PAT)] == [1, 1, 1]
    assert world.copies.created == [ALEX, MEGAN]


def test_an_invitation_interrupted_by_a_dead_worker_reaches_each_attendee_once() -> None:
    world = World(invitation())
    world.transport.kill_after = 1
    with pytest.raises(WorkerKilled):
        world.deliver()
    assert world.outbox.status_of(MEGAN, world.notification) == "sending"

    world.transport.kill_after = None
    world.clock.advance(LEASE.total_seconds())
    assert world.deliver(2) is Outcome.DELIVERED

    # Alex's invitation went out before the worker died and again after: the slice in doubt.
    assert [world.transport.count(a) for a in (ALEX, MEGAN, PAT)] == [2, 1, 1]
    # Megan's copy was made before the worker died; the one who took over found it made.
    assert world.copies.created == [ALEX, MEGAN]


def test_an_invitation_and_a_later_cancellation_of_it_are_two_rows_each_delivered_once() -> None:
    world = World(invitation())
    cancelled = world.outbox.add(notification())

    assert world.deliver() is Outcome.DELIVERED
    assert world.deliver(pointer=cancelled) is Outcome.DELIVERED
    assert world.deliver(pointer=cancelled) is Outcome.ALREADY_DELIVERED

    assert [world.transport.count(a) for a in (ALEX, MEGAN, PAT)] == [2, 2, 2]
    assert world.copies.created == world.copies.cancelled == [ALEX, MEGAN]


def test_the_copy_id_is_the_same_for_the_same_mailbox_and_meeting_and_only_then() -> None:
    uid = invitation().i_cal_u_id
    mailbox = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"

    assert copy_id(mailbox, uid) == copy_id(mailbox, uid)
    assert copy_id(mailbox, uid) != copy_id("5fb2a7a6-5f4c-4e2e-a1c4-2b8f3c1de2a1", uid)
    assert copy_id(mailbox, uid) != copy_id(mailbox, uid + "0")
    assert copy_id(mailbox, uid).startswith("AAMk")
    assert "=" not in copy_id(mailbox, uid)


def test_an_invited_copy_is_the_organizers_meeting_as_the_attendee_holds_it() -> None:
    item = invitation(attendee(ALEX, "Alex Wilber"), attendee(PAT, "Pat Jones", "optional"))

    copy = invited_copy(item, "AAMkAlexCopy")

    assert (copy.id, copy.i_cal_u_id) == ("AAMkAlexCopy", item.i_cal_u_id)
    assert not copy.is_organizer
    assert not copy.is_cancelled
    assert copy.type == "singleInstance"
    assert copy.recurrence is None
    assert (copy.subject, copy.start, copy.end) == (item.subject, item.start, item.end)
    assert copy.organizer == item.organizer
    assert copy.attendees == item.attendees
    assert copy.body.content == "<p>Agenda to follow</p>"
    assert copy.location.display_name == "Conf Room Rainier"
    assert copy.sequence == 0
    assert copy.created_date_time == copy.last_modified_date_time == item.cancelled_at
    assert copy == invited_copy(item, "AAMkAlexCopy")  # every retry writes the same copy
    assert copy.change_key != invited_copy(item, "AAMkMeganCopy").change_key


def test_an_invited_copy_of_a_series_is_a_series_with_its_own_cancelled_occurrences() -> None:
    item = invitation(
        recurrence=WEEKLY,
        cancelled_occurrences=("OID.AAMkEvent1.2026-12-14", "OID.AAMkEvent1.2027-01-04"),
    )

    copy = invited_copy(item, "AAMkAlexCopy")

    assert copy.type == "seriesMaster"
    assert copy.recurrence == WEEKLY
    assert copy.cancelled_occurrences == (
        "OID.AAMkAlexCopy.2026-12-14",
        "OID.AAMkAlexCopy.2027-01-04",
    )
    # A later cancel of another occurrence names the copy's own occurrence, beside them.
    later = notification(
        occurrence_id="OID.AAMkEvent1.2027-01-11",
        original_start="2027-01-11T17:00:00Z",
        notification_id="OID.AAMkEvent1.2027-01-11",
    )
    cancelled = cancelled_copy(copy, later, "2026-12-01T00:00:00Z")
    assert cancelled is not None
    assert cancelled.cancelled_occurrences[-1] == "OID.AAMkAlexCopy.2027-01-11"


def test_an_all_day_invitation_makes_an_all_day_copy() -> None:
    item = invitation().model_copy(update={"is_all_day": True})

    assert invited_copy(item, "AAMkAlexCopy").is_all_day


def test_only_an_invitation_makes_a_copy() -> None:
    with pytest.raises(ValueError, match="CANCEL"):
        invited_copy(notification(), "AAMkAlexCopy")


def test_a_copy_made_after_the_meeting_was_cancelled_is_brought_up_to_it_once() -> None:
    copy = invited_copy(invitation(), "AAMkAlexCopy")
    stamp = "2026-11-24T09:00:00Z"

    assert reconciled_copy(copy, invited_copy(invitation(), "AAMkEvent1"), stamp) is None
    gone = reconciled_copy(copy, None, stamp)  # left the organizer's calendar
    assert gone is not None
    assert (gone.is_cancelled, gone.subject) == (True, "Canceled: Quarterly planning")
    assert (gone.last_modified_date_time, gone.created_date_time) == (stamp, copy.created_date_time)
    assert gone.change_key != copy.change_key
    assert reconciled_copy(gone, None, stamp) is None


def test_occurrences_the_organizer_cancelled_before_the_copy_existed_are_cancelled_in_it() -> None:
    item = invitation(recurrence=WEEKLY, cancelled_occurrences=("OID.AAMkEvent1.2026-12-14",))
    copy = invited_copy(item, "AAMkAlexCopy")
    organizers = invited_copy(item, "AAMkEvent1").model_copy(
        update={
            "is_organizer": True,
            "cancelled_occurrences": ("OID.AAMkEvent1.2026-12-14", "OID.AAMkEvent1.2027-01-11"),
        }
    )

    changed = reconciled_copy(copy, organizers, "2026-11-24T09:00:00Z")

    assert changed is not None
    assert changed.cancelled_occurrences == (
        "OID.AAMkAlexCopy.2026-12-14",
        "OID.AAMkAlexCopy.2027-01-11",
    )
    assert not changed.is_cancelled
    assert reconciled_copy(changed, organizers, "2026-11-24T09:00:00Z") is None
