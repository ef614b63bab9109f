"""The notification queue: a base64 message that points at an outbox row, nothing more."""

from __future__ import annotations

import json

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.queue import (
    LinearRetry,
    QueueClient,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

from shared.calendar.model import NotificationPointer
from shared.use_cases.ports import QueueUnavailable


def queue_client(connection: str, name: str) -> QueueClient:
    """Base64 both ways (what the Functions queue trigger reads), and quick to give up.

    A cancel has committed its outbox row before the put, so a put that fails costs only
    latency until the sweeper re-sends: one retry after a second, not the SDK's minute.
    """
    return QueueClient.from_connection_string(
        connection,
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
        retry_policy=LinearRetry(backoff=1, retry_total=1, random_jitter_range=1),
        connection_timeout=5,
        read_timeout=10,
    )


def encode(pointer: NotificationPointer) -> str:
    return json.dumps({"mailbox": pointer.mailbox, "notification": pointer.notification_id})


def decode(text: str) -> NotificationPointer | None:
    """The pointer a message carries, or None when it is not one of ours."""
    try:
        body = json.loads(text)
        mailbox, notification = body["mailbox"], body["notification"]
    except (ValueError, TypeError, KeyError):
        return None
    if not (isinstance(mailbox, str) and isinstance(notification, str)):
        return None
    return NotificationPointer(mailbox, notification)


class StorageQueue:
    """The `NotificationQueue` port on Azure Queue Storage; creates the queue on first need."""

    def __init__(self, client: QueueClient) -> None:
        self.client = client

    def enqueue(self, pointer: NotificationPointer) -> None:
        message = encode(pointer)
        try:
            try:
                self.client.send_message(message)
            except ResourceNotFoundError:
                self.client.create_queue()
                self.client.send_message(message)
        except AzureError as error:
            raise QueueUnavailable(str(error)) from error
