"""The create benchmark (DESIGN.md section 10): `POST /v1.0/me/events` of a meeting with three
external attendees through the real HTTP function in-process (`graph_v1`, dev token, Azurite),
versus its floor: the same storage work with the raw SDK and nothing else, one entity-group
transaction (the event row, its iCalUId index row, the invitation outbox row) and one base64
queue put. Taken interleaved, p50 and p99, after a warm-up.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from shared.runtime.services import HTTP_CONNECTIONS
from shared.storage.http import storage_options
from shared.storage.queue import send_creating

ATTENDEES = 3


def create_body(number: int) -> bytes:
    """A Graph event as the SDK sends it: a half-hour meeting, three external attendees."""
    slot = f"2027-01-{1 + number % 28:02d}T{8 + number % 9:02d}"
    return json.dumps(
        {
            "@odata.type": "#microsoft.graph.event",
            "subject": f"Created meeting {number}",
            "body": {"contentType": "html", "content": f"<p>Agenda item {number}.</p>"},
            "start": {"dateTime": f"{slot}:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": f"{slot}:30:00", "timeZone": "Pacific Standard Time"},
            "location": {"displayName": "Conf Room Bench"},
            "attendees": [
                {
                    "type": "required",
                    "emailAddress": {
                        "name": f"Guest {number}-{a}",
                        "address": f"guest{number}.{a}@fabrikam.example",
                    },
                }
                for a in range(ATTENDEES)
            ],
        }
    ).encode()


def create_request(number: int, token: str) -> func.HttpRequest:
    return func.HttpRequest(
        "POST",
        "http://localhost:7071/v1.0/me/events",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        route_params={"path": "me/events"},
        body=create_body(number),
    )


def floor_options() -> dict[str, Any]:
    """A floor's storage client sends as the app's do (`StorageTransport`, as many connections
    kept), so a ratio is the app's own work over the SDK's, many callers at once finding the
    same pools on both sides. Every floor of `./dev bench` is made with these."""
    return storage_options(HTTP_CONNECTIONS)


class CreateFloor:
    """The same storage work as one create, with the raw SDK: the rows hold texts of the sizes
    the app's rows hold (the request's event as JSON, twice: event and notification)."""

    def __init__(self, connection: str, table: str, queue: str) -> None:
        self.table = TableClient.from_connection_string(connection, table, **floor_options())
        self.queue = QueueClient.from_connection_string(
            connection, queue, message_encode_policy=TextBase64EncodePolicy(), **floor_options()
        )

    def create(self, mailbox: str, number: int) -> str:
        event_id = "AAMkFloor" + uuid.uuid4().hex
        text = create_body(number).decode()
        stamp = datetime.now(UTC).isoformat()
        self.table.submit_transaction(
            [
                ("create", {"PartitionKey": mailbox, "RowKey": f"event|{event_id}",
                            "Kind": "event", "Folder": "calendar", "Event": text,
                            "SpanStart": stamp, "SpanEnd": stamp}),
                ("create", {"PartitionKey": mailbox, "RowKey": f"ical|{event_id}",
                            "EventId": event_id}),
                ("create", {"PartitionKey": mailbox, "RowKey": f"outbox|{event_id}.invitation",
                            "Kind": "outbox", "Status": "pending", "CancelledAt": stamp,
                            "Notification": text}),
            ]
        )  # fmt: skip
        send_creating(
            self.queue,
            json.dumps({"mailbox": mailbox, "notification": f"{event_id}.invitation"}),
        )
        return event_id

    def close(self) -> None:
        self.table.close()
        self.queue.close()


def timed_create(handler: Callable[[func.HttpRequest], object], req: func.HttpRequest) -> float:
    start = time.perf_counter_ns()
    response = handler(req)
    elapsed = time.perf_counter_ns() - start
    if not isinstance(response, func.HttpResponse) or response.status_code != 201:
        detail = response.get_body()[:500] if isinstance(response, func.HttpResponse) else response
        status = getattr(response, "status_code", None)
        raise RuntimeError(f"the handler answered {status} instead of 201: {detail!r}")
    return elapsed / 1e6


def timed_floor(floor: CreateFloor, mailbox: str, number: int) -> float:
    start = time.perf_counter_ns()
    floor.create(mailbox, number)
    return (time.perf_counter_ns() - start) / 1e6
