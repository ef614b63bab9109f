"""Internal attendees' copies of a meeting, cancelled in their own partitions.

An attendee whose address is a user of the directory has a copy of the meeting in their
mailbox: `ical|<iCalUId>` names it, `event|<id>` holds it. The copy is changed by
`delivery.cancelled_copy` and written back only if nobody wrote it since it was read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from shared.calendar.model import Event, Notification, Placement
from shared.storage.outbox import without_text
from shared.storage.tables import TableDirectory, event_row, get_text, write_if_unchanged
from shared.use_cases.delivery import cancelled_copy

_WRITE_TRIES = 5


class TableAttendeeCopies:
    """The `AttendeeCopies` port: a directory read, the index row, then the copy itself."""

    def __init__(self, table: TableClient, directory: TableDirectory) -> None:
        self.table, self.directory = table, directory

    def _row(self, mailbox: str, key: str) -> Mapping[str, Any] | None:
        try:
            return self.table.get_entity(mailbox, key)
        except ResourceNotFoundError:
            return None

    def update_copy(self, notification: Notification, address: str, at: datetime) -> bool:
        user = self.directory.find_user_by_mail(address)
        if user is None or user.id == notification.mailbox:
            return False
        index = self._row(user.id, f"ical|{notification.i_cal_u_id}")
        if index is None:
            return False
        stamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        for _ in range(_WRITE_TRIES):
            row = self._row(user.id, f"event|{index['EventId']}")
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
                user.id, changed, placement, row["Folder"]
            )
            if write_if_unchanged(self.table, replacement, row.metadata["etag"]):  # type: ignore[attr-defined]
                return True
        raise RuntimeError(f"the copy of {address} kept changing; not cancelled")
