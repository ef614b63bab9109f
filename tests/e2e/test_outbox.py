"""What one cancel leaves behind: its outbox row and queue message, exactly once, even racing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import requests

from devtools.azurite import Azurite, free_port
from devtools.tokens import DevKey
from tests.e2e.conftest import Stack, app_settings, start_host, stop_host

ADELE = "AdeleV@contoso.example"


def test_concurrent_cancels_yield_one_202_one_404_and_one_outbox_row(stack: Stack) -> None:
    owner, event_id = stack.event("planning")
    token = stack.token(ADELE)
    start = threading.Barrier(2)
    statuses: list[int] = []

    def cancel(comment: str) -> None:
        body = json.dumps({"Comment": comment}).encode()
        start.wait()
        statuses.append(stack.post(f"me/events/{event_id}/cancel", token, body).status_code)

    racers = [threading.Thread(target=cancel, args=(name,)) for name in ("first", "second")]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()

    assert sorted(statuses) == [202, 404]
    outbox_rows = [r for r in stack.rows() if r["RowKey"].startswith("outbox|")]
    assert len(outbox_rows) == 1
    assert outbox_rows[0]["RowKey"] == f"outbox|{event_id}"
    assert stack.messages() == [{"mailbox": owner, "notification": event_id}]


@pytest.fixture
def host_without_queue(azurite: Azurite, dev_key: DevKey) -> Iterator[str]:
    """The app whose queue endpoint is down while its tables work."""
    dead = f"http://127.0.0.1:{free_port()}/devstoreaccount1"
    connection = azurite.connection_string.replace(
        f"QueueEndpoint=http://127.0.0.1:{azurite.ports[1]}/devstoreaccount1",
        f"QueueEndpoint={dead}",
    )
    assert connection != azurite.connection_string
    process, url = start_host(app_settings(azurite, dev_key, AzureWebJobsStorage=connection))
    yield url
    stop_host(process)


def test_a_failed_queue_put_still_answers_202_and_leaves_the_row_pending(
    stack: Stack, host_without_queue: str
) -> None:
    owner, event_id = stack.event("planning")
    response = requests.post(
        f"{host_without_queue}/me/events/{event_id}/cancel",
        data=b'{"Comment": "queue is down"}',
        headers={
            "Authorization": f"Bearer {stack.token(ADELE)}",
            "Content-Type": "application/json",
        },
        timeout=60,
    )

    assert response.status_code == 202, response.text
    outbox = stack.row(owner, f"outbox|{event_id}")
    assert outbox is not None
    assert outbox["Status"] == "pending"
    event = stack.row(owner, f"event|{event_id}")
    assert event is not None
    assert event["Folder"] == "deleteditems"
    assert stack.messages() == []
