"""Creating an event against hand-written fakes: what is stored, what is queued, who may
create where, and `transactionId`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.calendar.errors import (
    AccessDenied,
    GraphError,
    IdMalformed,
    InvalidUser,
    ItemNotFound,
    MeRequiresDelegated,
    PayloadTooLarge,
)
from shared.calendar.model import (
    AnyCalendar,
    CalendarInDefaultGroup,
    CalendarInGroup,
    Caller,
    Container,
    DefaultCalendar,
    GroupMailbox,
    MailboxRef,
    Me,
    NamedCalendar,
    NotificationPointer,
    StoredEvent,
    UserMailbox,
)
from shared.calendar.recurrence import Series
from shared.graph.new_event import NewEvent, parse_new_event
from shared.use_cases.creation import (
    EXCHANGE_UID_CLASS,
    CreateEvent,
    MailboxNotEnabled,
    create_event,
    exchange_ical_uid,
)
from shared.use_cases.ports import EventCreated
from shared.use_cases.reading import read_event
from tests.unit.use_cases import fakes
from tests.unit.use_cases.fakes import (
    DEFAULT_CALENDAR_ID,
    DEFAULT_GROUP_ID,
    GROUP_ID,
    HOLIDAY_CALENDAR_ID,
    NOW_STAMP,
    ORGANIZER_ID,
    ORGANIZER_UPN,
    OTHER_GROUP_ID,
    OTHER_USER_ID,
    OTHER_USER_UPN,
    WORK_CALENDAR_ID,
    FakeCalendars,
    FakeDirectory,
    FakeQueue,
)

PACIFIC = "Pacific Standard Time"


def meeting(**changes: Any) -> NewEvent:
    return parse_new_event(
        {
            "subject": "Plan the offsite",
            "body": {"contentType": "html", "content": "<p>Agenda</p>"},
            "start": {"dateTime": "2026-03-10T09:00:00", "timeZone": PACIFIC},
            "end": {"dateTime": "2026-03-10T10:00:00", "timeZone": PACIFIC},
            "location": {"displayName": "Room 1"},
            "attendees": [
                {"emailAddress": {"address": OTHER_USER_UPN, "name": "Megan Bowen"}},
                {"type": "optional", "emailAddress": {"address": "pat@fabrikam.example"}},
            ],
            **changes,
        }
    )


class Counter:
    """Random bytes that differ on every call and are the same in every run."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, size: int) -> bytes:
        self.calls += 1
        return self.calls.to_bytes(size, "big")


@dataclass
class World:
    """The organizer with a default calendar, Work (default group) and Holiday (other group);
    another user with a default calendar; a group of which the organizer is a member."""

    directory: FakeDirectory = field(
        default_factory=lambda: FakeDirectory(
            users=[fakes.user(), fakes.user(OTHER_USER_ID, OTHER_USER_UPN, "Megan Bowen")],
            groups=[fakes.group(members=[ORGANIZER_ID])],
        )
    )
    calendars: FakeCalendars = field(default_factory=FakeCalendars)
    queue: FakeQueue = field(default_factory=FakeQueue)
    random: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.calendars.add_mailbox(ORGANIZER_ID, fakes.in_named_calendar(), fakes.in_other_group())
        self.calendars.add_mailbox(OTHER_USER_ID)
        self.calendars.add_mailbox(GROUP_ID)

    def create(
        self,
        new: NewEvent | None = None,
        mailbox: MailboxRef = Me(),  # noqa: B008 - frozen dataclass, immutable default
        *,
        caller: Caller | None = None,
        container: Container = AnyCalendar(),  # noqa: B008
    ) -> StoredEvent:
        return create_event(
            CreateEvent(mailbox, container, new if new is not None else meeting()),
            caller if caller is not None else fakes.delegated(),
            directory=self.directory,
            calendars=self.calendars,
            queue=self.queue,
            now=fakes.fixed_clock(),
            random_bytes=self.random,
        )

    def refuse(self, error: type[GraphError], *args: Any, **kwargs: Any) -> GraphError:
        with pytest.raises(error) as raised:
            self.create(*args, **kwargs)
        assert self.calendars.created == []
        assert self.calendars.events == {}
        assert self.calendars.outbox == {}
        assert self.calendars.transactions == {}
        assert self.queue.attempts == 0
        return raised.value


@pytest.fixture
def world() -> World:
    return World()


# What is stored ------------------------------------------------------------------------------


def test_a_meeting_is_stored_as_the_organizers_with_what_the_product_makes(world: World) -> None:
    stored = world.create()
    event = stored.event
    assert stored.mailbox == ORGANIZER_ID
    assert stored.placement == fakes.in_default_calendar()
    assert world.calendars.events[(ORGANIZER_ID, event.id)] == stored
    assert event.id.startswith("AAMk")
    assert event.i_cal_u_id.startswith(EXCHANGE_UID_CLASS)
    assert len(event.i_cal_u_id) == 112  # Exchange's length for a 16-byte data part
    assert (event.is_organizer, event.type, event.sequence, event.is_cancelled) == (
        True,
        "singleInstance",
        0,
        False,
    )
    assert event.organizer.email_address.model_dump() == {
        "name": "Adele Vance",
        "address": ORGANIZER_UPN,
    }
    assert event.created_date_time == event.last_modified_date_time == NOW_STAMP
    assert event.change_key
    assert [a.status.response for a in event.attendees] == ["none", "none"]
    assert [a.type for a in event.attendees] == ["required", "optional"]
    assert (event.subject, event.body.content, event.location.display_name) == (
        "Plan the offsite",
        "<p>Agenda</p>",
        "Room 1",
    )
    assert event.start.model_dump() == {
        "date_time": "2026-03-10T09:00:00.0000000",
        "time_zone": PACIFIC,
    }
    assert world.calendars.ical_index == {(ORGANIZER_ID, event.i_cal_u_id): event.id}


def test_what_get_then_reads_is_what_create_answered(world: World) -> None:
    stored = world.create()
    read = read_event(
        Me(),
        AnyCalendar(),
        stored.event.id,
        fakes.delegated(),
        directory=world.directory,
        calendars=world.calendars,
    )
    assert read == stored.event


def test_every_create_makes_new_ids(world: World) -> None:
    first, second = world.create(), world.create()
    assert first.event.id != second.event.id
    assert first.event.i_cal_u_id != second.event.i_cal_u_id


def test_the_invitation_is_in_the_outbox_and_queued(world: World) -> None:
    stored = world.create()
    event = stored.event
    (created,) = world.calendars.created
    notification = created.notification
    assert notification is not None
    assert notification.id == f"{event.id}.invitation"
    assert notification.id != event.id  # a later cancellation's outbox row is the event id
    assert world.calendars.outbox == {(ORGANIZER_ID, notification.id): notification}
    assert world.queue.pointers == [NotificationPointer(ORGANIZER_ID, notification.id)]
    assert (notification.method, notification.sequence, notification.comment) == (
        "REQUEST",
        0,
        None,
    )
    assert (notification.event_id, notification.i_cal_u_id, notification.mailbox) == (
        event.id,
        event.i_cal_u_id,
        ORGANIZER_ID,
    )
    assert notification.cancelled_at == NOW_STAMP
    assert notification.attendees == event.attendees
    assert notification.organizer == event.organizer
    assert (notification.start, notification.end) == (event.start, event.end)
    assert (notification.body, notification.location) == (event.body, event.location)
    assert (notification.is_all_day, notification.recurrence) == (False, None)
    assert notification.status == "pending"


def test_an_event_without_attendees_invites_nobody(world: World) -> None:
    stored = world.create(meeting(attendees=[]))
    assert world.calendars.created[0].notification is None
    assert world.calendars.outbox == {}
    assert world.queue.attempts == 0
    assert stored.event.attendees == ()


def test_a_series_is_a_master_and_its_invitation_carries_the_pattern(world: World) -> None:
    recurrence = {
        "pattern": {"type": "weekly", "daysOfWeek": ["tuesday"]},
        "range": {"type": "numbered", "startDate": "2026-03-10", "numberOfOccurrences": 5},
    }
    stored = world.create(meeting(recurrence=recurrence))
    assert stored.event.type == "seriesMaster"
    assert stored.event.recurrence is not None
    assert Series(stored.event).occurs_on(datetime(2026, 3, 17).date())
    notification = world.calendars.created[0].notification
    assert notification is not None
    assert notification.recurrence == stored.event.recurrence


def test_a_series_invitation_gives_its_times_in_the_series_zone(world: World) -> None:
    recurrence = {
        "pattern": {"type": "daily"},
        "range": {"type": "noEnd", "startDate": "2026-03-10", "recurrenceTimeZone": "UTC"},
    }
    new = meeting(
        recurrence=recurrence,
        start={"dateTime": "2026-03-10T09:00:00", "timeZone": "Europe/Paris"},
        end={"dateTime": "2026-03-10T09:30:00", "timeZone": "Europe/Paris"},
    )
    world.create(new)
    notification = world.calendars.created[0].notification
    assert notification is not None
    assert (notification.start.date_time, notification.start.time_zone) == (
        "2026-03-10T08:00:00.0000000",
        "UTC",
    )
    assert notification.end.date_time == "2026-03-10T08:30:00.0000000"


def test_an_all_day_invitation_is_marked_so(world: World) -> None:
    new = meeting(
        isAllDay=True,
        start={"dateTime": "2026-03-10", "timeZone": PACIFIC},
        end={"dateTime": "2026-03-11", "timeZone": PACIFIC},
    )
    assert world.create(new).event.is_all_day
    notification = world.calendars.created[0].notification
    assert notification is not None
    assert notification.is_all_day


def test_a_queue_that_refuses_still_creates(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.queue.failing = True
    with caplog.at_level(logging.WARNING):
        stored = world.create()
    assert (ORGANIZER_ID, stored.event.id) in world.calendars.events
    assert len(world.calendars.outbox) == 1
    assert world.queue.attempts == 1
    assert "the sweeper will re-send" in caplog.text


def test_exchanges_ical_uid_holds_the_creation_time() -> None:
    uid = exchange_ical_uid(datetime(2019, 3, 7, 10, 25, 29, tzinfo=UTC), bytes(range(16)))
    assert uid.startswith(EXCHANGE_UID_CLASS + "00000000")
    assert uid[56:72] == "0000000000000000"
    assert uid[72:80] == "10000000"
    assert uid.endswith("000102030405060708090A0B0C0D0E0F")
    filetime = int.from_bytes(bytes.fromhex(uid[40:56]), "little")
    assert filetime == 131964279290000000


def test_an_event_too_large_to_store_is_413(world: World) -> None:
    huge = meeting(body={"content": "x" * 460_000})
    error = world.refuse(PayloadTooLarge, huge)
    assert error.status == 413


# Where it goes, and who may put it there -----------------------------------------------------


@pytest.mark.parametrize(
    ("container", "placement"),
    [
        (AnyCalendar(), fakes.in_default_calendar()),
        (DefaultCalendar(), fakes.in_default_calendar()),
        (NamedCalendar(DEFAULT_CALENDAR_ID), fakes.in_default_calendar()),
        (NamedCalendar(WORK_CALENDAR_ID), fakes.in_named_calendar()),
        (CalendarInDefaultGroup(WORK_CALENDAR_ID), fakes.in_named_calendar()),
        (CalendarInGroup(DEFAULT_GROUP_ID, WORK_CALENDAR_ID), fakes.in_named_calendar()),
        (CalendarInGroup(OTHER_GROUP_ID, HOLIDAY_CALENDAR_ID), fakes.in_other_group()),
        (NamedCalendar(HOLIDAY_CALENDAR_ID), fakes.in_other_group()),
    ],
)
def test_the_event_goes_to_the_routes_calendar(
    world: World, container: Container, placement: Any
) -> None:
    assert world.create(container=container).placement == placement


@pytest.mark.parametrize(
    "container",
    [
        NamedCalendar("AAMkNoSuchCalendar"),
        CalendarInDefaultGroup(HOLIDAY_CALENDAR_ID),  # it is in another group
        CalendarInGroup(OTHER_GROUP_ID, WORK_CALENDAR_ID),
        CalendarInGroup(DEFAULT_GROUP_ID, HOLIDAY_CALENDAR_ID),
    ],
)
def test_a_calendar_that_is_not_there_is_404(world: World, container: Container) -> None:
    world.refuse(ItemNotFound, container=container)


def test_a_malformed_calendar_id_is_400(world: World) -> None:
    world.refuse(IdMalformed, container=NamedCalendar("not/an/id"))


def test_a_user_mailbox_by_upn_or_id(world: World) -> None:
    by_upn = world.create(mailbox=UserMailbox(ORGANIZER_UPN.upper()))
    by_id = world.create(mailbox=UserMailbox(ORGANIZER_ID))
    assert by_upn.mailbox == by_id.mailbox == ORGANIZER_ID


def test_an_application_creates_in_any_users_mailbox(world: World) -> None:
    stored = world.create(mailbox=UserMailbox(OTHER_USER_UPN), caller=fakes.application())
    assert stored.mailbox == OTHER_USER_ID
    assert stored.event.organizer.email_address.address == OTHER_USER_UPN
    assert stored.event.organizer.email_address.name == "Megan Bowen"


def test_a_group_calendar_is_organized_by_the_group(world: World) -> None:
    stored = world.create(mailbox=GroupMailbox(GROUP_ID), container=DefaultCalendar())
    assert stored.mailbox == GROUP_ID
    assert stored.event.organizer.email_address.model_dump() == {
        "name": "Project Falcon",
        "address": "falcon@contoso.com",
    }


def test_without_calendars_read_write_is_403(world: World) -> None:
    world.refuse(AccessDenied, caller=fakes.delegated(ORGANIZER_ID, "Calendars.Read"))
    world.refuse(AccessDenied, caller=fakes.application("Calendars.Read"))


def test_another_users_mailbox_is_403_for_a_delegated_caller(world: World) -> None:
    world.refuse(AccessDenied, mailbox=UserMailbox(OTHER_USER_UPN))


def test_a_group_the_caller_is_not_a_member_of_is_403(world: World) -> None:
    world.refuse(
        AccessDenied, mailbox=GroupMailbox(GROUP_ID), caller=fakes.delegated(OTHER_USER_ID)
    )


def test_an_unknown_user_is_404_and_me_needs_a_user(world: World) -> None:
    world.refuse(InvalidUser, mailbox=UserMailbox("nobody@contoso.com"))
    world.refuse(MeRequiresDelegated, caller=fakes.application())


def test_a_user_without_a_mailbox_is_404(world: World) -> None:
    stranger = "9d9d9d9d-aaaa-4bbb-8ccc-dddddddddddd"
    error = world.refuse(MailboxNotEnabled, caller=fakes.delegated(stranger))
    assert (error.status, error.code) == (404, "MailboxNotEnabledForRESTAPI")
    world.calendars.add_mailbox(stranger)  # rows, but no directory entry: no organizer
    world.refuse(MailboxNotEnabled, caller=fakes.delegated(stranger))


# transactionId -------------------------------------------------------------------------------


def test_a_retried_create_answers_the_first_event(world: World) -> None:
    first = world.create(meeting(transactionId="7E163156-7762-4BEB-A1C6-729EA81755A7"))
    again = world.create(meeting(transactionId="7E163156-7762-4BEB-A1C6-729EA81755A7"))
    assert again == first
    assert len(world.calendars.created) == 1
    assert len(world.calendars.outbox) == 1
    assert world.queue.attempts == 1  # the retry queues nothing


def test_the_same_transaction_id_with_another_body_answers_the_first_event(
    world: World,
) -> None:
    first = world.create(meeting(transactionId="t-1"))
    other = world.create(meeting(transactionId="t-1", subject="Something else"))
    assert other.event == first.event
    assert other.event.subject == "Plan the offsite"


def test_transaction_ids_are_per_mailbox_and_distinct_ones_are_distinct_events(
    world: World,
) -> None:
    mine = world.create(meeting(transactionId="t-1"))
    theirs = world.create(
        meeting(transactionId="t-1"), UserMailbox(OTHER_USER_ID), caller=fakes.application()
    )
    another = world.create(meeting(transactionId="t-2"))
    assert len({mine.event.id, theirs.event.id, another.event.id}) == 3


def test_the_loser_of_a_race_answers_the_winners_event(world: World) -> None:
    """The other create commits first; ours fails as a whole and answers the first event."""
    winner: list[StoredEvent] = []

    def race(created: EventCreated) -> None:
        world.calendars.before_create = None
        winner.append(world.create(meeting(transactionId="t-1", subject="Winner")))

    world.calendars.before_create = race
    loser = world.create(meeting(transactionId="t-1"))
    assert loser == winner[0]
    assert loser.event.subject == "Winner"
    assert len(world.calendars.created) == 1
    assert len(world.calendars.outbox) == 1
    assert world.queue.attempts == 1


def test_a_retry_after_the_event_is_gone_is_404(world: World) -> None:
    first = world.create(meeting(transactionId="t-1"))
    del world.calendars.events[(ORGANIZER_ID, first.event.id)]
    with pytest.raises(ItemNotFound):
        world.create(meeting(transactionId="t-1"))
    assert len(world.calendars.created) == 1
