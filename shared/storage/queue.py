"""The notification queue: a base64 message that points at an outbox row, and carries the W3C
trace context of the put that made it (so a delivery joins the trace of its cancel)."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any, Protocol

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import (
    LinearRetry,
    QueueClient,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

from shared.calendar.model import NotificationPointer
from shared.storage.http import storage_options
from shared.use_cases.ports import QueueUnavailable


class QueueConnection(Protocol):
    """Whatever makes a client of a named queue with given SDK options (a connection string's
    or an identity's: `shared/runtime/storage_connection.py: StorageConnection`)."""

    def queue(self, queue_name: str, **options: Any) -> QueueClient: ...


def queue_client(
    connection: str | QueueConnection, name: str, connections: int | None = None, **extra: Any
) -> QueueClient:
    """Base64 both ways (what the Functions queue trigger reads), and quick to give up.

    A cancel has committed its outbox row before the put, so a put that fails costs only
    latency until the sweeper re-sends: one retry after a second, not the SDK's minute.
    `connection` is a connection string, or a connection that makes the client itself; with
    `connections`, its calls go through a `StorageTransport` keeping that many (the app's
    clients); `extra` are further SDK options.
    """
    options: dict[str, Any] = {
        "message_encode_policy": TextBase64EncodePolicy(),
        "message_decode_policy": TextBase64DecodePolicy(),
        "retry_policy": LinearRetry(backoff=1, retry_total=1, random_jitter_range=1),
        "connection_timeout": 5,
        "read_timeout": 10,
        **extra,
    }
    if connections is not None:
        options = storage_options(connections, **options)
    if isinstance(connection, str):
        return QueueClient.from_connection_string(connection, name, **options)
    return connection.queue(name, **options)


TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
TRACESTATE = re.compile(r"[\x20-\x7e]{1,512}")
"""The shapes of W3C `traceparent` and `tracestate` headers; what the propagator accepts of
them is its own business."""


def encode(pointer: NotificationPointer) -> str:
    """`{"mailbox", "notification"}`, and `traceparent`/`tracestate` when the pointer has them."""
    body = {"mailbox": pointer.mailbox, "notification": pointer.notification_id}
    if pointer.traceparent:
        body["traceparent"] = pointer.traceparent
        if pointer.tracestate:
            body["tracestate"] = pointer.tracestate
    return json.dumps(body)


def send_creating(client: QueueClient, message: str, **options: Any) -> None:
    """Put a message, creating the queue when it is not there yet. Another put (or the host)
    may create it between our miss and our create: that queue is the one we wanted."""
    try:
        client.send_message(message, **options)
    except ResourceNotFoundError:
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.send_message(message, **options)


def decode(text: str) -> NotificationPointer | None:
    """The pointer a message carries, or None when it is not one of ours. A message without
    trace context (put before it was carried, or by hand) is a pointer all the same; a trace
    context that is not one is left out, not a reason to drop the delivery."""
    try:
        body = json.loads(text)
        mailbox, notification = body["mailbox"], body["notification"]
    except (ValueError, TypeError, KeyError):
        return None
    if not (isinstance(mailbox, str) and isinstance(notification, str)):
        return None
    traceparent, tracestate = body.get("traceparent"), body.get("tracestate")
    if not (isinstance(traceparent, str) and TRACEPARENT.fullmatch(traceparent)):
        return NotificationPointer(mailbox, notification)
    if not (isinstance(tracestate, str) and TRACESTATE.fullmatch(tracestate)):
        tracestate = None
    return NotificationPointer(mailbox, notification, traceparent, tracestate)


class StorageQueue:
    """The `NotificationQueue` port on Azure Queue Storage; creates the queue on first need."""

    def __init__(self, client: QueueClient) -> None:
        self.client = client

    def enqueue(self, pointer: NotificationPointer) -> None:
        try:
            send_creating(self.client, encode(pointer))
        except AzureError as error:
            raise QueueUnavailable(str(error)) from error
