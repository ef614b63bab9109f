"""`DELETE` of an event against hand-written fakes: who deletes what, and what is recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pytest

from shared.calendar.errors import (
    AccessDenied,
    ChangeKeyMismatch,
    GraphError,
    IdMalformed,
    InvalidUser,
    ItemBusy,
    ItemNotFound,
    MeRequiresDelegated,
)
from shared.calendar.model import (
    AnyCalendar,
    Caller,
    Container,
    DefaultCalendar,
    Event,
    EventCancelled,
    GroupMailbox,
    MailboxRef,
    Me,
    ModifiedOccurrence,
    NamedCalendar,
    NotificationPointer,
    StoredEvent,
    UserMailbox,
)
from shared.graph.paths import EventAddress
from shared.use_cases.cancellation import CancelEvent, cancel_event
from shared.use_cases.deletion import DeleteEvent, delete_event, notifies
from shared.use_cases.reading import read_event
from tests.unit.use_cases import fakes
from tests.unit.use_cases.fakes import (
    EVENT_ID,
    GROUP_ID,
    NOW_STAMP,
    ORGANIZER_ID,
    ORGANIZER_UPN,
    OTHER_USER_ID,
    OTHER_USER_UPN,
    WORK_CALENDAR_ID,
    FakeCalendars,
    FakeDirectory,
    FakeQueue,
)

COPY_ID = "AAMkMeganCopy="
"""Megan's copy of Adele's meeting, in Megan's mailbox."""


def meeting(**changes: object) -> Event:
    return fakes.event().model_copy(update=changes)


def alone() -> Event:
    """Adele's own appointment: no attendees."""
    return fakes.event(attendees=())


def attendee_copy(*, is_cancelled: bool = False) -> Event:
    return fakes.event(COPY_ID, is_organizer=False, is_cancelled=is_cancelled)


def series(*, attendees: bool = True, is_organizer: bool = True) -> Event:
    """A daily series from 2026-03-10; its 2026-03-12 occurrence is modified (an exception)."""
    master = fakes.series_master().model_copy(
        update={
            "is_organizer": is_organizer,
            "exceptions": (
                ModifiedOccurrence(original_date=date(2026, 3, 12), subject="Moved to room 2"),
            ),
        }
    )
    return master if attendees else master.model_copy(update={"attendees": ()})


def occurrence(day: str) -> str:
    return f"OID.{EVENT_ID}.{day}"


@dataclass
class World:
    directory: FakeDirectory = field(
        default_factory=lambda: FakeDirectory(
            users=[fakes.user(), fakes.user(OTHER_USER_ID, OTHER_USER_UPN, "Megan Bowen")],
            groups=[fakes.group(members=[ORGANIZER_ID])],
        )
    )
    calendars: FakeCalendars = field(default_factory=FakeCalendars)
    queue: FakeQueue = field(default_factory=FakeQueue)

    def put(self, item: Event | None = None, mailbox: str = ORGANIZER_ID) -> StoredEvent:
        return self.calendars.put(fakes.stored(mailbox, item if item is not None else meeting()))

    def delete(
        self,
        event_id: EventAddress | str = EVENT_ID,
        mailbox: MailboxRef = Me(),  # noqa: B008 - frozen dataclass, immutable default
        *,
        caller: Caller | None = None,
        container: Container = AnyCalendar(),  # noqa: B008
        if_match: str | None = None,
    ) -> EventCancelled:
        return delete_event(
            DeleteEvent(mailbox, container, event_id, if_match),
            caller if caller is not None else fakes.delegated(),
            directory=self.directory,
            calendars=self.calendars,
            queue=self.queue,
            now=fakes.fixed_clock(),
        )

    def cancel(self, event_id: str = EVENT_ID, comment: str | None = None) -> EventCancelled:
        return cancel_event(
            CancelEvent(Me(), AnyCalendar(), event_id, comment),
            fakes.delegated(),
            directory=self.directory,
            calendars=self.calendars,
            queue=self.queue,
            now=fakes.fixed_clock(),
        )

    def read(self, event_id: EventAddress | str = EVENT_ID, mailbox: str = ORGANIZER_ID) -> Event:
        return read_event(
            Me(),
            AnyCalendar(),
            event_id,
            fakes.delegated(mailbox),
            directory=self.directory,
            calendars=self.calendars,
        )

    def assert_silent(self) -> None:
        assert self.calendars.outbox == {}
        assert self.queue.attempts == 0

    def assert_untouched(self, *before: StoredEvent) -> None:
        assert self.calendars.committed == []
        assert self.calendars.deleted_items == {}
        self.assert_silent()
        for item in before:
            assert self.calendars.events[(item.mailbox, item.event.id)] == item


@pytest.fixture
def world() -> World:
    return World()


def refuse(world: World, error: type[GraphError], *args: object, **kwargs: object) -> GraphError:
    with pytest.raises(error) as raised:
        world.delete(*args, **kwargs)  # type: ignore[arg-type]
    return raised.value


# The organizer deletes a meeting: a cancel without a comment ---------------------------------


def test_organizer_deleting_a_meeting_cancels_it_without_a_comment(world: World) -> None:
    before = world.put(fakes.event(sequence=2))

    result = world.delete()

    assert result.silent is False
    assert result.leaves_calendar is True
    assert result.event.is_cancelled is True
    assert result.event.sequence == 3
    assert result.event.last_modified_date_time == NOW_STAMP
    assert result.event.change_key != before.event.change_key
    note = result.notification
    assert (note.method, note.comment, note.occurrence_id) == ("CANCEL", None, None)
    assert note.attendees == before.event.attendees
    assert world.calendars.outbox == {(ORGANIZER_ID, EVENT_ID): note}
    assert world.queue.pointers == [NotificationPointer(ORGANIZER_ID, EVENT_ID)]
    assert (ORGANIZER_ID, EVENT_ID) in world.calendars.deleted_items
    with pytest.raises(ItemNotFound):
        world.read()


def test_delete_records_what_a_cancel_without_comment_records() -> None:
    deleting, cancelling = World(), World()
    deleting.put()
    cancelling.put()

    deleted, cancelled = deleting.delete(), cancelling.cancel(comment=None)

    assert deleted == cancelled
    assert deleting.calendars.outbox == cancelling.calendars.outbox
    assert deleting.queue.pointers == cancelling.queue.pointers


def test_a_queue_failure_keeps_the_delete(world: World) -> None:
    world.put()
    world.queue.failing = True

    world.delete()

    assert (ORGANIZER_ID, EVENT_ID) in world.calendars.outbox  # the sweeper re-sends it
    assert (ORGANIZER_ID, EVENT_ID) in world.calendars.deleted_items


def test_a_meeting_whose_only_attendee_is_the_organizer_is_removed_silently(world: World) -> None:
    world.put(fakes.event(attendees=(fakes.attendee(ORGANIZER_UPN.upper(), "Adele Vance"),)))

    result = world.delete()

    assert result.silent is True
    world.assert_silent()
    assert (ORGANIZER_ID, EVENT_ID) in world.calendars.deleted_items


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (fakes.event(), True),
        (fakes.event(attendees=()), False),
        (fakes.event(attendees=(fakes.attendee(ORGANIZER_UPN),)), False),
        (fakes.event(attendees=(fakes.attendee("room1@contoso.com"),)), True),
        (fakes.event(is_organizer=False), False),
        (fakes.event(is_cancelled=True), False),
    ],
    ids=["meeting", "alone", "only-the-organizer", "a-room", "attendee-copy", "cancelled"],
)
def test_which_deletes_tell_attendees(item: Event, expected: bool) -> None:
    assert notifies(item) is expected


# An event without attendees, an attendee's copy: removed, nobody told -------------------------


def test_an_event_without_attendees_is_removed_silently(world: World) -> None:
    before = world.put(alone())

    result = world.delete()

    assert result.silent is True
    assert result.leaves_calendar is True
    assert result.event.is_cancelled is False  # deleted, not cancelled: nothing to cancel
    assert result.event.change_key != before.event.change_key
    world.assert_silent()
    assert world.calendars.deleted_items[(ORGANIZER_ID, EVENT_ID)].event == result.event
    with pytest.raises(ItemNotFound):
        world.read()


@pytest.mark.parametrize("is_cancelled", [False, True], ids=["live", "cancelled-by-organizer"])
def test_an_attendee_deleting_their_copy_removes_only_the_copy(
    world: World, is_cancelled: bool
) -> None:
    organizers = world.put()
    world.put(attendee_copy(is_cancelled=is_cancelled), OTHER_USER_ID)

    result = world.delete(COPY_ID, caller=fakes.delegated(OTHER_USER_ID))

    assert result.silent is True
    assert result.mailbox == OTHER_USER_ID
    assert result.event.is_cancelled is is_cancelled
    world.assert_silent()
    assert set(world.calendars.deleted_items) == {(OTHER_USER_ID, COPY_ID)}
    assert world.calendars.events[(ORGANIZER_ID, EVENT_ID)] == organizers
    with pytest.raises(ItemNotFound):
        world.read(COPY_ID, OTHER_USER_ID)


def test_an_organizers_event_already_cancelled_but_still_listed_is_removed(world: World) -> None:
    world.put(fakes.event(is_cancelled=True))

    result = world.delete()

    assert result.silent is True
    world.assert_silent()
    assert (ORGANIZER_ID, EVENT_ID) in world.calendars.deleted_items


def test_an_organizers_series_without_attendees_leaves_whole(world: World) -> None:
    world.put(series(attendees=False))

    result = world.delete()

    assert (result.silent, result.leaves_calendar) == (True, True)
    world.assert_silent()
    with pytest.raises(ItemNotFound):
        world.read(occurrence("2026-03-11"))


# One occurrence -------------------------------------------------------------------------------

OCCURRENCE_ADDRESSES = [
    pytest.param(occurrence("2026-03-11"), id="calendarView-or-events-id"),
    pytest.param(EventAddress(EVENT_ID, "instances", occurrence("2026-03-11")), id="instances"),
]


@pytest.mark.parametrize("address", OCCURRENCE_ADDRESSES)
def test_organizer_deleting_an_occurrence_cancels_that_occurrence(
    world: World, address: EventAddress | str
) -> None:
    world.put(series())

    result = world.delete(address)

    assert (result.silent, result.leaves_calendar) == (False, False)
    assert result.event.cancelled_occurrences == (occurrence("2026-03-11"),)
    note = result.notification
    assert (note.id, note.occurrence_id, note.comment) == (
        occurrence("2026-03-11"),
        occurrence("2026-03-11"),
        None,
    )
    assert world.queue.pointers == [NotificationPointer(ORGANIZER_ID, occurrence("2026-03-11"))]
    assert world.read().cancelled_occurrences == (occurrence("2026-03-11"),)
    with pytest.raises(ItemNotFound):
        world.read(occurrence("2026-03-11"))
    assert world.read(occurrence("2026-03-13")).type == "occurrence"


def test_an_occurrence_of_a_series_without_attendees_is_cancelled_silently(world: World) -> None:
    world.put(series(attendees=False))

    result = world.delete(occurrence("2026-03-11"))

    assert (result.silent, result.leaves_calendar) == (True, False)
    world.assert_silent()
    assert world.read().cancelled_occurrences == (occurrence("2026-03-11"),)


def test_an_attendee_deleting_an_occurrence_of_their_copy_tells_nobody(world: World) -> None:
    organizers = world.put(series())
    world.put(series(is_organizer=False), OTHER_USER_ID)

    result = world.delete(occurrence("2026-03-11"), caller=fakes.delegated(OTHER_USER_ID))

    assert result.silent is True
    assert result.mailbox == OTHER_USER_ID
    world.assert_silent()
    assert world.read(mailbox=OTHER_USER_ID).cancelled_occurrences == (occurrence("2026-03-11"),)
    assert world.calendars.events[(ORGANIZER_ID, EVENT_ID)] == organizers


def test_deleting_a_modified_occurrence_cancels_it(world: World) -> None:
    world.put(series())
    address = EventAddress(EVENT_ID, "exceptionOccurrences", occurrence("2026-03-12"))
    assert world.read(address).subject == "Moved to room 2"

    result = world.delete(address)

    assert result.notification.occurrence_id == occurrence("2026-03-12")
    assert result.notification.subject == "Moved to room 2"
    assert world.read().cancelled_occurrences == (occurrence("2026-03-12"),)
    with pytest.raises(ItemNotFound):
        world.read(address)


def test_an_unmodified_occurrence_is_not_an_exception_occurrence(world: World) -> None:
    before = world.put(series())

    refuse(
        world,
        ItemNotFound,
        EventAddress(EVENT_ID, "exceptionOccurrences", occurrence("2026-03-11")),
    )

    world.assert_untouched(before)


@pytest.mark.parametrize(
    ("item", "address"),
    [
        (series(), occurrence("2026-03-09")),
        (series(), EventAddress(EVENT_ID, "instances", "OID.AAMkOtherSeries.2026-03-11")),
        (fakes.event(), occurrence("2026-03-11")),
    ],
    ids=["before-the-series", "another-series", "not-a-series"],
)
def test_an_occurrence_the_series_does_not_make_is_404(
    world: World, item: Event, address: EventAddress | str
) -> None:
    before = world.put(item)

    refuse(world, ItemNotFound, address)

    world.assert_untouched(before)


# A second delete, If-Match, concurrency --------------------------------------------------------


@pytest.mark.parametrize("item", [fakes.event(), alone()], ids=["meeting", "alone"])
def test_a_second_delete_is_404(world: World, item: Event) -> None:
    world.put(item)
    world.delete()

    refuse(world, ItemNotFound)


def test_a_second_delete_of_a_copy_is_404(world: World) -> None:
    world.put(attendee_copy(), OTHER_USER_ID)
    world.delete(COPY_ID, caller=fakes.delegated(OTHER_USER_ID))

    refuse(world, ItemNotFound, COPY_ID, caller=fakes.delegated(OTHER_USER_ID))


def test_a_second_delete_of_an_occurrence_is_404(world: World) -> None:
    world.put(series(attendees=False))
    world.delete(occurrence("2026-03-11"))

    refuse(world, ItemNotFound, occurrence("2026-03-11"))
    assert len(world.calendars.committed) == 1


def test_delete_after_cancel_is_404(world: World) -> None:
    world.put()
    world.cancel()

    refuse(world, ItemNotFound)
    assert len(world.queue.pointers) == 1


@pytest.mark.parametrize("item", [fakes.event(), alone()], ids=["meeting", "alone"])
def test_a_stale_if_match_is_412_and_changes_nothing(world: World, item: Event) -> None:
    before = world.put(item)

    error = refuse(world, ChangeKeyMismatch, if_match='W/"an-older-version"')

    assert (error.status, error.code) == (412, "ErrorIrresolvableConflict")
    world.assert_untouched(before)


@pytest.mark.parametrize("header", ['W/"DwAAABYAAAA="', "*", '"DwAAABYAAAA="'])
def test_a_current_if_match_deletes(world: World, header: str) -> None:
    world.put()

    world.delete(if_match=header)

    assert (ORGANIZER_ID, EVENT_ID) in world.calendars.deleted_items


def test_a_change_between_read_and_commit_is_read_again(world: World) -> None:
    world.put(alone())

    def touch_once(mailbox: str, event_id: str) -> None:
        world.calendars.after_find = None
        world.calendars.touch(mailbox, event_id)

    world.calendars.after_find = touch_once

    world.delete()

    assert len(world.calendars.reads) == 2
    assert (ORGANIZER_ID, EVENT_ID) in world.calendars.deleted_items


def test_a_cancel_that_wins_the_race_makes_the_delete_404(world: World) -> None:
    world.put()
    rival = World(calendars=world.calendars, queue=world.queue)

    def rival_cancels(mailbox: str, event_id: str) -> None:
        world.calendars.after_find = None
        rival.cancel(comment="mine first")

    world.calendars.after_find = rival_cancels

    refuse(world, ItemNotFound)

    assert [n.comment for n in world.calendars.outbox.values()] == ["mine first"]


def test_an_event_that_never_stops_changing_is_busy(world: World) -> None:
    world.put()
    world.calendars.after_find = world.calendars.touch

    refuse(world, ItemBusy)

    assert world.calendars.committed == []
    world.assert_silent()


# Mailboxes, containers, permission: as for cancel ---------------------------------------------

AS_FOR_CANCEL: list[tuple[str, Callable[[], dict[str, object]], type[GraphError]]] = [
    ("unknown-event", lambda: {"event_id": "AAMkNoSuchEvent"}, ItemNotFound),
    ("malformed-id", lambda: {"event_id": "a/b"}, IdMalformed),
    ("another-user-delegated", lambda: {"mailbox": UserMailbox(OTHER_USER_ID)}, AccessDenied),
    ("unknown-user", lambda: {"mailbox": UserMailbox("nobody@contoso.com")}, InvalidUser),
    (
        "me-as-application",
        lambda: {"caller": fakes.application()},
        MeRequiresDelegated,
    ),
    (
        "read-only-permission",
        lambda: {"caller": fakes.delegated(ORGANIZER_ID, "Calendars.Read")},
        AccessDenied,
    ),
    ("wrong-calendar", lambda: {"container": NamedCalendar(WORK_CALENDAR_ID)}, ItemNotFound),
]


@pytest.mark.parametrize(
    ("options", "error"),
    [pytest.param(options, error, id=name) for name, options, error in AS_FOR_CANCEL],
)
def test_refusals_as_for_cancel(
    world: World, options: Callable[[], dict[str, object]], error: type[GraphError]
) -> None:
    before = world.put()
    world.put(attendee_copy(), OTHER_USER_ID)

    refuse(world, error, **options())

    assert world.calendars.committed == []
    world.assert_silent()
    assert world.calendars.events[(ORGANIZER_ID, EVENT_ID)] == before


def test_another_users_event_is_not_found_in_the_callers_mailbox(world: World) -> None:
    copy = world.put(attendee_copy(), OTHER_USER_ID)

    refuse(world, ItemNotFound, COPY_ID)

    world.assert_untouched(copy)


@pytest.mark.parametrize(
    ("mailbox", "owner"),
    [
        (UserMailbox(ORGANIZER_UPN), ORGANIZER_ID),
        (UserMailbox(OTHER_USER_ID), OTHER_USER_ID),
        (GroupMailbox(GROUP_ID), GROUP_ID),
    ],
    ids=["user-by-upn", "another-user", "group"],
)
def test_an_application_deletes_in_any_mailbox(
    world: World, mailbox: MailboxRef, owner: str
) -> None:
    world.put(alone(), owner)

    result = world.delete(mailbox=mailbox, caller=fakes.application())

    assert result.mailbox == owner
    assert (owner, EVENT_ID) in world.calendars.deleted_items


def test_the_default_calendar_path_deletes_an_event_there(world: World) -> None:
    world.put()

    world.delete(container=DefaultCalendar())

    assert (ORGANIZER_ID, EVENT_ID) in world.calendars.deleted_items
