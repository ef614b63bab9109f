"""The mail worker's Table and Queue adapters against Azurite, on rows a real cancel wrote."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devtools.azurite import Azurite
from devtools.load import DEMO_TENANT, Loaded, load
from shared.calendar.model import (
    AnyCalendar,
    Caller,
    Event,
    Me,
    Notification,
    NotificationPointer,
    PatternedRecurrence,
)
from shared.runtime.settings import Settings
from shared.storage.attendee_copies import TableAttendeeCopies
from shared.storage.outbox import QueueRedelivery, TableOutbox
from shared.storage.queue import StorageQueue, decode, queue_client
from shared.storage.tables import (
    TableCalendars,
    TableDirectory,
    event_row,
    get_text,
    ical_index_row,
    outbox_row,
)
from shared.use_cases.cancellation import CancelEvent, cancel_event
from shared.use_cases.delivery import copy_id
from shared.use_cases.ports import Attempt, RecipientSlice

ADELE = "6e7b768e-07e2-4810-8459-485f84f8f204"
ALEX = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
ADELE_MAIL = "AdeleV@contoso.example"
MEGAN = "48d31887-5fad-4d73-a9f5-3c356e68a038"
CREATED = "2026-11-20T10:15:00Z"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


class RecordedQueue:
    def __init__(self) -> None:
        self.pointers: list[NotificationPointer] = []

    def enqueue(self, pointer: NotificationPointer) -> None:
        self.pointers.append(pointer)


@dataclass
class Store:
    settings: Settings
    tenant: Loaded
    calendar: TableClient
    directory: TableDirectory
    outbox: TableOutbox

    def cancel(self, event_id: str, comment: str | None = "sorry") -> NotificationPointer:
        caller = Caller("delegated", ADELE, "tenant", frozenset({"Calendars.ReadWrite"}))
        queue = RecordedQueue()
        cancel_event(
            CancelEvent(Me(), AnyCalendar(), event_id, comment),
            caller,
            directory=self.directory,
            calendars=TableCalendars(self.calendar),
            queue=queue,
            now=lambda: NOW,
        )
        (pointer,) = queue.pointers
        return pointer

    def row(self, mailbox: str, key: str) -> dict[str, object]:
        return dict(self.calendar.get_entity(mailbox, key))

    def copy(self, mailbox: str, event_id: str) -> Event:
        return Event.model_validate_json(
            get_text(self.calendar.get_entity(mailbox, f"event|{event_id}"), "Event")
        )

    def partition(self, mailbox: str) -> dict[str, str]:
        """Every row of a mailbox, by row key: its ETag (what changes when the row is written)."""
        rows = self.calendar.query_entities("PartitionKey eq @pk", parameters={"pk": mailbox})
        return {row["RowKey"]: str(row.metadata["etag"]) for row in rows}

    def organize(
        self, key: str, attendees: list[str], recurrence: dict[str, Any] | None = None
    ) -> Notification:
        """What a create of Adele's writes in one transaction: her event, its index row and the
        invitation's outbox row (built here, so these tests need no create route)."""
        uid = "040000008200E00074C5B7101A82E008" + hashlib.sha256(key.encode()).hexdigest()
        event_id = f"AAMkInvite{key}"
        zone = "Pacific Standard Time"
        meeting = {
            "iCalUId": uid,
            "subject": f"Invitation {key}",
            "body": {"contentType": "text", "content": "Agenda to follow"},
            "start": {"dateTime": "2026-12-07T09:00:00.0000000", "timeZone": zone},
            "end": {"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": zone},
            "location": {"displayName": "Conf Room Rainier"},
            "organizer": {"emailAddress": {"name": "Adele Vance", "address": ADELE_MAIL}},
            "attendees": [
                {"type": "required", "emailAddress": {"name": "", "address": address}}
                for address in attendees
            ],
            "recurrence": recurrence,
        }
        event = Event.model_validate(
            {
                **meeting,
                "id": event_id,
                "isOrganizer": True,
                "type": "seriesMaster" if recurrence else "singleInstance",
                "createdDateTime": CREATED,
                "lastModifiedDateTime": CREATED,
                "changeKey": "created",
            }
        )
        invitation = Notification.model_validate(
            {
                **meeting,
                "method": "REQUEST",
                "id": f"{event_id}.invitation",
                "mailbox": ADELE,
                "eventId": event_id,
                "sequence": 0,
                "comment": None,
                "cancelledAt": CREATED,
            }
        )
        placement = self.tenant.calendars[ADELE]["Calendar"]
        self.calendar.submit_transaction(
            [
                ("create", event_row(ADELE, event, placement, "calendar")),
                ("create", ical_index_row(ADELE, uid, event_id)),
                ("create", outbox_row(invitation)),
            ]
        )
        return invitation


@pytest.fixture
def store(azurite: Azurite) -> Iterator[Store]:
    suffix = uuid4().hex[:10]
    settings = Settings.from_env(
        {
            "AzureWebJobsStorage": azurite.connection_string,
            "CALENDAR_TABLE": f"mailcal{suffix}",
            "DIRECTORY_TABLE": f"maildir{suffix}",
            "NOTIFICATION_QUEUE": f"mail-{suffix}",
        }
    )
    tenant = load(json.loads(DEMO_TENANT.read_text()), settings)
    with TableServiceClient.from_connection_string(settings.storage_connection) as service:
        calendar = service.get_table_client(settings.calendar_table)
        directory = TableDirectory(service.get_table_client(settings.directory_table))
        yield Store(settings, tenant, calendar, directory, TableOutbox(calendar))
        service.delete_table(settings.calendar_table)
        service.delete_table(settings.directory_table)


def test_find_reads_the_notification_the_cancel_committed(store: Store) -> None:
    pointer = store.cancel(store.tenant.events["planning"][1], "Sorry, all")

    entry = store.outbox.find(pointer)
    assert entry is not None
    assert entry.status == "pending"
    assert entry.notification.comment == "Sorry, all"
    assert store.outbox.find(NotificationPointer(ADELE, "AAMkNothing")) is None


def claim_of(index: int, *addresses: str, at: datetime = NOW) -> RecipientSlice:
    """A slice of these recipients, none tried yet, claimed at `at`."""
    return RecipientSlice(
        index,
        addresses,
        tuple("untried" for _ in addresses),
        ("",) * len(addresses),
        claimed=True,
        changed_at=at,
    )


def test_a_slice_is_claimed_once_and_taken_over_only_at_the_version_read(store: Store) -> None:
    pointer = store.cancel(store.tenant.events["planning"][1])
    outbox = store.outbox
    claim = claim_of(0, "pat@fabrikam.example", "AlexW@contoso.example")

    state = outbox.claim_slice(pointer, claim, None)
    assert state is not None
    assert outbox.claim_slice(pointer, claim, None) is None  # another worker's
    assert outbox.slices(pointer) == {0: state}
    assert (state.claimed, state.changed_at, state.statuses) == (True, NOW, ("untried",) * 2)

    later = NOW + timedelta(minutes=5)
    taken = outbox.claim_slice(pointer, replace(claim, changed_at=later), state)
    assert taken is not None
    assert outbox.claim_slice(pointer, replace(claim, changed_at=later), state) is None  # gone
    ended = replace(taken, statuses=("sent", "failed"), details=("", "smtp: 451"), claimed=False)
    outbox.end_slice(pointer, ended)
    (read,) = outbox.slices(pointer).values()
    assert (read.statuses, read.details, read.claimed) == (
        ("sent", "failed"),
        ("", "smtp: 451"),
        False,
    )
    assert read.status_of("PAT@fabrikam.example") == "sent"
    assert not read.complete


def test_slices_are_only_this_notifications_and_keep_their_order(store: Store) -> None:
    planning = store.cancel(store.tenant.events["planning"][1])
    launch = store.cancel(store.tenant.events["launch"][1])
    for index in (10, 2, 0):
        store.outbox.end_slice(
            planning, replace(claim_of(index, f"g{index}@x.example"), claimed=False)
        )
    failed = replace(
        claim_of(0, "LeeG@contoso.example"), statuses=("failed",), details=("x" * 5000,)
    )
    store.outbox.end_slice(launch, failed)

    assert list(store.outbox.slices(planning)) == [0, 2, 10]
    (lee,) = store.outbox.slices(launch).values()
    assert lee.statuses == ("failed",)
    assert lee.details == ("x" * 500,)  # a recipient's failure is kept to 500 characters
    rows = [r for r in store.calendar.list_entities() if r.get("Kind") == "delivery"]
    assert sorted(r["RowKey"] for r in rows) == sorted(
        [f"delivery|{planning.notification_id}|{i:05d}" for i in (0, 2, 10)]
        + [f"delivery|{launch.notification_id}|00000"]
    )


def test_a_slice_of_100_long_addresses_with_long_failures_fits_its_row(store: Store) -> None:
    pointer = store.cancel(store.tenant.events["planning"][1])
    guests = tuple(f"{'g' * 60}.{n}@{'fabrikam-' * 20}example" for n in range(100))
    failed = replace(
        claim_of(0, *guests),
        statuses=tuple("failed" for _ in guests),
        details=tuple(f"smtp: 451 ünavailable {'z' * 900}" for _ in guests),
        claimed=False,
    )

    store.outbox.end_slice(pointer, failed)

    (read,) = store.outbox.slices(pointer).values()
    assert read.addresses == guests
    assert read.details == tuple(d[:500] for d in failed.details)


def test_an_attempt_is_noted_when_it_fails_and_when_it_ends_the_row(store: Store) -> None:
    pointer = store.cancel(store.tenant.events["planning"][1])
    found = store.outbox.find(pointer)
    assert found is not None

    store.outbox.record_error(pointer, "smtp: 451 busy", Attempt(1, NOW))
    row = store.row(ADELE, f"outbox|{pointer.notification_id}")
    assert (row["Attempts"], row["LastAttemptAt"], row["LastError"]) == (1, NOW, "smtp: 451 busy")
    assert "SliceSize" not in row

    later = NOW + timedelta(minutes=1)
    again = store.outbox.find(pointer)
    assert again is not None
    store.outbox.finish(pointer, "delivered", None, again, Attempt(2, later))
    row = store.row(ADELE, f"outbox|{pointer.notification_id}")
    assert (row["Status"], row["Attempts"], row["LastAttemptAt"]) == ("delivered", 2, later)


def test_finish_rewrites_status_reason_and_the_notification_and_never_undoes_delivered(
    store: Store,
) -> None:
    pointer = store.cancel(store.tenant.events["planning"][1])
    entry = store.outbox.find(pointer)
    assert entry is not None
    store.outbox.record_error(pointer, "pat@fabrikam.example: smtp: 451 busy", Attempt(2, NOW))

    store.outbox.finish(pointer, "failed", "pat@fabrikam.example: smtp: 451 busy")
    row = store.row(ADELE, f"outbox|{pointer.notification_id}")
    assert (row["Status"], row["Reason"], row["Attempts"]) == (
        "failed",
        "pat@fabrikam.example: smtp: 451 busy",
        2,
    )
    recorded = Notification.model_validate_json(get_text(row, "Notification"))
    assert (recorded.status, recorded.reason) == ("failed", "pat@fabrikam.example: smtp: 451 busy")

    store.outbox.finish(pointer, "delivered", None)
    store.outbox.finish(pointer, "failed", "too late")
    row = store.row(ADELE, f"outbox|{pointer.notification_id}")
    assert (row["Status"], row["Reason"]) == ("delivered", "")


def test_the_rows_end_is_one_write_on_the_version_read(store: Store) -> None:
    pointer = store.cancel(store.tenant.events["planning"][1])
    found = store.outbox.find(pointer)
    assert found is not None

    store.outbox.finish(pointer, "delivered", "x@y: rejected", found, Attempt(1, NOW))

    row = store.row(ADELE, f"outbox|{pointer.notification_id}")
    assert (row["Status"], row["Reason"], row["Attempts"]) == ("delivered", "x@y: rejected", 1)
    notification = Notification.model_validate_json(get_text(row, "Notification"))
    assert (notification.status, notification.reason) == ("delivered", "x@y: rejected")


def test_a_row_that_moved_on_since_still_ends(store: Store) -> None:
    pointer = store.cancel(store.tenant.events["planning"][1])
    found = store.outbox.find(pointer)
    assert found is not None
    store.outbox.record_error(pointer, "meanwhile")  # the row's version is not the one read

    store.outbox.finish(pointer, "delivered", None, found)

    row = store.row(ADELE, f"outbox|{pointer.notification_id}")
    assert (row["Status"], row["LastError"]) == ("delivered", "meanwhile")


def test_a_long_notification_ends_readable_whatever_its_text_takes(store: Store) -> None:
    """A notification spread over several properties: the end rewrites them all, and one
    left over from a longer text would be emptied."""
    pointer = store.cancel(store.tenant.events["planning"][1])
    found = store.outbox.find(pointer)
    assert found is not None
    long = found.notification.model_copy(update={"comment": "é" * 40_000})
    table = store.calendar
    table.upsert_entity(outbox_row(long))  # as a cancel with a long comment writes it
    row = store.row(ADELE, f"outbox|{pointer.notification_id}")
    assert "Notification_2" in row
    found = store.outbox.find(pointer)
    assert found is not None
    short = replace(found, notification=found.notification.model_copy(update={"comment": ""}))

    store.outbox.finish(pointer, "delivered", None, short)

    row = store.row(ADELE, f"outbox|{pointer.notification_id}")
    ended = Notification.model_validate_json(get_text(row, "Notification"))
    assert (ended.status, ended.comment) == ("delivered", "")


def test_the_sweeper_finds_only_pending_rows_nothing_touched_since(store: Store) -> None:
    planning = store.cancel(store.tenant.events["planning"][1])
    launch = store.cancel(store.tenant.events["launch"][1])
    store.outbox.finish(launch, "delivered", None)
    future = datetime.now(UTC) + timedelta(minutes=1)

    assert list(store.outbox.stale_pending(datetime.now(UTC) - timedelta(minutes=1))) == []
    (entry,) = store.outbox.stale_pending(future)
    assert (entry.pointer, entry.resends, entry.last_error) == (planning, 0, None)

    assert store.outbox.mark_resent(entry, NOW)
    assert not store.outbox.mark_resent(entry, NOW)  # the row moved on
    (again,) = store.outbox.stale_pending(future)
    assert again.resends == 1


def test_an_internal_attendees_copy_is_cancelled_once(store: Store) -> None:
    planning = store.tenant.events["planning"][1]
    pointer = store.cancel(planning)
    entry = store.outbox.find(pointer)
    assert entry is not None
    copies = TableAttendeeCopies(store.calendar, store.directory)
    copy_id = store.tenant.copies["planning"][ALEX]

    assert copies.update_copy(entry.notification, "alexw@CONTOSO.example", NOW)
    assert not copies.update_copy(entry.notification, "AlexW@contoso.example", NOW)
    assert not copies.update_copy(entry.notification, "pat@fabrikam.example", NOW)  # external

    copy = store.copy(ALEX, copy_id)
    assert copy.is_cancelled
    assert copy.subject == "Canceled: Quarterly planning"
    assert copy.last_modified_date_time == "2026-11-24T09:30:00Z"
    row = store.row(ALEX, f"event|{copy_id}")
    assert (row["Folder"], row["InDefaultCalendar"]) == ("calendar", True)


def test_an_occurrence_cancel_marks_only_that_occurrence_of_the_copy(store: Store) -> None:
    master = store.tenant.events["weekly-sync"][1]
    pointer = store.cancel(f"OID.{master}.2027-01-11")
    entry = store.outbox.find(pointer)
    assert entry is not None
    copies = TableAttendeeCopies(store.calendar, store.directory)
    copy_id = store.tenant.copies["weekly-sync"][ALEX]

    assert copies.update_copy(entry.notification, "AlexW@contoso.example", NOW)
    assert not copies.update_copy(entry.notification, "AlexW@contoso.example", NOW)

    copy = store.copy(ALEX, copy_id)
    assert copy.cancelled_occurrences == (f"OID.{copy_id}.2027-01-11",)
    assert not copy.is_cancelled
    assert copy.subject == "Weekly team sync"


def test_an_invitation_creates_an_internal_attendees_copy_once_in_their_default_calendar(
    store: Store,
) -> None:
    invitation = store.organize("single", ["AlexW@contoso.example", "pat@fabrikam.example"])
    copies = TableAttendeeCopies(store.calendar, store.directory)
    expected_id = copy_id(ALEX, invitation.i_cal_u_id)
    before = store.partition(ALEX)

    assert copies.update_copy(invitation, "alexw@CONTOSO.example", NOW)

    after = store.partition(ALEX)
    assert set(after) - set(before) == {f"event|{expected_id}", f"ical|{invitation.i_cal_u_id}"}
    assert store.row(ALEX, f"ical|{invitation.i_cal_u_id}")["EventId"] == expected_id
    row = store.row(ALEX, f"event|{expected_id}")
    default = store.tenant.calendars[ALEX]["Calendar"]
    assert (row["Folder"], row["CalendarId"], row["CalendarGroupId"]) == (
        "calendar",
        default.calendar_id,
        default.calendar_group_id,
    )
    assert (row["InDefaultCalendar"], row["InDefaultCalendarGroup"]) == (True, True)
    copy = store.copy(ALEX, expected_id)
    assert not copy.is_organizer
    assert (copy.i_cal_u_id, copy.subject, copy.type) == (
        invitation.i_cal_u_id,
        "Invitation single",
        "singleInstance",
    )
    assert copy.organizer.email_address.address == "AdeleV@contoso.example"
    assert [a.email_address.address for a in copy.attendees] == [
        "AlexW@contoso.example",
        "pat@fabrikam.example",
    ]
    assert copy.created_date_time == CREATED
    # The calendar reads it as any other event of Alex's default calendar.
    found = TableCalendars(store.calendar).find_event(ALEX, expected_id)
    assert found is not None
    assert found.placement == default

    # A retry, a duplicated message, a second worker: nothing more is written.
    organizers = store.partition(ADELE)
    assert not copies.update_copy(invitation, "AlexW@contoso.example", NOW)
    assert store.partition(ALEX) == after
    assert not copies.update_copy(invitation, "pat@fabrikam.example", NOW)  # external
    assert not copies.update_copy(invitation, "AdeleV@contoso.example", NOW)  # the organizer
    assert store.partition(ADELE) == organizers


class ReadBeforeTheOtherWrote(TableAttendeeCopies):
    """A worker whose index read came just before another worker's create landed."""

    def _row(self, mailbox: str, key: str) -> Any:
        return None if key.startswith("ical|") else super()._row(mailbox, key)


def test_two_workers_creating_the_same_copy_at_once_write_it_once(store: Store) -> None:
    invitation = store.organize("race", ["AlexW@contoso.example"])
    assert TableAttendeeCopies(store.calendar, store.directory).update_copy(
        invitation, "AlexW@contoso.example", NOW
    )
    after = store.partition(ALEX)

    late = ReadBeforeTheOtherWrote(store.calendar, store.directory)
    assert not late.update_copy(invitation, "AlexW@contoso.example", NOW)
    assert store.partition(ALEX) == after


def test_a_copy_an_invitation_created_is_cancelled_by_the_later_cancel_of_the_meeting(
    store: Store,
) -> None:
    invitation = store.organize("lifecycle", ["AlexW@contoso.example", "MeganB@contoso.example"])
    copies = TableAttendeeCopies(store.calendar, store.directory)
    assert copies.update_copy(invitation, "AlexW@contoso.example", NOW)
    assert copies.update_copy(invitation, "MeganB@contoso.example", NOW)

    pointer = store.cancel(invitation.event_id, "Called off")
    entry = store.outbox.find(pointer)
    assert entry is not None
    assert entry.notification.method == "CANCEL"
    later = NOW + timedelta(hours=1)
    assert copies.update_copy(entry.notification, "AlexW@contoso.example", later)
    assert not copies.update_copy(entry.notification, "AlexW@contoso.example", later)
    # A late duplicate of the invitation does not bring the meeting back.
    assert not copies.update_copy(invitation, "AlexW@contoso.example", later)

    alex = store.copy(ALEX, copy_id(ALEX, invitation.i_cal_u_id))
    assert alex.is_cancelled
    assert alex.subject == "Canceled: Invitation lifecycle"
    assert alex.last_modified_date_time == "2026-11-24T10:30:00Z"
    assert not store.copy(MEGAN, copy_id(MEGAN, invitation.i_cal_u_id)).is_cancelled


def test_an_invited_series_copy_takes_the_later_cancel_of_one_occurrence(store: Store) -> None:
    weekly = PatternedRecurrence.model_validate(
        {
            "pattern": {"type": "weekly", "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
            "range": {
                "type": "numbered",
                "startDate": "2026-12-07",
                "numberOfOccurrences": 10,
                "recurrenceTimeZone": "Pacific Standard Time",
            },
        }
    )
    invitation = store.organize(
        "series", ["AlexW@contoso.example"], weekly.model_dump(by_alias=True, mode="json")
    )
    copies = TableAttendeeCopies(store.calendar, store.directory)
    assert copies.update_copy(invitation, "AlexW@contoso.example", NOW)
    copy_of_alex = copy_id(ALEX, invitation.i_cal_u_id)
    assert store.copy(ALEX, copy_of_alex).type == "seriesMaster"

    pointer = store.cancel(f"OID.{invitation.event_id}.2026-12-21")
    entry = store.outbox.find(pointer)
    assert entry is not None
    assert copies.update_copy(entry.notification, "AlexW@contoso.example", NOW)

    copy = store.copy(ALEX, copy_of_alex)
    assert copy.cancelled_occurrences == (f"OID.{copy_of_alex}.2026-12-21",)
    assert not copy.is_cancelled


def test_a_cancel_delivered_before_the_invitation_made_the_copy_still_cancels_it(
    store: Store,
) -> None:
    invitation = store.organize("overtaken", ["AlexW@contoso.example"])
    copies = TableAttendeeCopies(store.calendar, store.directory)
    pointer = store.cancel(invitation.event_id, "Called off")
    entry = store.outbox.find(pointer)
    assert entry is not None
    assert not copies.update_copy(entry.notification, "AlexW@contoso.example", NOW)  # no copy yet

    later = NOW + timedelta(minutes=1)
    assert copies.update_copy(invitation, "AlexW@contoso.example", later)

    copy = store.copy(ALEX, copy_id(ALEX, invitation.i_cal_u_id))
    assert copy.is_cancelled
    assert copy.subject == "Canceled: Invitation overtaken"
    after = store.partition(ALEX)
    assert not copies.update_copy(invitation, "AlexW@contoso.example", later)
    assert not copies.update_copy(entry.notification, "AlexW@contoso.example", later)
    assert store.partition(ALEX) == after


def test_an_occurrence_cancelled_before_the_invitation_made_the_copy_is_cancelled_in_it(
    store: Store,
) -> None:
    daily = {
        "pattern": {"type": "daily"},
        "range": {"type": "numbered", "startDate": "2026-12-07", "numberOfOccurrences": 5},
    }
    invitation = store.organize("skipped", ["AlexW@contoso.example"], daily)
    copies = TableAttendeeCopies(store.calendar, store.directory)
    store.cancel(f"OID.{invitation.event_id}.2026-12-09")

    assert copies.update_copy(invitation, "AlexW@contoso.example", NOW)

    copy_of_alex = copy_id(ALEX, invitation.i_cal_u_id)
    copy = store.copy(ALEX, copy_of_alex)
    assert copy.cancelled_occurrences == (f"OID.{copy_of_alex}.2026-12-09",)
    assert not copy.is_cancelled


def test_redelivery_puts_a_base64_pointer_visible_after_its_delay(store: Store) -> None:
    connection, name = store.settings.storage_connection, store.settings.notification_queue
    pointer = NotificationPointer(ADELE, "AAMkEvent")
    with (
        queue_client(connection, name) as client,
        QueueClient.from_connection_string(connection, name) as raw,
    ):
        redelivery = QueueRedelivery(client)  # the queue does not exist yet: it is created
        redelivery.redeliver(pointer, timedelta(seconds=30))
        redelivery.redeliver(pointer, timedelta(0))

        visible = list(raw.receive_messages())
        assert len(visible) == 1
        assert decode(base64.b64decode(visible[0].content).decode()) == pointer
        assert raw.get_queue_properties().approximate_message_count == 2
        raw.delete_queue()


class CreatedMeanwhile(QueueClient):
    """A real queue client whose `create_queue` comes second: another client (the host, another
    put) creates the queue between this one's miss and its create, as happened in CI."""

    other: QueueClient

    def create_queue(self, **kwargs: Any) -> None:
        self.other.create_queue()
        super().create_queue(**kwargs)  # raises ResourceExistsError: the queue is there


def test_a_put_that_loses_the_race_to_create_the_queue_still_lands(store: Store) -> None:
    connection, name = store.settings.storage_connection, store.settings.notification_queue
    pointer = NotificationPointer(ADELE, "AAMkEvent")
    client = CreatedMeanwhile.from_connection_string(
        connection, name, message_encode_policy=TextBase64EncodePolicy()
    )
    with client, QueueClient.from_connection_string(connection, name) as raw:
        client.other = raw
        StorageQueue(client).enqueue(pointer)
        QueueRedelivery(client).redeliver(pointer, timedelta(0))

        assert raw.get_queue_properties().approximate_message_count == 2
        raw.delete_queue()


def test_the_directory_is_asked_once_which_of_many_addresses_are_users(store: Store) -> None:
    copies = TableAttendeeCopies(store.calendar, store.directory)
    externals = [f"guest{n}@fabrikam.example" for n in range(40)]  # several queries of 14 keys
    addresses = [
        *externals[:20],
        "ALEXW@contoso.example",
        *externals[20:],
        " MeganB@contoso.example ",
    ]

    found = copies.internal(addresses)

    assert found == {
        "alexw@contoso.example": store.tenant.users["alexw@contoso.example"].id,
        "meganb@contoso.example": store.tenant.users["meganb@contoso.example"].id,
    }
    assert copies.internal([]) == {}


class CountingCopies(TableAttendeeCopies):
    """The adapter, noting the `mail` rows each directory query asks for."""

    asked: list[list[str]]

    def _mail_rows(self, keys: list[str]) -> list[Mapping[str, Any]]:
        self.asked.append(keys)
        return super()._mail_rows(keys)


def test_only_addresses_at_the_tenants_domains_are_looked_up(store: Store) -> None:
    directory = TableDirectory(store.directory.table)
    copies = CountingCopies(store.calendar, directory)
    copies.asked = []
    addresses = [f"guest{n}@fabrikam.example" for n in range(40)]
    addresses += ["ALEXW@contoso.example", "nobody@contoso.example"]

    found = copies.internal(addresses)

    assert directory.accepted_domains() == frozenset({"contoso.example"})  # the demo tenant's
    assert found == {"alexw@contoso.example": store.tenant.users["alexw@contoso.example"].id}
    assert copies.asked == [["alexw@contoso.example", "nobody@contoso.example"]]


def test_a_directory_without_domain_rows_looks_every_address_up(store: Store) -> None:
    table = store.directory.table
    for row in list(table.query_entities("PartitionKey eq 'domain'")):
        table.delete_entity(row["PartitionKey"], row["RowKey"])
    directory = TableDirectory(table)
    copies = TableAttendeeCopies(store.calendar, directory)

    assert directory.accepted_domains() is None
    assert copies.internal(["guest@fabrikam.example", "AlexW@contoso.example"]) == {
        "alexw@contoso.example": store.tenant.users["alexw@contoso.example"].id
    }
