"""The dev host's queue trigger against real Queue Storage (Azurite)."""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import Callable

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devtools.azurite import Azurite
from devtools.host import DevHost


@pytest.fixture
def queue_connection(azurite: Azurite) -> str:
    """The queue trigger against real Queue Storage: the session's Azurite."""
    return azurite.connection_string


QUEUE_HOST_JSON = {
    "extensions": {
        "queues": {
            "maxPollingInterval": "00:00:00.5",
            "visibilityTimeout": "00:00:00",
            "maxDequeueCount": 2,
            "batchSize": 4,
        }
    }
}


def queue_app(handler: Callable[[func.QueueMessage], None]) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="Storage")
    def worker(msg: func.QueueMessage) -> None:
        handler(msg)

    return app


def wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def raw_messages(connection: str, queue: str) -> list[str]:
    with QueueClient.from_connection_string(connection, queue) as client:
        try:
            return [str(m.content) for m in client.peek_messages(max_messages=32)]
        except ResourceNotFoundError:
            return []


def send(connection: str, queue: str, content: str, *, base64_encode: bool = True) -> None:
    policy = TextBase64EncodePolicy() if base64_encode else None
    with QueueClient.from_connection_string(
        connection, queue, message_encode_policy=policy
    ) as client:
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.send_message(content)


def test_queue_message_success_deletes_it(queue_connection: str) -> None:
    queue = f"devhost-{uuid.uuid4().hex[:12]}"
    seen: list[func.QueueMessage] = []
    send(queue_connection, queue, "héllo {}")
    env = {"Storage": queue_connection, "WORK_QUEUE": queue}
    with DevHost(queue_app(seen.append), QUEUE_HOST_JSON, env, port=0):
        wait_for(lambda: bool(seen))
        wait_for(lambda: raw_messages(queue_connection, queue) == [])
    assert seen[0].get_body() == "héllo {}".encode()
    assert seen[0].dequeue_count == 1
    assert seen[0].id
    assert seen[0].pop_receipt
    assert seen[0].insertion_time is not None


def test_failing_message_is_retried_then_poisoned(queue_connection: str) -> None:
    queue = f"devhost-{uuid.uuid4().hex[:12]}"
    counts: list[int | None] = []

    def failing(msg: func.QueueMessage) -> None:
        counts.append(msg.dequeue_count)
        raise RuntimeError("cannot deliver")

    send(queue_connection, queue, "payload")
    env = {"Storage": queue_connection, "WORK_QUEUE": queue}
    with DevHost(queue_app(failing), QUEUE_HOST_JSON, env, port=0):
        wait_for(lambda: bool(raw_messages(queue_connection, f"{queue}-poison")))
        wait_for(lambda: raw_messages(queue_connection, queue) == [])
    assert counts == [1, 2]
    expected = base64.b64encode(b"payload").decode()
    assert raw_messages(queue_connection, f"{queue}-poison") == [expected]


def test_message_that_is_not_base64_goes_straight_to_poison(queue_connection: str) -> None:
    queue = f"devhost-{uuid.uuid4().hex[:12]}"
    seen: list[func.QueueMessage] = []
    send(queue_connection, queue, "not base64!", base64_encode=False)
    env = {"Storage": queue_connection, "WORK_QUEUE": queue}
    with DevHost(queue_app(seen.append), QUEUE_HOST_JSON, env, port=0):
        wait_for(lambda: bool(raw_messages(queue_connection, f"{queue}-poison")))
    assert seen == []
    assert raw_messages(queue_connection, f"{queue}-poison") == ["not base64!"]
    assert raw_messages(queue_connection, queue) == []


def test_message_encoding_none_passes_the_text(queue_connection: str) -> None:
    queue = f"devhost-{uuid.uuid4().hex[:12]}"
    seen: list[func.QueueMessage] = []
    send(queue_connection, queue, "plain text", base64_encode=False)
    host_json = {"extensions": {"queues": {**QUEUE_HOST_JSON["extensions"]["queues"]}}}
    host_json["extensions"]["queues"]["messageEncoding"] = "none"
    env = {"Storage": queue_connection, "WORK_QUEUE": queue}
    with DevHost(queue_app(seen.append), host_json, env, port=0):
        wait_for(lambda: bool(seen))
    assert seen[0].get_body() == b"plain text"
