"""Internal attendees' copies of a meeting, created and cancelled in their own partitions.

An attendee whose address is a user of the directory has a copy of the meeting in their
mailbox: `ical|<iCalUId>` names it, `event|<id>` holds it.

- An invitation (`REQUEST`) creates it: `delivery.invited_copy` under `delivery.copy_id`, in
  the attendee's default calendar (the `mailbox` row names it), the copy and its index row in
  one transaction of creates, so a retry, a duplicated message or a racing worker writes
  nothing twice. An index row already there means the copy was made: nothing is written.
- A cancellation (`CANCEL`) changes it with `delivery.cancelled_copy`, written back only if
  nobody wrote it since it was read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError

from shared.calendar.model import Event, Notification, Placement
from shared.storage.outbox import without_text
from shared.storage.tables import (
    TableCalendars,
    TableDirectory,
    event_row,
    get_text,
    ical_index_row,
    write_if_unchanged,
)
from shared.use_cases.delivery import cancelled_copy, copy_id, invited_copy

log = logging.getLogger(__name__)

_WRITE_TRIES = 5


class TableAttendeeCopies:
    """The `AttendeeCopies` port: a directory read, the index row, then the copy itself."""

    def __init__(self, table: TableClient, directory: TableDirectory) -> None:
        self.table, self.directory = table, directory
        self.calendars = TableCalendars(table)

    def _row(self, mailbox: str, key: str) -> Mapping[str, Any] | None:
        try:
            return self.table.get_entity(mailbox, key)
        except ResourceNotFoundError:
            return None

    def update_copy(self, notification: Notification, address: str, at: datetime) -> bool:
        user = self.directory.find_user_by_mail(address)
        if user is None or user.id == notification.mailbox:
            return False
        if notification.method == "REQUEST":
            return self._create(user.id, notification)
        return self._cancel(user.id, notification, address, at)

    def _create(self, mailbox: str, notification: Notification) -> bool:
        if self._row(mailbox, f"ical|{notification.i_cal_u_id}") is not None:
            return False  # made by an earlier attempt (or the attendee has the meeting already)
        placement = self._default_calendar(mailbox)
        if placement is None:
            log.warning("user %s has no default calendar: no copy of %s", mailbox, notification.id)
            return False
        copy = invited_copy(notification, copy_id(mailbox, notification.i_cal_u_id))
        try:
            self.table.submit_transaction(
                [
                    ("create", event_row(mailbox, copy, placement, "calendar")),
                    ("create", ical_index_row(mailbox, copy.i_cal_u_id, copy.id)),
                ]
            )
        except TableTransactionError as error:
            if error.status_code == 409:
                return False  # another worker made it between the read and the write
            raise
        return True

    def _default_calendar(self, mailbox: str) -> Placement | None:
        row = self._row(mailbox, "mailbox")
        if row is None or not row.get("DefaultCalendarId"):
            return None
        return self.calendars.find_calendar(mailbox, row["DefaultCalendarId"])

    def _cancel(self, mailbox: str, notification: Notification, address: str, at: datetime) -> bool:
        index = self._row(mailbox, f"ical|{notification.i_cal_u_id}")
        if index is None:
            return False
        stamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        for _ in range(_WRITE_TRIES):
            row = self._row(mailbox, f"event|{index['EventId']}")
            if row is None or row["Folder"] != "calendar":
                return False  # the attendee removed it already
            copy = Event.model_validate_json(get_text(row, "Event"))
            changed = cancelled_copy(copy, notification, stamp)
            if changed is None:
                return False
            placement = Placement(
                row["CalendarId"],
                row["CalendarGroupId"],
                row["InDefaultCalendar"],
                row["InDefaultCalendarGroup"],
            )
            replacement = without_text(row, "Event") | event_row(
                mailbox, changed, placement, row["Folder"]
            )
            if write_if_unchanged(self.table, replacement, row.metadata["etag"]):  # type: ignore[attr-defined]
                return True
        raise RuntimeError(f"the copy of {address} kept changing; not cancelled")
