"""The fan-out benchmark's storage floor against Azurite: it makes the calls a delivery waits
for, on rows the worker's own adapter reads as a delivered notification."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
from azure.data.tables import TableClient

from devtools.azurite import Azurite
from devtools.bench_fanout import _timed_storage, fanout_notification
from shared.calendar.model import NotificationPointer
from shared.storage.outbox import TableOutbox


@pytest.fixture
def table(azurite: Azurite) -> Iterator[TableClient]:
    with TableClient.from_connection_string(
        azurite.connection_string, f"fanout{uuid4().hex[:12]}"
    ) as client:
        client.create_table()
        yield client


def test_the_storage_floor_reads_claims_and_ends_under_an_id_of_its_own(
    table: TableClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAIL_BATCH", "40")
    item = fanout_notification("mailbox-1", "bench@contoso.example", 150, "s1")
    with ThreadPoolExecutor(1) as beside:
        elapsed = _timed_storage(table, item, beside)

    assert elapsed > 0
    outbox = TableOutbox(table)
    assert outbox.find(NotificationPointer(item.mailbox, item.id)) is None  # the worker's id
    pointer = NotificationPointer(item.mailbox, f"{item.id}.storage")
    entry = outbox.find(pointer)
    assert entry is not None
    assert entry.status == "delivered"
    slices = outbox.slices(pointer)
    assert list(slices) == [0]  # the first slice only, of the worker's MAIL_BATCH
    first = slices[0]
    assert first.addresses == tuple(a.email_address.address for a in item.attendees[:40])
    assert first.complete
    assert not first.claimed
