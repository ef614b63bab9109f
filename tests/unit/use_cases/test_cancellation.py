"""The `event: cancel` use case against hand-written fakes: outcomes and what was recorded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from shared.calendar.errors import (
    AccessDenied,
    GraphError,
    IdMalformed,
    InvalidUser,
    ItemBusy,
    ItemNotFound,
    MeRequiresDelegated,
    NotOrganizer,
)
from shared.calendar.model import (
    AnyCalendar,
    CalendarInDefaultGroup,
    CalendarInGroup,
    Caller,
    Container,
    DefaultCalendar,
    EventCancelled,
    GroupMailbox,
    MailboxRef,
    Me,
    NamedCalendar,
    NotificationPointer,
    Placement,
    StoredEvent,
    UserMailbox,
)
from shared.use_cases.cancellation import MAX_CONFLICTS, CancelEvent, cancel_event
from shared.use_cases.reading import read_event
from tests.unit.use_cases import fakes
from tests.unit.use_cases.fakes import (
    DEFAULT_CALENDAR_ID,
    DEFAULT_GROUP_ID,
    EVENT_ID,
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


@dataclass
class World:
    """One organizer, one other user, one group; the organizer's event in the default calendar."""

    directory: FakeDirectory = field(
        default_factory=lambda: FakeDirectory(
            users=[fakes.user(), fakes.user(OTHER_USER_ID, OTHER_USER_UPN, "Megan Bowen")],
            groups=[fakes.group(members=[ORGANIZER_ID])],
        )
    )
    calendars: FakeCalendars = field(default_factory=FakeCalendars)
    queue: FakeQueue = field(default_factory=FakeQueue)

    def put(self, item: StoredEvent | None = None) -> StoredEvent:
        return self.calendars.put(item if item is not None else fakes.stored())

    def cancel(
        self,
        mailbox: MailboxRef = Me(),  # noqa: B008 - frozen dataclass, immutable default
        *,
        caller: Caller | None = None,
        container: Container = AnyCalendar(),  # noqa: B008
        event_id: str = EVENT_ID,
        comment: str | None = "Sorry, the room is gone.",
    ) -> EventCancelled:
        return cancel_event(
            CancelEvent(mailbox, container, event_id, comment),
            caller if caller is not None else fakes.delegated(),
            directory=self.directory,
            calendars=self.calendars,
            queue=self.queue,
            now=fakes.fixed_clock(),
        )

    def assert_untouched(self, *before: StoredEvent) -> None:
        assert self.calendars.committed == []
        assert self.calendars.outbox == {}
        assert self.calendars.deleted_items == {}
        assert self.queue.pointers == []
        assert self.queue.attempts == 0
        for item in before:
            assert self.calendars.events[(item.mailbox, item.event.id)] == item


@pytest.fixture
def world() -> World:
    return World()


def refuse(
    world: World,
    error: type[GraphError],
    mailbox: MailboxRef = Me(),  # noqa: B008
    *,
    caller: Caller | None = None,
    container: Container = AnyCalendar(),  # noqa: B008
    event_id: str = EVENT_ID,
) -> GraphError:
    """Cancel expecting `error`; returns it for the message check."""
    with pytest.raises(error) as raised:
        world.cancel(mailbox, caller=caller, container=container, event_id=event_id)
    return raised.value


# The organizer cancels ------------------------------------------------------------------------

ORGANIZER_MAILBOXES = [
    pytest.param(Me(), ORGANIZER_ID, id="me"),
    pytest.param(UserMailbox(ORGANIZER_ID), ORGANIZER_ID, id="user-by-id"),
    pytest.param(UserMailbox(ORGANIZER_ID.upper()), ORGANIZER_ID, id="user-by-ID-uppercase"),
    pytest.param(UserMailbox(ORGANIZER_UPN), ORGANIZER_ID, id="user-by-upn"),
    pytest.param(UserMailbox("Adele.VANCE@Contoso.COM"), ORGANIZER_ID, id="user-by-UPN-mixed"),
    pytest.param(GroupMailbox(GROUP_ID), GROUP_ID, id="group"),
    pytest.param(GroupMailbox(GROUP_ID.upper()), GROUP_ID, id="group-uppercase"),
]


@pytest.mark.parametrize(("mailbox", "owner"), ORGANIZER_MAILBOXES)
def test_organizer_cancels_the_event(world: World, mailbox: MailboxRef, owner: str) -> None:
    before = world.put(fakes.stored(owner, fakes.event(sequence=3)))

    result = world.cancel(mailbox)

    assert result.previous == before
    assert result.mailbox == owner
    assert result.leaves_calendar is True
    assert result.event.is_cancelled is True
    assert result.event.sequence == 4
    assert result.event.change_key != before.event.change_key
    assert result.event.last_modified_date_time == NOW_STAMP
    assert result.event.id == before.event.id
    assert result.event.subject == before.event.subject
    assert world.calendars.committed == [result]
    assert (owner, EVENT_ID) not in world.calendars.events
    assert world.calendars.deleted_items[(owner, EVENT_ID)].event == result.event


@pytest.mark.parametrize(("mailbox", "owner"), ORGANIZER_MAILBOXES)
def test_cancel_writes_one_outbox_row_and_enqueues_a_pointer_to_it(
    world: World, mailbox: MailboxRef, owner: str
) -> None:
    before = world.put(fakes.stored(owner, fakes.event(sequence=3)))

    result = world.cancel(mailbox, comment="Room flooded.\r\nSee you <b>next</b> week 🎉")

    note = result.notification
    assert note.comment == "Room flooded.\r\nSee you <b>next</b> week 🎉"
    assert note.mailbox == owner
    assert note.event_id == EVENT_ID
    assert note.occurrence_id is None
    assert note.attendees == before.event.attendees
    assert note.subject == before.event.subject
    assert note.i_cal_u_id == before.event.i_cal_u_id
    assert note.organizer == before.event.organizer
    assert note.start == before.event.start
    assert note.end == before.event.end
    assert note.sequence == 4
    assert note.cancelled_at == NOW_STAMP
    assert note.status == "pending"
    assert note.reason is None
    assert world.calendars.outbox == {(owner, note.id): note}
    assert world.queue.pointers == [NotificationPointer(owner, note.id)]


def test_cancel_without_a_comment_keeps_none(world: World) -> None:
    world.put()

    result = world.cancel(comment=None)

    assert result.notification.comment is None
    assert next(iter(world.calendars.outbox.values())).comment is None
    assert len(world.queue.pointers) == 1


def test_cancel_keeps_an_empty_comment_distinct_from_none(world: World) -> None:
    world.put()

    assert world.cancel(comment="").notification.comment == ""


def test_change_key_differs_between_two_cancel_times() -> None:
    first, second = World(), World()
    first.put()
    second.put()

    a = first.cancel()
    b = cancel_event(
        CancelEvent(Me(), AnyCalendar(), EVENT_ID, None),
        fakes.delegated(),
        directory=second.directory,
        calendars=second.calendars,
        queue=second.queue,
        now=fakes.fixed_clock(fakes.NOW.replace(second=16)),
    )

    assert a.event.change_key != b.event.change_key


def test_cancel_reads_the_owners_partition_only(world: World) -> None:
    world.put()

    world.cancel(UserMailbox(ORGANIZER_UPN))

    assert world.calendars.reads == [(ORGANIZER_ID, EVENT_ID)]


# The organizer rule -----------------------------------------------------------------------------


def test_attendee_copy_cannot_be_cancelled(world: World) -> None:
    before = world.put(fakes.stored(item=fakes.event(is_organizer=False)))

    error = refuse(world, NotOrganizer)

    assert error.message == (
        "Your request can't be completed. You need to be an organizer to cancel a meeting."
    )
    assert (error.status, error.code) == (400, "ErrorInvalidRequest")
    world.assert_untouched(before)


# Not found ---------------------------------------------------------------------------------------


def test_unknown_event_is_not_found(world: World) -> None:
    before = world.put()

    error = refuse(world, ItemNotFound, event_id="AAMkSomethingElse")

    assert (error.status, error.code) == (404, "ErrorItemNotFound")
    assert error.message == "The specified object was not found in the store."
    world.assert_untouched(before)


def test_event_of_another_mailbox_is_not_found(world: World) -> None:
    before = world.put(fakes.stored(OTHER_USER_ID))

    refuse(world, ItemNotFound)

    world.assert_untouched(before)


def test_second_cancel_is_not_found(world: World) -> None:
    world.put()
    world.cancel()

    with pytest.raises(ItemNotFound):
        world.cancel()

    assert len(world.calendars.committed) == 1
    assert len(world.calendars.outbox) == 1
    assert len(world.queue.pointers) == 1


def test_event_already_marked_cancelled_is_not_found(world: World) -> None:
    before = world.put(fakes.stored(item=fakes.event(is_cancelled=True)))

    refuse(world, ItemNotFound)

    world.assert_untouched(before)


PLACEMENTS = {
    "default": fakes.in_default_calendar(),
    "named": fakes.in_named_calendar(),
    "other-group": fakes.in_other_group(),
}

CONTAINER_CASES: list[tuple[str, Container, str, bool]] = [
    ("any/default", AnyCalendar(), "default", True),
    ("any/named", AnyCalendar(), "named", True),
    ("any/other-group", AnyCalendar(), "other-group", True),
    ("default/default", DefaultCalendar(), "default", True),
    ("default/named", DefaultCalendar(), "named", False),
    ("default/other-group", DefaultCalendar(), "other-group", False),
    ("named/right", NamedCalendar(WORK_CALENDAR_ID), "named", True),
    ("named/default-by-id", NamedCalendar(DEFAULT_CALENDAR_ID), "default", True),
    ("named/wrong", NamedCalendar(HOLIDAY_CALENDAR_ID), "named", False),
    ("named/case-differs", NamedCalendar(WORK_CALENDAR_ID.lower()), "named", False),
    ("default-group/right", CalendarInDefaultGroup(WORK_CALENDAR_ID), "named", True),
    ("default-group/wrong-cal", CalendarInDefaultGroup(HOLIDAY_CALENDAR_ID), "named", False),
    (
        "default-group/cal-in-other-group",
        CalendarInDefaultGroup(HOLIDAY_CALENDAR_ID),
        "other-group",
        False,
    ),
    ("group/right", CalendarInGroup(OTHER_GROUP_ID, HOLIDAY_CALENDAR_ID), "other-group", True),
    (
        "group/default-group-by-id",
        CalendarInGroup(DEFAULT_GROUP_ID, WORK_CALENDAR_ID),
        "named",
        True,
    ),
    (
        "group/wrong-group",
        CalendarInGroup(DEFAULT_GROUP_ID, HOLIDAY_CALENDAR_ID),
        "other-group",
        False,
    ),
    (
        "group/wrong-calendar",
        CalendarInGroup(OTHER_GROUP_ID, WORK_CALENDAR_ID),
        "other-group",
        False,
    ),
    (
        "group/calendar-of-another-group",
        CalendarInGroup(OTHER_GROUP_ID, WORK_CALENDAR_ID),
        "named",
        False,
    ),
]


@pytest.mark.parametrize(
    ("container", "placement", "found"),
    [pytest.param(c, PLACEMENTS[p], f, id=name) for name, c, p, f in CONTAINER_CASES],
)
def test_the_container_must_hold_the_event(
    world: World, container: Container, placement: Placement, found: bool
) -> None:
    before = world.put(fakes.stored(placement=placement))

    if found:
        result = world.cancel(container=container)
        assert result.event.is_cancelled
        assert len(world.queue.pointers) == 1
    else:
        refuse(world, ItemNotFound, container=container)
        world.assert_untouched(before)


# Users, groups and ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "Nobody@Contoso.com",
        "00000000-0000-4000-8000-0000000000AB",
        "not a user",
        "",
        "adele.vance@contoso.com/../x",
    ],
)
def test_unknown_user_is_invalid_user_as_written(world: World, written: str) -> None:
    before = world.put()

    error = refuse(world, InvalidUser, mailbox=UserMailbox(written), caller=fakes.application())

    assert error.message == f"The requested user '{written}' is invalid."
    assert (error.status, error.code) == (404, "ErrorInvalidUser")
    world.assert_untouched(before)


def test_unknown_group_is_not_found(world: World) -> None:
    before = world.put()

    refuse(
        world,
        ItemNotFound,
        mailbox=GroupMailbox("11111111-2222-4333-8444-555555555555"),
        caller=fakes.application(),
    )

    world.assert_untouched(before)


MALFORMED_ITEM_IDS = [
    "",
    "AAMk/evil",
    "AAMk#1",
    "AAMk?x",
    "AAMk\\x",
    "AAMk\n",
    "a b",
    "é",
    "A" * 401,
]


@pytest.mark.parametrize("bad", MALFORMED_ITEM_IDS)
def test_malformed_event_id(world: World, bad: str) -> None:
    before = world.put()

    error = refuse(world, IdMalformed, event_id=bad)

    assert (error.status, error.code, error.message) == (
        400,
        "ErrorInvalidIdMalformed",
        "Id is malformed.",
    )
    world.assert_untouched(before)
    assert world.calendars.reads == []


@pytest.mark.parametrize("bad", MALFORMED_ITEM_IDS)
@pytest.mark.parametrize(
    "container_of",
    [
        pytest.param(NamedCalendar, id="calendar"),
        pytest.param(CalendarInDefaultGroup, id="calendar-in-default-group"),
        pytest.param(lambda bad: CalendarInGroup(OTHER_GROUP_ID, bad), id="calendar-in-group"),
        pytest.param(lambda bad: CalendarInGroup(bad, HOLIDAY_CALENDAR_ID), id="calendar-group"),
    ],
)
def test_malformed_container_id(
    world: World, bad: str, container_of: Callable[[str], Container]
) -> None:
    before = world.put()
    container = container_of(bad)

    refuse(world, IdMalformed, container=container)

    world.assert_untouched(before)
    assert world.calendars.reads == []


@pytest.mark.parametrize("bad", ["not-a-guid", "", GROUP_ID + "0", "{" + GROUP_ID + "}"])
def test_malformed_group_id(world: World, bad: str) -> None:
    before = world.put()

    refuse(world, IdMalformed, mailbox=GroupMailbox(bad), caller=fakes.application())

    world.assert_untouched(before)
    assert world.directory.lookups == []


@pytest.mark.parametrize(
    "bad",
    [
        f"OID.{EVENT_ID}.2026-02-30",
        f"OID.{EVENT_ID}.2026-13-01",
        "OID.AAMk/x.2026-03-02",
        "OID..2026-03-02",
    ],
)
def test_malformed_occurrence_id(world: World, bad: str) -> None:
    before = world.put()

    refuse(world, IdMalformed, event_id=bad)

    world.assert_untouched(before)


def test_well_formed_occurrence_id_is_not_found_yet(world: World) -> None:
    before = world.put()

    refuse(world, ItemNotFound, event_id=f"OID.{EVENT_ID}.2026-03-10")

    world.assert_untouched(before)


# Who may cancel ----------------------------------------------------------------------------------


def test_application_caller_on_me_is_refused(world: World) -> None:
    before = world.put()

    error = refuse(world, MeRequiresDelegated, mailbox=Me(), caller=fakes.application())

    assert error.message == "/me request is only valid with delegated authentication flow."
    assert (error.status, error.code) == (400, "BadRequest")
    world.assert_untouched(before)


@pytest.mark.parametrize(
    ("mailbox", "owner"),
    [
        pytest.param(UserMailbox(ORGANIZER_ID), ORGANIZER_ID, id="organizer"),
        pytest.param(UserMailbox(OTHER_USER_UPN), OTHER_USER_ID, id="other-user"),
        pytest.param(GroupMailbox(GROUP_ID), GROUP_ID, id="group-without-membership"),
    ],
)
def test_application_caller_reaches_any_mailbox(
    world: World, mailbox: MailboxRef, owner: str
) -> None:
    world.put(fakes.stored(owner))

    result = world.cancel(mailbox, caller=fakes.application())

    assert result.mailbox == owner
    assert world.queue.pointers == [NotificationPointer(owner, EVENT_ID)]


@pytest.mark.parametrize(
    "mailbox",
    [UserMailbox(OTHER_USER_ID), UserMailbox(OTHER_USER_UPN)],
    ids=["by-id", "by-upn"],
)
def test_delegated_caller_cannot_reach_another_user(world: World, mailbox: MailboxRef) -> None:
    before = world.put(fakes.stored(OTHER_USER_ID))

    error = refuse(world, AccessDenied, mailbox=mailbox)

    assert error.message == "Access is denied. Check credentials and try again."
    assert (error.status, error.code) == (403, "ErrorAccessDenied")
    world.assert_untouched(before)


def test_delegated_caller_outside_the_group_is_refused(world: World) -> None:
    before = world.put(fakes.stored(GROUP_ID))

    refuse(
        world, AccessDenied, mailbox=GroupMailbox(GROUP_ID), caller=fakes.delegated(OTHER_USER_ID)
    )

    world.assert_untouched(before)


def test_delegated_member_of_the_group_may_cancel(world: World) -> None:
    world.directory.add_group(fakes.group(members=[ORGANIZER_ID, OTHER_USER_ID]))
    world.put(fakes.stored(GROUP_ID))

    result = world.cancel(GroupMailbox(GROUP_ID), caller=fakes.delegated(OTHER_USER_ID))

    assert result.mailbox == GROUP_ID
    assert len(world.queue.pointers) == 1


@pytest.mark.parametrize(
    "permissions",
    [
        ("Calendars.Read",),
        ("Calendars.Read", "Mail.Send", "User.Read"),
        ("Calendars.ReadWrite.Shared",),
        ("Calendars.Read.Write",),
        ("Calendars",),
    ],
)
@pytest.mark.parametrize("kind", ["delegated", "application"])
def test_caller_without_calendars_readwrite_is_refused(
    world: World, permissions: tuple[str, ...], kind: str
) -> None:
    before = world.put()
    caller = (
        fakes.delegated(ORGANIZER_ID, *permissions)
        if kind == "delegated"
        else fakes.application(*permissions)
    )

    refuse(world, AccessDenied, mailbox=UserMailbox(ORGANIZER_ID), caller=caller)

    world.assert_untouched(before)
    assert world.calendars.reads == []


def test_caller_with_no_permission_at_all_is_refused(world: World) -> None:
    before = world.put()
    caller = Caller("delegated", ORGANIZER_ID, fakes.TENANT, frozenset())

    refuse(world, AccessDenied, caller=caller)

    world.assert_untouched(before)


@pytest.mark.parametrize(
    "spelling", ["calendars.readwrite", "CALENDARS.READWRITE", "cAlEnDaRs.ReAdWrItE"]
)
def test_permission_match_is_case_insensitive(world: World, spelling: str) -> None:
    world.put()

    result = world.cancel(caller=fakes.delegated(ORGANIZER_ID, "User.Read", spelling))

    assert result.event.is_cancelled


# Races and the queue -----------------------------------------------------------------------------


def test_a_change_between_read_and_commit_is_read_again_and_applied(world: World) -> None:
    world.put()

    def touch_once(mailbox: str, event_id: str) -> None:
        world.calendars.after_find = None
        world.calendars.touch(mailbox, event_id)  # another writer changes the ETag

    world.calendars.after_find = touch_once

    result = world.cancel()

    assert world.calendars.reads == [(ORGANIZER_ID, EVENT_ID)] * 2
    assert world.calendars.committed == [result]
    assert len(world.queue.pointers) == 1


def test_an_event_cancelled_by_another_request_in_between_is_not_found(world: World) -> None:
    world.put()
    rival = World(calendars=world.calendars)

    def rival_cancels(mailbox: str, event_id: str) -> None:
        world.calendars.after_find = None
        rival.cancel(comment="first")

    world.calendars.after_find = rival_cancels

    refuse(world, ItemNotFound)

    (won,) = world.calendars.committed
    assert won.notification.comment == "first"
    assert len(world.calendars.outbox) == 1
    assert world.queue.pointers == []


def test_concurrent_cancels_of_two_occurrences_both_land_on_the_master(world: World) -> None:
    world.put(fakes.stored(item=fakes.series_master()))
    first, second = (f"OID.{EVENT_ID}.2026-03-{day}" for day in (11, 12))
    rival = World(calendars=world.calendars)

    def rival_cancels_another(mailbox: str, event_id: str) -> None:
        world.calendars.after_find = None
        rival.cancel(event_id=second)

    world.calendars.after_find = rival_cancels_another

    world.cancel(event_id=first)

    master = world.calendars.events[(ORGANIZER_ID, EVENT_ID)].event
    assert set(master.cancelled_occurrences) == {first, second}
    assert set(world.calendars.outbox) == {(ORGANIZER_ID, first), (ORGANIZER_ID, second)}


def test_an_event_that_never_stops_changing_is_busy_and_unchanged(world: World) -> None:
    before = world.put()
    world.calendars.after_find = world.calendars.touch

    error = refuse(world, ItemBusy)

    assert (error.status, error.code, error.retry_after) == (503, "ServiceNotAvailable", 1)
    assert len(world.calendars.reads) == MAX_CONFLICTS
    assert world.calendars.committed == []
    assert world.calendars.outbox == {}
    assert world.queue.attempts == 0
    assert world.calendars.events[(ORGANIZER_ID, EVENT_ID)].event == before.event


def test_existing_outbox_row_makes_the_commit_stale(world: World) -> None:
    world.put()
    other = World()
    other.put()
    earlier = other.cancel().notification
    world.calendars.outbox[(ORGANIZER_ID, earlier.id)] = earlier

    refuse(world, ItemNotFound)

    assert world.calendars.committed == []
    assert world.calendars.outbox == {(ORGANIZER_ID, earlier.id): earlier}
    assert world.queue.attempts == 0


def test_queue_failure_keeps_the_cancel(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.put()
    world.queue.failing = True

    with caplog.at_level(logging.WARNING, logger="shared.use_cases.cancellation"):
        result = world.cancel()

    assert result.event.is_cancelled
    assert world.calendars.committed == [result]
    assert world.calendars.outbox[(ORGANIZER_ID, result.notification.id)].status == "pending"
    assert world.queue.attempts == 1
    assert world.queue.pointers == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "shared.use_cases.cancellation"
    assert result.notification.id in warnings[0].getMessage()


def test_no_warning_when_the_queue_works(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.put()

    with caplog.at_level(logging.WARNING, logger="shared.use_cases.cancellation"):
        world.cancel()

    assert caplog.records == []


# Reading -----------------------------------------------------------------------------------------


def read(world: World, caller: Caller, mailbox: MailboxRef = Me()) -> object:  # noqa: B008
    return read_event(
        mailbox,
        AnyCalendar(),
        EVENT_ID,
        caller,
        directory=world.directory,
        calendars=world.calendars,
    )


def test_read_event_returns_the_event(world: World) -> None:
    before = world.put()

    assert read(world, fakes.delegated()) == before.event


def test_read_event_by_upn_for_an_application(world: World) -> None:
    before = world.put()

    assert read(world, fakes.application(), UserMailbox(ORGANIZER_UPN.upper())) == before.event


def test_read_event_after_cancel_is_not_found(world: World) -> None:
    world.put()
    world.cancel()

    with pytest.raises(ItemNotFound):
        read(world, fakes.delegated())


@pytest.mark.parametrize("permission", ["Calendars.Read", "calendars.read", "Calendars.ReadWrite"])
def test_read_permission_suffices_for_reading(world: World, permission: str) -> None:
    before = world.put()

    assert read(world, fakes.delegated(ORGANIZER_ID, permission)) == before.event


def test_reading_needs_a_calendars_permission(world: World) -> None:
    world.put()

    with pytest.raises(AccessDenied):
        read(world, fakes.delegated(ORGANIZER_ID, "User.Read"))


def test_read_event_refuses_me_for_an_application(world: World) -> None:
    world.put()

    with pytest.raises(MeRequiresDelegated):
        read(world, fakes.application())


def test_read_event_does_not_change_anything(world: World) -> None:
    before = world.put()

    read(world, fakes.delegated())

    world.assert_untouched(before)
