"""The mail worker end to end: dev hosts in their own processes running the app's queue and timer
triggers, Azurite behind them, and tables, queue and maildir of the test's own."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devtools.azurite import Azurite
from devtools.load import DEMO_TENANT, Loaded, load
from devtools.tokens import DevKey, mint
from shared.calendar.model import Event, Notification, NotificationPointer
from shared.runtime.settings import Settings
from shared.storage.queue import decode, encode, queue_client, send_creating
from shared.storage.tables import event_row, get_text, ical_index_row, outbox_row
from shared.use_cases.delivery import copy_id
from tests.e2e.conftest import app_settings, start_host, stop_host

ADELE = "AdeleV@contoso.example"
CREATED = "2026-11-20T10:15:00Z"
T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """The first truthy result of `check`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class MailStack:
    """Fresh storage with the demo tenant, and the dev hosts a test starts on it."""

    env: dict[str, str]
    settings: Settings
    tenant: Loaded
    key: DevKey
    maildir: Path
    tables: TableServiceClient
    queue: QueueClient
    hosts: list[subprocess.Popen[bytes]] = field(default_factory=list)
    base_url: str = ""

    def start(self, settings: dict[str, str] | None = None, *, http_only: bool = False) -> str:
        process, self.base_url = start_host({**self.env, **(settings or {})}, http_only=http_only)
        self.hosts.append(process)
        return self.base_url

    def kill(self) -> None:
        """The newest host dies at once, as a crashed worker does: no clean-up of any kind."""
        process = self.hosts.pop()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        while self.hosts:
            stop_host(self.hosts.pop())

    def user(self, upn: str) -> str:
        return self.tenant.users[upn.lower()].id

    def cancel(self, event_id: str, comment: str | None = None, url: str = "") -> None:
        body = {} if comment is None else {"Comment": comment}
        response = requests.post(
            f"{url or self.base_url}/me/events/{event_id}/cancel",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {mint(self.key, subject_oid=self.user(ADELE))}",
                "Content-Type": "application/json",
            },
            timeout=60,
        )
        assert response.status_code == 202, response.text

    def add_event(self, key: str, subject: str, attendees: list[str], **extra: Any) -> str:
        """One more meeting Adele organizes, loaded beside the demo tenant; its id."""
        tenant = json.loads(DEMO_TENANT.read_text())
        tenant["events"] = [
            {
                "key": key,
                "owner": ADELE,
                "subject": subject,
                "start": {"dateTime": "2026-12-14T10:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-12-14T10:30:00.0000000", "timeZone": "UTC"},
                "attendees": [
                    {"type": "required", "emailAddress": {"name": "", "address": address}}
                    for address in attendees
                ],
                **extra,
            }
        ]
        loaded = load(tenant, self.settings)
        self.tenant.events[key] = loaded.events[key]
        self.tenant.copies[key] = loaded.copies[key]
        return loaded.events[key][1]

    def invite(
        self,
        key: str,
        subject: str,
        attendees: list[str],
        *,
        put: bool = True,
        cancelled_dates: tuple[str, ...] = (),
        **extra: Any,
    ) -> Notification:
        """A meeting Adele creates, as the create writes it: her event, its `ical|` index row
        and the invitation's outbox row in one transaction, then (unless `put` is False: a put
        that failed) the queue message pointing at the row. Written here rather than through
        `POST …/events`, so that these tests stand on the worker alone. `extra` is more of the
        meeting in Graph's names (`recurrence`, `start`, …); `cancelled_dates` are occurrences
        of a series cancelled already."""
        adele = self.user(ADELE)
        uid = "040000008200E00074C5B7101A82E008" + hashlib.sha256(key.encode()).hexdigest()
        event_id = f"AAMkInvite{key}"
        meeting = {
            "iCalUId": uid,
            "subject": subject,
            "body": {"contentType": "text", "content": f"Agenda of {subject}"},
            "start": {"dateTime": "2026-12-14T10:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-14T10:30:00.0000000", "timeZone": "UTC"},
            "location": {"displayName": "Conf Room Rainier"},
            "organizer": {"emailAddress": {"name": "Adele Vance", "address": ADELE}},
            "attendees": [
                {"type": "required", "emailAddress": {"name": "", "address": address}}
                for address in attendees
            ],
            "cancelledOccurrences": [f"OID.{event_id}.{day}" for day in cancelled_dates],
            **extra,
        }
        event = Event.model_validate(
            {
                **meeting,
                "id": event_id,
                "isOrganizer": True,
                "type": "seriesMaster" if meeting.get("recurrence") else "singleInstance",
                "createdDateTime": CREATED,
                "lastModifiedDateTime": CREATED,
                "changeKey": f"created-{key}",
            }
        )
        invitation = Notification.model_validate(
            {
                **meeting,
                "method": "REQUEST",
                "id": f"{event_id}.invitation",
                "mailbox": adele,
                "eventId": event_id,
                "sequence": 0,
                "comment": None,
                "cancelledAt": CREATED,
            }
        )
        placement = self.tenant.calendars[adele]["Calendar"]
        client = self.tables.get_table_client(self.settings.calendar_table)
        client.submit_transaction(
            [
                ("create", event_row(adele, event, placement, "calendar")),
                ("create", ical_index_row(adele, uid, event_id)),
                ("create", outbox_row(invitation)),
            ]
        )
        if put:
            self.put(invitation.id)
        return invitation

    def invited_copy(self, upn: str, invitation: Notification) -> Event | None:
        """The attendee's copy of an invited meeting, found as a reader finds it (by the
        `ical|` index row); None when there is none."""
        mailbox = self.user(upn)
        index = self.row(mailbox, f"ical|{invitation.i_cal_u_id}")
        if index is None:
            return None
        assert index["EventId"] == copy_id(mailbox, invitation.i_cal_u_id)
        return self.copy(upn, index["EventId"])

    def events_with(self, upn: str, i_cal_u_id: str) -> int:
        """How many events of the mailbox carry that iCalUId (a copy made twice would be two)."""
        client = self.tables.get_table_client(self.settings.calendar_table)
        rows = client.query_entities(
            "PartitionKey eq @mailbox and Kind eq 'event' and ICalUId eq @uid",
            parameters={"mailbox": self.user(upn), "uid": i_cal_u_id},
        )
        return len(list(rows))

    def row(self, mailbox: str, key: str) -> dict[str, Any] | None:
        client = self.tables.get_table_client(self.settings.calendar_table)
        try:
            return dict(client.get_entity(mailbox, key))
        except ResourceNotFoundError:
            return None

    def outbox(self, notification_id: str) -> dict[str, Any]:
        row = self.row(self.user(ADELE), f"outbox|{notification_id}")
        assert row is not None
        return row

    def ended(self, notification_id: str) -> dict[str, Any] | None:
        row = self.outbox(notification_id)
        return row if row["Status"] != "pending" else None

    def deliveries(self, notification_id: str) -> dict[str, str]:
        """Each recipient's delivery status, by address, from the rows of its slices: `sending`
        while its slice is claimed and it is not yet sent."""
        client = self.tables.get_table_client(self.settings.calendar_table)
        rows = client.query_entities(
            "PartitionKey eq @mailbox and Kind eq 'delivery' and Notification eq @id",
            parameters={"mailbox": self.user(ADELE), "id": notification_id},
        )
        statuses = {}
        for row in rows:
            for recipient in json.loads(get_text(row, "Recipients")):
                status = recipient["status"]
                if row["Status"] == "sending" and status not in ("sent", "rejected"):
                    status = "sending"
                statuses[recipient["address"]] = status
        return statuses

    def copy(self, upn: str, copy_id: str) -> Event:
        row = self.row(self.user(upn), f"event|{copy_id}")
        assert row is not None
        return Event.model_validate_json(get_text(row, "Event"))

    def put(self, notification_id: str) -> None:
        """The message a cancel puts, once more: what a redelivery looks like to the worker."""
        pointer = NotificationPointer(self.user(ADELE), notification_id)
        send_creating(self.queue, encode(pointer))

    def queued(self, name: str | None = None) -> int:
        """Messages in the queue (or the named one), visible or not."""
        queue_name = name or self.settings.notification_queue
        with QueueClient.from_connection_string(self.settings.storage_connection, queue_name) as q:
            try:
                return int(q.get_queue_properties().approximate_message_count or 0)
            except ResourceNotFoundError:
                return 0

    def poisoned(self) -> list[NotificationPointer | None]:
        name = f"{self.settings.notification_queue}-poison"
        with QueueClient.from_connection_string(self.settings.storage_connection, name) as q:
            try:
                peeked = q.peek_messages(max_messages=32)
            except ResourceNotFoundError:
                return []
            return [decode(base64.b64decode(message.content).decode()) for message in peeked]

    def eml(self) -> list[Path]:
        return sorted((self.maildir / "new").glob("*.eml"))

    def wait_for_eml(self, count: int) -> list[Path]:
        wait_until(lambda: len(self.eml()) >= count, f"{count} .eml files")
        return self.eml()


def create_stack(azurite: Azurite, dev_key: DevKey, maildir: Path) -> MailStack:
    suffix = uuid4().hex[:10]
    env = app_settings(
        azurite,
        dev_key,
        CALENDAR_TABLE=f"mailcal{suffix}",
        DIRECTORY_TABLE=f"maildir{suffix}",
        NOTIFICATION_QUEUE=f"mail-{suffix}",
        MAIL_TRANSPORT="maildir",
        MAIL_MAILDIR=str(maildir),
        SWEEP_SCHEDULE="*/1 * * * * *",
        SWEEP_AFTER_SECONDS="300",
    )
    settings = Settings.from_env(env)
    tenant = load(json.loads(DEMO_TENANT.read_text()), settings)
    tables = TableServiceClient.from_connection_string(settings.storage_connection)
    queue = queue_client(settings.storage_connection, settings.notification_queue)
    return MailStack(env, settings, tenant, dev_key, maildir, tables, queue)


def dispose(stack: MailStack) -> None:
    stack.stop()
    for table in (stack.settings.calendar_table, stack.settings.directory_table):
        stack.tables.delete_table(table)
    queue = stack.settings.notification_queue
    for name in (queue, f"{queue}-poison"):
        with (
            QueueClient.from_connection_string(stack.settings.storage_connection, name) as client,
            suppress(ResourceNotFoundError),
        ):
            client.delete_queue()
    stack.tables.close()
    stack.queue.close()


@pytest.fixture
def make_stack(
    azurite: Azurite, dev_key: DevKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], MailStack]]:
    made: list[MailStack] = []

    def make() -> MailStack:
        made.append(create_stack(azurite, dev_key, tmp_path_factory.mktemp("maildir")))
        return made[-1]

    yield make
    for stack in made:
        dispose(stack)
