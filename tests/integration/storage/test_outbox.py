"""The mail worker's Table and Queue adapters against Azurite, on rows a real cancel wrote."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devtools.azurite import Azurite
from devtools.load import DEMO_TENANT, Loaded, load
from shared.calendar.model import AnyCalendar, Caller, Event, Me, Notification, NotificationPointer
from shared.runtime.settings import Settings
from shared.storage.attendee_copies import TableAttendeeCopies
from shared.storage.outbox import QueueRedelivery, TableOutbox
from shared.storage.queue import StorageQueue, decode, queue_client
from shared.storage.tables import TableCalendars, TableDirectory, get_text
from shared.use_cases.cancellation import CancelEvent, cancel_event

ADELE = "6e7b768e-07e2-4810-8459-485f84f8f204"
ALEX = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
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


def test_a_recipient_is_claimed_once_and_taken_over_only_at_the_version_read(store: Store) -> None:
    pointer = store.cancel(store.tenant.events["planning"][1])
    outbox = store.outbox

    assert outbox.claim(pointer, "pat@fabrikam.example", None, NOW)
    assert not outbox.claim(pointer, "PAT@fabrikam.example", None, NOW)  # another worker's
    (state,) = outbox.recipients(pointer).values()
    assert (state.address, state.status, state.changed_at) == (
        "pat@fabrikam.example",
        "sending",
        NOW,
    )

    later = NOW + timedelta(minutes=5)
    assert outbox.claim(pointer, "pat@fabrikam.example", state, later)
    assert not outbox.claim(pointer, "pat@fabrikam.example", state, later)  # that version is gone
    outbox.mark(pointer, "pat@fabrikam.example", "sent", later)
    assert outbox.recipients(pointer)["pat@fabrikam.example"].status == "sent"


def test_recipients_are_only_this_notifications(store: Store) -> None:
    planning = store.cancel(store.tenant.events["planning"][1])
    launch = store.cancel(store.tenant.events["launch"][1])
    store.outbox.mark(planning, "AlexW@contoso.example", "sent", NOW)
    store.outbox.mark(launch, "LeeG@contoso.example", "failed", NOW, "x" * 5000)

    assert list(store.outbox.recipients(planning)) == ["alexw@contoso.example"]
    (lee,) = store.outbox.recipients(launch).values()
    assert lee.status == "failed"
    rows = [r for r in store.calendar.list_entities() if r.get("Kind") == "delivery"]
    assert {len(r["Detail"]) for r in rows} == {0, 2000}


def test_finish_rewrites_status_reason_and_the_notification_and_never_undoes_delivered(
    store: Store,
) -> None:
    pointer = store.cancel(store.tenant.events["planning"][1])
    store.outbox.record_attempt(pointer, 2, NOW)
    store.outbox.record_error(pointer, "pat@fabrikam.example: smtp: 451 busy")

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
