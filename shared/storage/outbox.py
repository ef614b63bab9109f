"""Delivery state in Table Storage, beside the outbox row in the organizer's partition.

  `outbox|<notification id>`              written by the cancel; the worker adds, when an
                                          attempt fails or ends the row, `Attempts`,
                                          `LastAttemptAt` and `LastError` (failed), `Status`
                                          and `Reason` (ended); the sweeper `Resends` and
                                          `ResentAt`
  `delivery|<notification id>|<index>`    one slice of the recipients (`RecipientSlice`):
                                          `Status` `sending` (claimed) or `ended`, `ChangedAt`,
                                          `Size`, `Recipients` (JSON: each recipient's
                                          `address`, `status` and `detail`, in order); the
                                          index is five digits, so the rows sort in order;
                                          the first slice's `Size` is the notification's
                                          slice size (the row's create decides it)

Every write is in that one partition, one row at a time: a slice of recipients is claimed,
and ended, in one write; reading a notification's slices is one range query inside it. Only
the sweeper queries across partitions, off the hot path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode
from azure.storage.queue import QueueClient

from shared.calendar.model import Notification, NotificationPointer
from shared.storage.queue import encode, send_creating
from shared.storage.tables import (
    get_text,
    outbox_row,
    put_text,
    write_if_unchanged,
)
from shared.use_cases.outbox_sweep import PendingEntry
from shared.use_cases.ports import (
    Attempt,
    Ending,
    OutboxEntry,
    QueueUnavailable,
    RecipientSlice,
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


def _slice_key(pointer: NotificationPointer, index: int) -> str:
    return f"{_delivery_prefix(pointer)}{index:05d}"


MAX_RECIPIENT_DETAIL = 500
"""A recipient's failure as a slice row keeps it: 100 recipients' fit the row many times."""


def slice_row(pointer: NotificationPointer, state: RecipientSlice) -> dict[str, Any]:
    """The row of one slice of a notification's recipients."""
    recipients = [
        {"address": address, "status": status, "detail": detail[:MAX_RECIPIENT_DETAIL]}
        for address, status, detail in zip(
            state.addresses, state.statuses, state.details, strict=True
        )
    ]
    row: dict[str, Any] = {
        "PartitionKey": pointer.mailbox,
        "RowKey": _slice_key(pointer, state.index),
        "Kind": "delivery",
        "Notification": pointer.notification_id,
        "Slice": state.index,
        "Size": len(state.addresses),
        "Status": "sending" if state.claimed else "ended",
        "ChangedAt": state.changed_at,
    }
    put_text(row, "Recipients", json.dumps(recipients, ensure_ascii=False))
    return row


def slice_of(row: Mapping[str, Any]) -> RecipientSlice:
    """The slice a row holds (as `slice_row` wrote it)."""
    recipients = json.loads(get_text(row, "Recipients"))
    return RecipientSlice(
        int(row["Slice"]),
        tuple(str(r["address"]) for r in recipients),
        tuple(r["status"] for r in recipients),
        tuple(str(r["detail"]) for r in recipients),
        claimed=row["Status"] == "sending",
        changed_at=row["ChangedAt"],
        version=str(row.metadata["etag"]),  # type: ignore[attr-defined]
    )


def _ended_row(notification: Notification, status: Ending, reason: str | None) -> dict[str, Any]:
    """The outbox row's properties once it ends: status and reason, in its JSON as well."""
    ended = notification.model_copy(update={"status": status, "reason": reason})
    return outbox_row(ended) | {"Reason": (reason or "")[:MAX_DETAIL]}


def _attempt(attempt: Attempt | None) -> dict[str, Any]:
    """The properties that note an attempt on the outbox row."""
    if attempt is None:
        return {}
    return {"Attempts": attempt.number, "LastAttemptAt": attempt.at}


def _text_names(row: Mapping[str, Any]) -> list[str]:
    """The properties `put_text` spread a row's `Notification` across."""
    chunk = re.compile(r"Notification(_\d+)?")
    return [name for name in row if chunk.fullmatch(name)]


def _version(etag: str, parts: int) -> str:
    """An outbox row's version as `OutboxEntry` carries it: its ETag, and how many properties
    its notification text takes (so the row's end knows which are left over)."""
    return f"{etag}#{parts}"


def _etag(version: str) -> str:
    return version.rpartition("#")[0]


def _parts(version: str) -> int:
    return int(version.rpartition("#")[2])


def _entry(row: Mapping[str, Any]) -> OutboxEntry:
    notification = Notification.model_validate_json(get_text(row, "Notification"))
    return OutboxEntry(
        notification,
        row["Status"],
        _version(str(row.metadata["etag"]), len(_text_names(row))),  # type: ignore[attr-defined]
    )


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
        return None if row is None else _entry(row)

    def slices(self, pointer: NotificationPointer) -> dict[int, RecipientSlice]:
        prefix = _delivery_prefix(pointer)
        rows = self.table.query_entities(
            "PartitionKey eq @mailbox and RowKey ge @first and RowKey lt @after",
            parameters={"mailbox": pointer.mailbox, "first": prefix, "after": prefix[:-1] + "}"},
        )
        states = (slice_of(row) for row in rows)
        return {state.index: state for state in states}

    def claim_slice(
        self, pointer: NotificationPointer, claim: RecipientSlice, current: RecipientSlice | None
    ) -> RecipientSlice | None:
        row = slice_row(pointer, claim)
        try:
            if current is None:
                written = self.table.create_entity(row)
            else:
                written = self.table.update_entity(
                    row,
                    mode=UpdateMode.REPLACE,
                    etag=current.version,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return None  # another worker wrote it first (or ended the notification's rows)
        return replace(claim, version=str(written["etag"]))

    def end_slice(self, pointer: NotificationPointer, ended: RecipientSlice) -> None:
        self.table.upsert_entity(slice_row(pointer, ended), mode=UpdateMode.REPLACE)

    def _merge(self, pointer: NotificationPointer, values: dict[str, Any]) -> None:
        row = {"PartitionKey": pointer.mailbox, "RowKey": _outbox_key(pointer), **values}
        self.table.update_entity(row, mode=UpdateMode.MERGE)

    def record_error(
        self, pointer: NotificationPointer, reason: str, attempt: Attempt | None = None
    ) -> None:
        self._merge(pointer, {"LastError": reason[:MAX_DETAIL], **_attempt(attempt)})

    def finish(
        self,
        pointer: NotificationPointer,
        status: Ending,
        reason: str | None,
        seen: OutboxEntry | None = None,
        attempt: Attempt | None = None,
    ) -> None:
        """With `seen`: one write, merged on that version. When the row moved on since
        (another worker, the sweeper), or without it: the row read and replaced until it
        holds."""
        if seen is not None and seen.status == "pending" and seen.version:
            end = _ended_row(seen.notification, status, reason) | _attempt(attempt)
            # The text may have taken more properties than the new one needs: those left over
            # are emptied (`get_text` joins the properties there are).
            for number in range(len(_text_names(end)), _parts(seen.version)):
                end[f"Notification_{number}"] = ""
            try:
                self.table.update_entity(
                    end,
                    mode=UpdateMode.MERGE,
                    etag=_etag(seen.version),
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except (ResourceModifiedError, ResourceNotFoundError):
                pass
        for _ in range(_WRITE_TRIES):
            row = self._outbox_row(pointer)
            if row is None or row["Status"] == "delivered":
                return
            if row["Status"] == status and row.get("Reason", "") == (reason or ""):
                return
            notification = Notification.model_validate_json(get_text(row, "Notification"))
            replacement = (
                without_text(row, "Notification")
                | _ended_row(notification, status, reason)
                | _attempt(attempt)
            )
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
