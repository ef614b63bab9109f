"""The Table and Queue adapters against Azurite: one transaction per cancel, ETag-guarded."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devtools.azurite import Azurite
from devtools.load import DEMO_TENANT, load
from shared.calendar.model import (
    AnyCalendar,
    Caller,
    EmailAddress,
    Me,
    NotificationPointer,
    Placement,
    Recipient,
)
from shared.graph.new_event import parse_new_event
from shared.runtime.settings import Settings
from shared.storage.outbox import TableOutbox
from shared.storage.queue import StorageQueue, decode, queue_client
from shared.storage.tables import (
    MAX_OPERATIONS_PER_TRANSACTION,
    TableCalendars,
    TableDirectory,
    get_text,
    put_text,
    transaction_key,
)
from shared.use_cases.cancellation import CancelEvent, cancel_event, cancellation_of
from shared.use_cases.creation import creation_of
from shared.use_cases.ports import EventCreated, StaleEvent, TransactionTaken

ADELE = "6e7b768e-07e2-4810-8459-485f84f8f204"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


@pytest.fixture
def settings(azurite: Azurite) -> Settings:
    suffix = uuid4().hex[:10]
    return Settings.from_env(
        {
            "AzureWebJobsStorage": azurite.connection_string,
            "CALENDAR_TABLE": f"calendar{suffix}",
            "DIRECTORY_TABLE": f"directory{suffix}",
            "NOTIFICATION_QUEUE": f"cancellations-{suffix}",
        }
    )


@pytest.fixture
def tables(settings: Settings) -> Iterator[TableServiceClient]:
    with TableServiceClient.from_connection_string(settings.storage_connection) as service:
        yield service


@pytest.fixture
def raw_queue(settings: Settings) -> Iterator[QueueClient]:
    """The queue as the Functions host sees it: raw text, no decoding policy."""
    with QueueClient.from_connection_string(
        settings.storage_connection, settings.notification_queue
    ) as client:
        yield client


def caller() -> Caller:
    return Caller("delegated", ADELE, "t", frozenset({"Calendars.ReadWrite"}))


def test_one_cancel_writes_its_outbox_row_and_one_base64_message(
    settings: Settings, tables: TableServiceClient, raw_queue: QueueClient
) -> None:
    loaded = load(json.loads(DEMO_TENANT.read_text()), settings)
    _, event_id = loaded.events["planning"]
    calendar = tables.get_table_client(settings.calendar_table)
    with queue_client(settings.storage_connection, settings.notification_queue) as client:
        cancelled = cancel_event(
            CancelEvent(Me(), AnyCalendar(), event_id, "Moved to January"),
            caller(),
            directory=TableDirectory(tables.get_table_client(settings.directory_table)),
            calendars=TableCalendars(calendar),
            queue=StorageQueue(client),
            now=lambda: NOW,
        )

    event_row = calendar.get_entity(ADELE, f"event|{event_id}")
    assert event_row["Folder"] == "deleteditems"
    stored = json.loads(event_row["Event"])
    assert stored["isCancelled"] is True
    assert stored["lastModifiedDateTime"] == "2026-11-24T09:30:00Z"

    outbox = calendar.get_entity(ADELE, f"outbox|{event_id}")
    assert outbox["Status"] == "pending"
    notification = json.loads(outbox["Notification"])
    assert notification["comment"] == "Moved to January"
    assert notification["iCalUId"] == cancelled.event.i_cal_u_id
    assert notification["sequence"] == 1
    assert [a["emailAddress"]["address"] for a in notification["attendees"]] == [
        "AlexW@contoso.example",
        "MeganB@contoso.example",
        "pat@fabrikam.example",
    ]

    messages = list(raw_queue.receive_messages())
    assert len(messages) == 1
    text = base64.b64decode(messages[0].content).decode()
    pointer = decode(text)
    assert pointer is not None
    assert (pointer.mailbox, pointer.notification_id) == (ADELE, event_id)


def test_a_second_commit_from_the_same_read_is_stale(
    settings: Settings, tables: TableServiceClient
) -> None:
    loaded = load(json.loads(DEMO_TENANT.read_text()), settings)
    _, event_id = loaded.events["planning"]
    calendars = TableCalendars(tables.get_table_client(settings.calendar_table))
    first_read = calendars.find_event(ADELE, event_id)
    second_read = calendars.find_event(ADELE, event_id)
    assert first_read is not None
    assert second_read is not None

    calendars.commit(cancellation_of(first_read, "first", NOW))
    with pytest.raises(StaleEvent):
        calendars.commit(cancellation_of(second_read, "second", NOW))

    outbox = tables.get_table_client(settings.calendar_table).get_entity(
        ADELE, f"outbox|{event_id}"
    )
    assert json.loads(outbox["Notification"])["comment"] == "first"


def test_a_transaction_over_one_hundred_rows_is_refused_before_it_is_sent(
    settings: Settings, tables: TableServiceClient
) -> None:
    table = tables.create_table(settings.calendar_table)
    rows = [
        ("create", {"PartitionKey": "p", "RowKey": f"r{n}"})
        for n in range(MAX_OPERATIONS_PER_TRANSACTION + 1)
    ]
    with pytest.raises(ValueError, match="at most 100"):
        TableCalendars(table).submit(rows)
    assert list(table.list_entities()) == []


def test_long_texts_round_trip_across_properties(
    settings: Settings, tables: TableServiceClient
) -> None:
    table = tables.create_table(settings.calendar_table)
    text = "\U0001f600" * 40_000 + "end"
    row: dict[str, object] = {"PartitionKey": "p", "RowKey": "r"}
    put_text(row, "Text", text)
    table.create_entity(row)
    assert get_text(table.get_entity("p", "r"), "Text") == text


# Creating events ------------------------------------------------------------------------------


def _creation(transaction_id: str | None = "7E163156-7762-4BEB-A1C6-729EA81755A7") -> EventCreated:
    """A meeting of Adele's with two attendees, as `create_event` would commit it."""
    new = parse_new_event(
        {
            "subject": "Create me",
            "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2026-12-01T10:00:00", "timeZone": "Pacific Standard Time"},
            "attendees": [{"emailAddress": {"address": "AlexW@contoso.example"}}],
            **({} if transaction_id is None else {"transactionId": transaction_id}),
        }
    )
    organizer = Recipient(
        email_address=EmailAddress(name="Adele Vance", address="AdeleV@contoso.example")
    )
    placement = Placement("AAMkCal", "AAMkGrp", True, True)
    return creation_of(ADELE, placement, organizer, new, NOW)


def _partition(tables: TableServiceClient, settings: Settings) -> list[dict[str, Any]]:
    calendar = tables.get_table_client(settings.calendar_table)
    return sorted(
        (
            dict(row)
            for row in calendar.query_entities("PartitionKey eq @p", parameters={"p": ADELE})
        ),
        key=lambda row: str(row["RowKey"]),
    )


def test_a_create_writes_event_index_transaction_and_outbox_rows_at_once(
    settings: Settings, tables: TableServiceClient
) -> None:
    load(json.loads(DEMO_TENANT.read_text()), settings)
    calendars = TableCalendars(tables.get_table_client(settings.calendar_table))
    created = _creation()
    assert created.transaction_id is not None
    before = {row["RowKey"] for row in _partition(tables, settings)}

    stored = calendars.create(created)

    event = created.event
    assert stored.etag
    assert calendars.find_event(ADELE, event.id) == stored
    assert calendars.find_transaction(ADELE, created.transaction_id) == event.id
    rows = {row["RowKey"]: row for row in _partition(tables, settings)}
    assert set(rows) - before == {
        f"event|{event.id}",
        f"ical|{event.i_cal_u_id}",
        transaction_key(created.transaction_id),
        f"outbox|{event.id}.invitation",
    }
    assert rows[f"ical|{event.i_cal_u_id}"]["EventId"] == event.id
    assert rows[transaction_key(created.transaction_id)]["TransactionId"] == created.transaction_id
    outbox = TableOutbox(tables.get_table_client(settings.calendar_table))
    entry = outbox.find(NotificationPointer(ADELE, f"{event.id}.invitation"))
    assert entry is not None
    assert (entry.status, entry.notification.method) == ("pending", "REQUEST")


def test_a_taken_transaction_id_writes_nothing(
    settings: Settings, tables: TableServiceClient
) -> None:
    load(json.loads(DEMO_TENANT.read_text()), settings)
    calendars = TableCalendars(tables.get_table_client(settings.calendar_table))
    first = _creation("same")
    calendars.create(first)
    before = _partition(tables, settings)

    second = _creation("same")
    with pytest.raises(TransactionTaken) as taken:
        calendars.create(second)

    assert taken.value.event_id == first.event.id
    assert _partition(tables, settings) == before  # not the event, index or outbox row either
    assert calendars.find_event(ADELE, second.event.id) is None


def test_any_transaction_id_is_a_valid_key_and_none_is_no_row(
    settings: Settings, tables: TableServiceClient
) -> None:
    load(json.loads(DEMO_TENANT.read_text()), settings)
    calendars = TableCalendars(tables.get_table_client(settings.calendar_table))
    odd = "a/b\\c#d?e\x01 " + "é" * 200
    calendars.create(_creation(odd))
    assert calendars.find_transaction(ADELE, odd) is not None
    before = len(_partition(tables, settings))
    calendars.create(_creation(None))
    assert len(_partition(tables, settings)) == before + 3  # event, index, outbox


def test_the_default_calendar_is_read_from_the_mailbox_row(
    settings: Settings, tables: TableServiceClient
) -> None:
    loaded = load(json.loads(DEMO_TENANT.read_text()), settings)
    calendars = TableCalendars(tables.get_table_client(settings.calendar_table))
    assert calendars.find_default_calendar(ADELE) == loaded.calendars[ADELE]["Calendar"]
    assert calendars.find_default_calendar("00000000-0000-4000-8000-000000000000") is None


@pytest.mark.parametrize("keep_seconds", [0, 60])
def test_what_the_directory_and_calendars_found_is_kept_for_the_setting_s_period(
    settings: Settings, tables: TableServiceClient, keep_seconds: float
) -> None:
    """Rows deleted after a first read: found again only when kept (`DIRECTORY_CACHE_SECONDS`)."""
    loaded = load(json.loads(DEMO_TENANT.read_text()), settings)
    directory_table = tables.get_table_client(settings.directory_table)
    calendar_table = tables.get_table_client(settings.calendar_table)
    directory = TableDirectory(directory_table, keep_seconds)
    calendars = TableCalendars(calendar_table, keep_seconds)
    trips = loaded.calendars[ADELE]["Trips"]
    upn = "adelev@contoso.example"
    first = (
        directory.find_user(upn),
        calendars.find_default_calendar(ADELE),
        calendars.find_calendar(ADELE, trips.calendar_id),
    )
    assert None not in first

    directory_table.delete_entity("upn", upn)
    calendar_table.delete_entity(ADELE, "mailbox")
    calendar_table.delete_entity(ADELE, f"calendar|{trips.calendar_id}")
    again = (
        directory.find_user(upn),
        calendars.find_default_calendar(ADELE),
        calendars.find_calendar(ADELE, trips.calendar_id),
    )

    assert again == (first if keep_seconds else (None, None, None))
