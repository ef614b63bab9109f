"""Internal attendees' copies of a meeting, created and cancelled in their own partitions.

An attendee whose address is a user of the directory has a copy of the meeting in their
mailbox: `ical|<iCalUId>` names it, `event|<id>` holds it.

- An invitation (`REQUEST`) creates it: `delivery.invited_copy` under `delivery.copy_id`, in
  the attendee's default calendar (the `mailbox` row names it), the copy and its index row in
  one transaction of creates, so a retry, a duplicated message or a racing worker writes
  nothing twice. An index row already there means the copy was made. Then the organizer's
  event is read once more and the copy brought up to it (`delivery.reconciled_copy`): a
  cancellation committed before the copy existed found nothing to cancel, and one committed
  after this read finds the copy. Nothing is written when the copy is up to date.
- A cancellation (`CANCEL`) changes it with `delivery.cancelled_copy`, written back only if
  nobody wrote it since it was read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError

from shared.calendar.model import Event, Notification, Placement
from shared.messages.imip import recipient_key
from shared.storage.outbox import without_text
from shared.storage.tables import (
    TableCalendars,
    TableDirectory,
    event_row,
    get_text,
    ical_index_row,
    mail_domain,
    write_if_unchanged,
)
from shared.use_cases.delivery import cancelled_copy, copy_id, invited_copy, reconciled_copy

log = logging.getLogger(__name__)

_WRITE_TRIES = 5
_KEYS_PER_QUERY = 14
_LOOKUPS_AT_ONCE = 8


class TableAttendeeCopies:
    """The `AttendeeCopies` port: which recipients are users (the directory, asked once per
    slice of recipients), then for each the index row and the copy itself."""

    def __init__(self, table: TableClient, directory: TableDirectory) -> None:
        self.table, self.directory = table, directory
        self.calendars = TableCalendars(table)

    def _row(self, mailbox: str, key: str) -> Mapping[str, Any] | None:
        try:
            return self.table.get_entity(mailbox, key)
        except ResourceNotFoundError:
            return None

    def internal(self, addresses: Sequence[str]) -> dict[str, str]:
        """The directory's `mail` rows of these addresses, read by queries of 14 keys each (a
        filter holds at most 15 comparisons), side by side; then each user found (kept in
        memory by `TableDirectory`)."""
        # The directory keys an address lower-cased (`TableDirectory.find_user_by_mail`).
        # An address at a domain none of the tenant's users is at is nobody's: not asked.
        domains = self.directory.accepted_domains()
        named = {
            address.strip().lower(): recipient_key(address)
            for address in addresses
            if domains is None or mail_domain(address) in domains
        }
        keys = sorted(named)
        groups = [keys[i : i + _KEYS_PER_QUERY] for i in range(0, len(keys), _KEYS_PER_QUERY)]
        if not groups:
            return {}
        with ThreadPoolExecutor(min(len(groups), _LOOKUPS_AT_ONCE)) as pool:
            found = [row for rows in pool.map(self._mail_rows, groups) for row in rows]
        mailboxes = {}
        for row in found:
            user = self.directory.find_user(str(row["UserId"]))
            if user is not None:
                mailboxes[named[str(row["RowKey"])]] = user.id
        return mailboxes

    def _mail_rows(self, keys: list[str]) -> list[Mapping[str, Any]]:
        names = {f"k{n}": key for n, key in enumerate(keys)}
        wanted = " or ".join(f"RowKey eq @{name}" for name in names)
        return list(
            self.directory.table.query_entities(
                f"PartitionKey eq 'mail' and ( {wanted} )",  # the SDK substitutes words
                parameters=names,
                select=["RowKey", "UserId"],
            )
        )

    def update_copy(
        self, notification: Notification, address: str, at: datetime, mailbox: str | None = None
    ) -> bool:
        if mailbox is None:
            user = self.directory.find_user_by_mail(address)
            if user is None:
                return False
            mailbox = user.id
        if mailbox == notification.mailbox:
            return False
        stamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if notification.method == "REQUEST":
            return self._invite(mailbox, notification, stamp)
        return self._cancel(mailbox, notification, address, stamp)

    def _invite(self, mailbox: str, notification: Notification, stamp: str) -> bool:
        index = self._row(mailbox, f"ical|{notification.i_cal_u_id}")
        if index is not None:  # made by an earlier attempt (or the attendee has the meeting)
            created, event_id = False, str(index["EventId"])
        else:
            placement = self._default_calendar(mailbox)
            if placement is None:
                log.warning(
                    "user %s has no default calendar: no copy of %s", mailbox, notification.id
                )
                return False
            copy = invited_copy(notification, copy_id(mailbox, notification.i_cal_u_id))
            created, event_id = self._create(mailbox, copy, placement), copy.id
        # Read only now that the copy exists: a cancellation committed after this read finds it.
        row = self._row(notification.mailbox, f"event|{notification.event_id}")
        organizers = None
        if row is not None and row["Folder"] == "calendar":
            organizers = Event.model_validate_json(get_text(row, "Event"))
        changed = self._rewrite(
            mailbox,
            event_id,
            lambda copy: reconciled_copy(copy, organizers, stamp),
            f"the copy of {notification.id} in {mailbox} kept changing; not brought up to date",
        )
        return created or changed

    def _create(self, mailbox: str, copy: Event, placement: Placement) -> bool:
        """The copy and its index row at once; False when another worker made them first."""
        try:
            self.table.submit_transaction(
                [
                    ("create", event_row(mailbox, copy, placement, "calendar")),
                    ("create", ical_index_row(mailbox, copy.i_cal_u_id, copy.id)),
                ]
            )
        except TableTransactionError as error:
            if error.status_code == 409:
                return False
            raise
        return True

    def _default_calendar(self, mailbox: str) -> Placement | None:
        row = self._row(mailbox, "mailbox")
        if row is None or not row.get("DefaultCalendarId"):
            return None
        return self.calendars.find_calendar(mailbox, row["DefaultCalendarId"])

    def _cancel(self, mailbox: str, notification: Notification, address: str, stamp: str) -> bool:
        index = self._row(mailbox, f"ical|{notification.i_cal_u_id}")
        if index is None:
            return False
        return self._rewrite(
            mailbox,
            index["EventId"],
            lambda copy: cancelled_copy(copy, notification, stamp),
            f"the copy of {address} kept changing; not cancelled",
        )

    def _rewrite(
        self,
        mailbox: str,
        event_id: str,
        change: Callable[[Event], Event | None],
        giving_up: str,
    ) -> bool:
        """Write `change` of the copy back if nobody wrote it since it was read; False when
        there is no copy in the calendar or nothing to change."""
        for _ in range(_WRITE_TRIES):
            row = self._row(mailbox, f"event|{event_id}")
            if row is None or row["Folder"] != "calendar":
                return False  # the attendee removed it already
            changed = change(Event.model_validate_json(get_text(row, "Event")))
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
        raise RuntimeError(giving_up)
