"""Delivery state in Table Storage, beside the outbox row in the organizer's partition.

  `outbox|<notification id>`              written by the cancel; the worker adds `Attempts`,
                                          `LastAttemptAt` and `LastError`, the sweeper `Resends`
                                          and `ResentAt`, the end `Status` and `Reason`
  `delivery|<notification id>|<digest>`   one recipient: `Status` `sending`, `sent`, `failed` or
                                          `rejected`, `Recipient` (the address), `ChangedAt`,
                                          `Detail`; the digest is of the lower-cased address,
                                          which may hold characters a key may not

Every write is in that one partition: a batch of recipients is claimed, and marked, in one
entity-group transaction (up to 100 rows); reading a notification's recipients is one range
query inside it. Only the sweeper queries across partitions, off the hot path.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableTransactionError, UpdateMode
from azure.storage.queue import QueueClient

from shared.calendar.model import Notification, NotificationPointer
from shared.messages.imip import recipient_key
from shared.storage.queue import encode, send_creating
from shared.storage.tables import (
    MAX_OPERATIONS_PER_TRANSACTION,
    get_text,
    outbox_row,
    write_if_unchanged,
)
from shared.use_cases.outbox_sweep import PendingEntry
from shared.use_cases.ports import (
    Ending,
    OutboxEntry,
    QueueUnavailable,
    RecipientMark,
    RecipientState,
    RecipientStatus,
)

MAX_DETAIL = 2_000
_WRITE_TRIES = 5


def without_text(row: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The row less the properties `put_text` spread `name` across, so it can be written anew."""
    chunk = re.compile(rf"{re.escape(name)}(_\d+)?")
    return {key: value for key, value in row.items() if not chunk.fullmatch(key)}


def _outbox_key(pointer: NotificationPointer) -> str:
    return f"outbox|{pointer.notification_id}"


def _delivery_prefix(pointer: NotificationPointer) -> str:
    return f"delivery|{pointer.notification_id}|"


def _delivery_key(pointer: NotificationPointer, address: str) -> str:
    digest = hashlib.sha256(recipient_key(address).encode()).hexdigest()[:32]
    return _delivery_prefix(pointer) + digest


class TableOutbox:
    """The `Outbox` and `PendingOutbox` ports on the calendar table."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def _outbox_row(self, pointer: NotificationPointer) -> Mapping[str, Any] | None:
        try:
            return self.table.get_entity(pointer.mailbox, _outbox_key(pointer))
        except ResourceNotFoundError:
            return None

    def find(self, pointer: NotificationPointer) -> OutboxEntry | None:
        row = self._outbox_row(pointer)
        if row is None:
            return None
        notification = Notification.model_validate_json(get_text(row, "Notification"))
        return OutboxEntry(notification, row["Status"])

    def recipients(self, pointer: NotificationPointer) -> dict[str, RecipientState]:
        prefix = _delivery_prefix(pointer)
        rows = self.table.query_entities(
            "PartitionKey eq @mailbox and RowKey ge @first and RowKey lt @after",
            parameters={"mailbox": pointer.mailbox, "first": prefix, "after": prefix[:-1] + "}"},
        )
        states = {}
        for row in rows:
            state = RecipientState(
                row["Recipient"], row["Status"], row["ChangedAt"], str(row.metadata["etag"])
            )
            states[recipient_key(state.address)] = state
        return states

    def _delivery_row(
        self,
        pointer: NotificationPointer,
        address: str,
        status: RecipientStatus,
        at: datetime,
        detail: str | None,
    ) -> dict[str, Any]:
        return {
            "PartitionKey": pointer.mailbox,
            "RowKey": _delivery_key(pointer, address),
            "Kind": "delivery",
            "Notification": pointer.notification_id,
            "Recipient": address,
            "Status": status,
            "ChangedAt": at,
            "Detail": (detail or "")[:MAX_DETAIL],
        }

    def claim(
        self,
        pointer: NotificationPointer,
        address: str,
        current: RecipientState | None,
        at: datetime,
    ) -> bool:
        row = self._delivery_row(pointer, address, "sending", at, None)
        if current is not None:
            return write_if_unchanged(self.table, row, current.version)
        try:
            self.table.create_entity(row)
        except ResourceExistsError:
            return False
        return True

    def claim_all(
        self,
        pointer: NotificationPointer,
        claims: Sequence[tuple[str, RecipientState | None]],
        at: datetime,
    ) -> list[str]:
        """Up to 100 claims in one transaction (creates, and replaces if still the version
        read). A transaction is all or nothing: when another worker changed one of them first
        (409, 412), the claims of that transaction are made one by one instead."""
        claimed: list[str] = []
        for start in range(0, len(claims), MAX_OPERATIONS_PER_TRANSACTION):
            part = claims[start : start + MAX_OPERATIONS_PER_TRANSACTION]
            operations: list[Any] = []
            for address, current in part:
                row = self._delivery_row(pointer, address, "sending", at, None)
                if current is None:
                    operations.append(("create", row))
                else:
                    operations.append(
                        (
                            "update",
                            row,
                            {
                                "mode": UpdateMode.REPLACE,
                                "etag": current.version,
                                "match_condition": MatchConditions.IfNotModified,
                            },
                        )
                    )
            try:
                self.table.submit_transaction(operations)
            except TableTransactionError as error:
                if error.status_code not in (409, 412, 404):
                    raise
                claimed += [a for a, current in part if self.claim(pointer, a, current, at)]
            else:
                claimed += [address for address, _ in part]
        return claimed

    def mark(
        self,
        pointer: NotificationPointer,
        address: str,
        status: RecipientStatus,
        at: datetime,
        detail: str | None = None,
    ) -> None:
        row = self._delivery_row(pointer, address, status, at, detail)
        self.table.upsert_entity(row, mode=UpdateMode.REPLACE)

    def mark_all(
        self, pointer: NotificationPointer, marks: Sequence[RecipientMark], at: datetime
    ) -> None:
        """Up to 100 marks in one transaction (upserts: they win over any claim, as `mark`)."""
        for start in range(0, len(marks), MAX_OPERATIONS_PER_TRANSACTION):
            part = marks[start : start + MAX_OPERATIONS_PER_TRANSACTION]
            self.table.submit_transaction(
                [
                    (
                        "upsert",
                        self._delivery_row(pointer, m.address, m.status, at, m.detail),
                        {"mode": UpdateMode.REPLACE},
                    )
                    for m in part
                ]
            )

    def _merge(self, pointer: NotificationPointer, values: dict[str, Any]) -> None:
        row = {"PartitionKey": pointer.mailbox, "RowKey": _outbox_key(pointer), **values}
        self.table.update_entity(row, mode=UpdateMode.MERGE)

    def record_attempt(self, pointer: NotificationPointer, attempt: int, at: datetime) -> None:
        self._merge(pointer, {"Attempts": attempt, "LastAttemptAt": at})

    def record_error(self, pointer: NotificationPointer, reason: str) -> None:
        self._merge(pointer, {"LastError": reason[:MAX_DETAIL]})

    def finish(self, pointer: NotificationPointer, status: Ending, reason: str | None) -> None:
        for _ in range(_WRITE_TRIES):
            row = self._outbox_row(pointer)
            if row is None or row["Status"] == "delivered":
                return
            if row["Status"] == status and row.get("Reason", "") == (reason or ""):
                return
            notification = Notification.model_validate_json(get_text(row, "Notification"))
            ended = notification.model_copy(update={"status": status, "reason": reason})
            replacement = without_text(row, "Notification") | outbox_row(ended)
            replacement["Reason"] = (reason or "")[:MAX_DETAIL]
            if write_if_unchanged(self.table, replacement, row.metadata["etag"]):  # type: ignore[attr-defined]
                return
        raise RuntimeError(f"outbox row of {pointer} kept changing; not marked {status}")

    def stale_pending(self, untouched_since: datetime) -> Iterator[PendingEntry]:
        rows = self.table.query_entities(
            "Kind eq @kind and Status eq @status and Timestamp lt @before",
            parameters={"kind": "outbox", "status": "pending", "before": untouched_since},
            select=["PartitionKey", "RowKey", "Resends", "LastError"],
        )
        for row in rows:
            pointer = NotificationPointer(
                row["PartitionKey"], str(row["RowKey"]).removeprefix("outbox|")
            )
            yield PendingEntry(
                pointer,
                int(row.get("Resends") or 0),
                row.get("LastError"),
                str(row.metadata["etag"]),
            )

    def mark_resent(self, entry: PendingEntry, at: datetime) -> bool:
        row = {
            "PartitionKey": entry.pointer.mailbox,
            "RowKey": _outbox_key(entry.pointer),
            "Resends": entry.resends + 1,
            "ResentAt": at,
        }
        try:
            return write_if_unchanged(self.table, row, entry.version, UpdateMode.MERGE)
        except ResourceNotFoundError:
            return False


class QueueRedelivery:
    """The `Redelivery` port: the pointer put on the notification queue again, maybe delayed."""

    def __init__(self, client: QueueClient) -> None:
        self.client = client

    def redeliver(self, pointer: NotificationPointer, delay: timedelta) -> None:
        message = encode(pointer)
        hidden = max(0, math.ceil(delay.total_seconds()))
        try:
            send_creating(self.client, message, visibility_timeout=hidden)
        except AzureError as error:
            raise QueueUnavailable(str(error)) from error
