"""Table Storage adapters: the directory and the mailboxes' calendars, partitioned by owner.

Calendar table rows, all in the owner's partition (user object id or group id):
  `mailbox`                    the mailbox itself (address, default calendar and group)
  `calendargroup|<id>`         a calendar group
  `calendar|<id>`              a calendar
  `event|<id>`                 an event; `Folder` is `calendar` or `deleteditems`
  `ical|<iCalUId>`             index: which event in this mailbox carries that iCalUId
  `outbox|<id>`                the notification record of one cancellation (or, as
                               `outbox|<event id>.invitation`, of a meeting's invitation)
  `txn|<sha256 of the id>`     a create's `transactionId`: which event it made
Directory table rows: `user|<oid>`, `upn|<upn>`, `mail|<address>` (a user, by each key) and
`group|<id>`; partition and row key are the two halves.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.calendar.errors import ServiceUnavailable
from shared.calendar.model import (
    Event,
    EventCancelled,
    Group,
    Notification,
    Placement,
    StoredEvent,
    User,
)
from shared.calendar.recurrence import span
from shared.calendar.windows import Window
from shared.storage.remembered import Remembered
from shared.use_cases.ports import AlreadyNotified, EventCreated, StaleEvent, TransactionTaken

# A Table string holds 64 KiB of UTF-16: 16,384 code points always fit, whatever they are.
_CHUNK = 16_384
MAX_OPERATIONS_PER_TRANSACTION = 100


def put_text(entity: dict[str, Any], name: str, text: str) -> None:
    """Store a long text across `name`, `name_1`, `name_2`, … properties."""
    chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
    entity[name] = chunks[0]
    for number, chunk in enumerate(chunks[1:], start=1):
        entity[f"{name}_{number}"] = chunk


def get_text(entity: Mapping[str, Any], name: str) -> str:
    parts = [str(entity[name])]
    number = 1
    while f"{name}_{number}" in entity:
        parts.append(str(entity[f"{name}_{number}"]))
        number += 1
    return "".join(parts)


@contextmanager
def storage_errors() -> Iterator[None]:
    """Storage that cannot be reached is a 503 to the caller, never a traceback."""
    try:
        yield
    except (ResourceNotFoundError, TableTransactionError):
        raise
    except AzureError as error:
        raise ServiceUnavailable() from error


def write_if_unchanged(
    table: TableClient,
    entity: Mapping[str, Any],
    etag: str,
    mode: UpdateMode = UpdateMode.REPLACE,
) -> bool:
    """Write `entity` only while its row still has `etag`; False when another writer came first."""
    try:
        table.update_entity(
            entity, mode=mode, etag=etag, match_condition=MatchConditions.IfNotModified
        )
    except ResourceModifiedError:
        return False
    return True


def event_row(mailbox: str, event: Event, placement: Placement, folder: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PartitionKey": mailbox,
        "RowKey": f"event|{event.id}",
        "Kind": "event",
        "Folder": folder,
        "ICalUId": event.i_cal_u_id,
        "CalendarId": placement.calendar_id,
        "CalendarGroupId": placement.calendar_group_id,
        "InDefaultCalendar": placement.in_default_calendar,
        "InDefaultCalendarGroup": placement.in_default_calendar_group,
    }
    row["SpanStart"], row["SpanEnd"] = span(event)
    put_text(row, "Event", event.model_dump_json(by_alias=True))
    return row


def stored_event(
    mailbox: str, row: Mapping[str, Any], parsed: ParsedEvents | None = None
) -> StoredEvent:
    placement = Placement(
        calendar_id=row["CalendarId"],
        calendar_group_id=row["CalendarGroupId"],
        in_default_calendar=row["InDefaultCalendar"],
        in_default_calendar_group=row["InDefaultCalendarGroup"],
    )
    etag = str(row.metadata["etag"])  # type: ignore[attr-defined]
    if parsed is None:
        event = Event.model_validate_json(get_text(row, "Event"))
    else:
        event = parsed.event((mailbox, row["RowKey"], etag), lambda: get_text(row, "Event"))
    return StoredEvent(mailbox, event, placement, etag)


class ParsedEvents:
    """Events already parsed from their rows, by partition, row and ETag: a row whose ETag has
    not changed holds the same JSON, and an `Event` is immutable, so it can be handed out again.
    Parsing is most of what a list costs beyond the query; the newest `size` are kept."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._events: OrderedDict[tuple[str, str, str], Event] = OrderedDict()
        self._lock = threading.Lock()

    def event(self, key: tuple[str, str, str], text: Callable[[], str]) -> Event:
        with self._lock:
            found = self._events.get(key)
            if found is not None:
                self._events.move_to_end(key)
                return found
        event = Event.model_validate_json(text())
        with self._lock:
            self._events[key] = event
            while len(self._events) > self.size:
                self._events.popitem(last=False)
        return event


def outbox_row(notification: Notification) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PartitionKey": notification.mailbox,
        "RowKey": f"outbox|{notification.id}",
        "Kind": "outbox",
        "Status": notification.status,
        "CancelledAt": notification.cancelled_at,
    }
    put_text(row, "Notification", notification.model_dump_json(by_alias=True))
    return row


def user_rows(user: User) -> list[dict[str, Any]]:
    """A user under each key it is found by: object id, userPrincipalName and mail."""
    fields = {
        "UserId": user.id,
        "UserPrincipalName": user.user_principal_name,
        "Mail": user.mail,
        "DisplayName": user.display_name,
    }
    keys = {("user", user.id), ("upn", user.user_principal_name.lower())}
    if user.mail:
        keys.add(("mail", user.mail.lower()))
    rows = [{"PartitionKey": pk, "RowKey": rk, **fields} for pk, rk in sorted(keys)]
    domain = mail_domain(user.mail)
    if domain:  # the tenant's accepted domains: every domain a user's mail is at
        rows.append({"PartitionKey": "domain", "RowKey": domain})
    return rows


def mail_domain(address: str) -> str:
    """The domain of an address, lower-cased, as the `domain` rows key it ("" without one)."""
    return address.strip().rpartition("@")[2].lower() if "@" in address else ""


def group_row(group: Group) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PartitionKey": "group",
        "RowKey": group.id,
        "DisplayName": group.display_name,
        "Mail": group.mail,
    }
    put_text(row, "Members", json.dumps(sorted(group.members)))
    return row


def ical_index_row(mailbox: str, ical_uid: str, event_id: str) -> dict[str, Any]:
    return {"PartitionKey": mailbox, "RowKey": f"ical|{ical_uid}", "EventId": event_id}


def transaction_key(transaction_id: str) -> str:
    """A `transactionId` as a row key: any text a client sends (Table keys forbid `/ \\ # ?`
    and control characters), so its SHA-256 in hex; the row keeps the id itself."""
    return f"txn|{hashlib.sha256(transaction_id.encode('utf-8', 'surrogatepass')).hexdigest()}"


def transaction_row(mailbox: str, transaction_id: str, event_id: str) -> dict[str, Any]:
    return {
        "PartitionKey": mailbox,
        "RowKey": transaction_key(transaction_id),
        "TransactionId": transaction_id,
        "EventId": event_id,
    }


def upsert_rows(table: TableClient, rows: list[dict[str, Any]]) -> None:
    """Write rows in as few transactions as the service allows (one partition, 100 rows each);
    a row given twice (a domain many users share) is written once, as given last."""
    by_partition: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_partition.setdefault(row["PartitionKey"], {})[row["RowKey"]] = row
    with storage_errors():
        for keyed in by_partition.values():
            partition_rows = list(keyed.values())
            for start in range(0, len(partition_rows), MAX_OPERATIONS_PER_TRANSACTION):
                batch = partition_rows[start : start + MAX_OPERATIONS_PER_TRANSACTION]
                table.submit_transaction(
                    [("upsert", row, {"mode": UpdateMode.REPLACE}) for row in batch]
                )


class TableCalendars:
    """The `Calendars` port on one Table: point reads and one transaction per change. Where a
    mailbox's calendars sit is kept for `keep_seconds` (`shared/storage/remembered.py`)."""

    def __init__(self, table: TableClient, keep_seconds: float = 0) -> None:
        self.table = table
        self.parsed = ParsedEvents()
        self.kept: Remembered[tuple[str, str], Placement] = Remembered(keep_seconds)

    def find_event(self, mailbox: str, event_id: str) -> StoredEvent | None:
        try:
            with storage_errors():
                row = self.table.get_entity(mailbox, f"event|{event_id}")
        except ResourceNotFoundError:
            return None
        return None if row["Folder"] != "calendar" else stored_event(mailbox, row, self.parsed)

    def find_calendar(self, mailbox: str, calendar_id: str) -> Placement | None:
        return self.kept.get((mailbox, calendar_id), lambda: self._calendar(mailbox, calendar_id))

    def _calendar(self, mailbox: str, calendar_id: str) -> Placement | None:
        try:
            with storage_errors():
                row = self.table.get_entity(mailbox, f"calendar|{calendar_id}")
        except ResourceNotFoundError:
            return None
        return Placement(
            calendar_id=calendar_id,
            calendar_group_id=row["CalendarGroupId"],
            in_default_calendar=bool(row.get("IsDefaultCalendar")),
            in_default_calendar_group=bool(row.get("InDefaultCalendarGroup")),
        )

    def list_events(self, mailbox: str, window: Window | None) -> list[StoredEvent]:
        """One query of the owner's partition: its event rows (a row-key range) in the calendar,
        and with a window only those whose span overlaps it."""
        query = (
            "PartitionKey eq @mailbox and RowKey ge 'event|' and RowKey lt 'event}' "
            "and Folder eq 'calendar'"
        )
        parameters: dict[str, Any] = {"mailbox": mailbox}
        if window is not None:
            query += " and SpanStart lt @end and SpanEnd gt @start"
            parameters.update(start=window[0], end=window[1])
        with storage_errors():
            rows = list(self.table.query_entities(query, parameters=parameters))
        return [stored_event(mailbox, row, self.parsed) for row in rows]

    def commit(self, cancelled: EventCancelled) -> None:
        previous = cancelled.previous
        folder = "deleteditems" if cancelled.leaves_calendar else "calendar"
        operations: list[Any] = [
            (
                "update",
                event_row(previous.mailbox, cancelled.event, previous.placement, folder),
                {
                    "mode": UpdateMode.REPLACE,
                    "etag": previous.etag,
                    "match_condition": MatchConditions.IfNotModified,
                },
            ),
        ]
        if not cancelled.silent:
            operations.append(("create", outbox_row(cancelled.notification)))
        self.submit(operations)

    def find_default_calendar(self, mailbox: str) -> Placement | None:
        """The `mailbox` row names the default calendar and its group (one point read, kept
        for `keep_seconds`)."""
        return self.kept.get(("mailbox", mailbox), lambda: self._default_calendar(mailbox))

    def _default_calendar(self, mailbox: str) -> Placement | None:
        try:
            with storage_errors():
                row = self.table.get_entity(mailbox, "mailbox")
        except ResourceNotFoundError:
            return None
        return Placement(
            calendar_id=row["DefaultCalendarId"],
            calendar_group_id=row["DefaultCalendarGroupId"],
            in_default_calendar=True,
            in_default_calendar_group=True,
        )

    def find_transaction(self, mailbox: str, transaction_id: str) -> str | None:
        try:
            with storage_errors():
                row = self.table.get_entity(mailbox, transaction_key(transaction_id))
        except ResourceNotFoundError:
            return None
        return str(row["EventId"])

    def create(self, created: EventCreated) -> StoredEvent:
        """One transaction of new rows only: the event, its iCalUId index, its transaction and
        its outbox row. A taken transaction id (a row that exists) fails all of them."""
        mailbox, event = created.mailbox, created.event
        operations: list[Any] = [
            ("create", event_row(mailbox, event, created.placement, "calendar")),
            ("create", ical_index_row(mailbox, event.i_cal_u_id, event.id)),
        ]
        if created.transaction_id is not None:
            operations.append(
                ("create", transaction_row(mailbox, created.transaction_id, event.id))
            )
        if created.notification is not None:
            operations.append(("create", outbox_row(created.notification)))
        try:
            with storage_errors():
                results = self.table.submit_transaction(operations)
        except TableTransactionError as error:
            if error.status_code == 409 and created.transaction_id is not None:
                first = self.find_transaction(mailbox, created.transaction_id)
                if first is not None:
                    raise TransactionTaken(first) from error
            raise ServiceUnavailable() from error
        return StoredEvent(mailbox, event, created.placement, str(results[0]["etag"]))

    def submit(self, operations: list[Any]) -> None:
        if len(operations) > MAX_OPERATIONS_PER_TRANSACTION:
            raise ValueError(f"a transaction holds at most {MAX_OPERATIONS_PER_TRANSACTION} rows")
        try:
            with storage_errors():
                self.table.submit_transaction(operations)
        except TableTransactionError as error:
            if error.status_code == 412:
                raise StaleEvent() from error
            if error.status_code == 409:
                raise AlreadyNotified() from error
            raise ServiceUnavailable() from error
        except ResourceNotFoundError as error:
            raise StaleEvent() from error


class TableDirectory:
    """The `Directory` port: users by object id or UPN, groups by id, each a point read, what
    was found kept for `keep_seconds` (`shared/storage/remembered.py`)."""

    def __init__(self, table: TableClient, keep_seconds: float = 0) -> None:
        self.table = table
        self.kept: Remembered[tuple[str, str], Mapping[str, Any]] = Remembered(keep_seconds)

    def _row(self, partition: str, key: str) -> Mapping[str, Any] | None:
        return self.kept.get((partition, key), lambda: self._read(partition, key))

    def _read(self, partition: str, key: str) -> Mapping[str, Any] | None:
        try:
            with storage_errors():
                return self.table.get_entity(partition, key)
        except ResourceNotFoundError:
            return None

    def find_user(self, key: str) -> User | None:
        row = self._row("upn" if "@" in key else "user", key)
        if row is None:
            return None
        return User(
            id=row["UserId"],
            user_principal_name=row["UserPrincipalName"],
            mail=row["Mail"],
            display_name=row["DisplayName"],
        )

    def accepted_domains(self) -> frozenset[str] | None:
        """The domains the tenant's users' mail is at (the `domain` rows, one query, kept as
        users are); None when the directory has none (written before it kept them): then
        every address may be a user's."""
        rows = self.kept.get(("domain", ""), self._domain_rows)
        if rows is None or not rows:
            return None
        return frozenset(str(row["RowKey"]) for row in rows.values())

    def _domain_rows(self) -> Mapping[str, Any] | None:
        with storage_errors():
            rows = self.table.query_entities(
                "PartitionKey eq 'domain'", select=["RowKey"], results_per_page=1000
            )
            found = {str(row["RowKey"]): row for row in rows}
        return found or None

    def find_user_by_mail(self, address: str) -> User | None:
        row = self._row("mail", address.lower())
        return None if row is None else self.find_user(row["UserId"])

    def find_group(self, group_id: str) -> Group | None:
        row = self._row("group", group_id)
        if row is None:
            return None
        return Group(
            id=row["RowKey"],
            display_name=row["DisplayName"],
            mail=row["Mail"],
            members=frozenset(json.loads(get_text(row, "Members"))),
        )
