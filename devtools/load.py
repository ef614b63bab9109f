"""Load a tenant (directory, calendars, events) from a JSON file in Graph's shapes.

The file holds `users`, `groups` (with `members` by id or userPrincipalName), `calendars`
(extra calendars, optionally in a named `calendarGroup`) and `events`: Graph events with an
`owner` (the organizer's userPrincipalName, or a group's id or mail) and an optional
`calendar` (a calendar's name; the default calendar otherwise). An event with a Graph
`recurrence` is a series master; its `exceptions` (each an `originalDate` and what that
occurrence changes: subject, body, start, end, location) are its modified occurrences.
Every mailbox gets Graph's
default calendar group "My Calendars" and default calendar "Calendar". For each attendee
whose address belongs to a user of the tenant, the organizer's event is copied into that
user's default calendar with `isOrganizer: false` and the same `iCalUId`, as Exchange does
when the invitation is delivered.

    python -m devtools.load devtools/demo_tenant.json
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError

from shared.calendar import ids
from shared.calendar.model import DateTimeTimeZone, Event, Group, Placement, User
from shared.calendar.recurrence import Series, zone
from shared.runtime.settings import Settings
from shared.storage.tables import event_row, group_row, ical_index_row, upsert_rows, user_rows

DEMO_TENANT = Path(__file__).with_name("demo_tenant.json")
MAX_ATTENDEES = 500
STAMP = "2026-11-01T09:00:00Z"


def graph_id(*parts: str) -> str:
    """A stable Graph-style item id (base64url, no padding) derived from what names the item."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return "AAMk" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def ical_uid(*parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest().upper()
    return "040000008200E00074C5B7101A82E008" + digest


@dataclass
class Mailbox:
    owner: str
    address: str
    name: str
    default_group: str
    default_calendar: str
    calendars: dict[str, Placement] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Loaded:
    """What was loaded, so callers (the run command, tests) can name what they cancel."""

    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    events: dict[str, tuple[str, str]] = field(default_factory=dict)
    """By the file's event `key` (or subject): (mailbox owner id, event id)."""
    copies: dict[str, dict[str, str]] = field(default_factory=dict)
    """By event key: attendee user id -> the id of that attendee's copy."""
    calendars: dict[str, dict[str, Placement]] = field(default_factory=dict)


def _mailbox(owner: str, address: str, name: str) -> Mailbox:
    group = graph_id(owner, "calendargroup", "My Calendars")
    calendar = graph_id(owner, "calendar", "Calendar")
    box = Mailbox(owner, address, name, group, calendar)
    box.calendars["Calendar"] = Placement(calendar, group, True, True)
    box.rows += [
        {"PartitionKey": owner, "RowKey": "mailbox", "Address": address, "DisplayName": name,
         "DefaultCalendarId": calendar, "DefaultCalendarGroupId": group},
        {"PartitionKey": owner, "RowKey": f"calendargroup|{group}", "Name": "My Calendars"},
        {"PartitionKey": owner, "RowKey": f"calendar|{calendar}", "Name": "Calendar",
         "CalendarGroupId": group, "IsDefaultCalendar": True, "InDefaultCalendarGroup": True},
    ]  # fmt: skip
    return box


def _add_calendar(box: Mailbox, spec: dict[str, Any]) -> None:
    name = spec["name"]
    group_name = spec.get("calendarGroup")
    if group_name is None:
        group = box.default_group
    else:
        group = spec.get("calendarGroupId") or graph_id(box.owner, "calendargroup", group_name)
        box.rows.append(
            {"PartitionKey": box.owner, "RowKey": f"calendargroup|{group}", "Name": group_name}
        )
    calendar = ids.item_id(spec.get("id") or graph_id(box.owner, "calendar", name))
    box.calendars[name] = Placement(calendar, group, False, group == box.default_group)
    box.rows.append(
        {"PartitionKey": box.owner, "RowKey": f"calendar|{calendar}", "Name": name,
         "CalendarGroupId": group, "IsDefaultCalendar": False,
         "InDefaultCalendarGroup": group == box.default_group}
    )  # fmt: skip


def build(tenant: dict[str, Any]) -> tuple[Loaded, list[dict[str, Any]], list[dict[str, Any]]]:
    """The directory rows and calendar rows a tenant file describes."""
    loaded = Loaded()
    directory: list[dict[str, Any]] = []
    boxes: dict[str, Mailbox] = {}
    by_key: dict[str, Mailbox] = {}
    user_by_mail: dict[str, User] = {}

    for spec in tenant.get("users", []):
        user = User(
            id=ids.group_id(spec["id"]),
            user_principal_name=spec["userPrincipalName"],
            mail=spec.get("mail") or spec["userPrincipalName"],
            display_name=spec.get("displayName", ""),
        )
        ids.user_key(user.user_principal_name)
        loaded.users[user.user_principal_name.lower()] = user
        directory += user_rows(user)
        user_by_mail[user.mail.lower()] = user
        box = boxes[user.id] = _mailbox(user.id, user.mail, user.display_name)
        for key in (user.id, user.user_principal_name.lower(), user.mail.lower()):
            by_key[key] = box

    for spec in tenant.get("groups", []):
        members = frozenset(by_key[m.lower()].owner for m in spec.get("members", []))
        group = Group(ids.group_id(spec["id"]), spec.get("displayName", ""), spec["mail"], members)
        loaded.groups[group.mail.lower()] = group
        directory.append(group_row(group))
        box = boxes[group.id] = _mailbox(group.id, group.mail, group.display_name)
        by_key[group.id] = by_key[group.mail.lower()] = box

    for spec in tenant.get("calendars", []):
        _add_calendar(by_key[spec["owner"].lower()], spec)

    for spec in tenant.get("events", []):
        _add_event(spec, by_key, user_by_mail, boxes, loaded)

    for box in boxes.values():
        loaded.calendars[box.owner] = dict(box.calendars)
    return loaded, directory, [row for box in boxes.values() for row in box.rows]


def _add_event(
    spec: dict[str, Any],
    by_key: dict[str, Mailbox],
    user_by_mail: dict[str, User],
    boxes: dict[str, Mailbox],
    loaded: Loaded,
) -> None:
    box = by_key[spec["owner"].lower()]
    subject = spec.get("subject", "")
    key = spec.get("key", subject)
    uid = spec.get("iCalUId") or ical_uid(box.owner, key)
    ids.item_id(uid)
    organizer = {"emailAddress": {"name": box.name, "address": box.address}}
    graph = {k: v for k, v in spec.items() if k not in ("owner", "calendar", "key")}
    if len(graph.get("attendees", [])) > MAX_ATTENDEES:
        raise ValueError(f"{key}: Graph allows at most {MAX_ATTENDEES} attendees")
    graph.setdefault("createdDateTime", STAMP)
    graph.setdefault("lastModifiedDateTime", STAMP)
    graph.update(iCalUId=uid, organizer=graph.get("organizer", organizer))

    event_id = ids.item_id(spec.get("id") or graph_id(box.owner, "event", uid))
    if graph.get("recurrence"):
        graph["type"] = "seriesMaster"
    event = Event.model_validate(
        {**graph, "id": event_id, "isOrganizer": True, "changeKey": graph_id(event_id, STAMP)}
    )
    for moment in (event.start, event.end, *_exception_times(event)):
        zone(moment.time_zone)  # an unknown zone is refused here, never met by a reader
    if event.recurrence is not None:
        series = Series(event)
        for change in event.exceptions:
            if not series.occurs_on(change.original_date):
                raise ValueError(f"{key}: {change.original_date} is not an occurrence")
    placement = box.calendars[spec.get("calendar", "Calendar")]
    box.rows += [
        event_row(box.owner, event, placement, "calendar"),
        ical_index_row(box.owner, uid, event_id),
    ]
    loaded.events[key] = (box.owner, event_id)
    loaded.copies[key] = {}

    for attendee in event.attendees:
        user = user_by_mail.get(attendee.email_address.address.lower())
        if user is None or user.id == box.owner or user.id in loaded.copies[key]:
            continue
        copy_box = boxes[user.id]
        copy_id = graph_id(user.id, "event", uid)
        copy = event.model_copy(
            update={"id": copy_id, "is_organizer": False, "change_key": graph_id(copy_id, STAMP)}
        )
        copy_box.rows += [
            event_row(user.id, copy, copy_box.calendars["Calendar"], "calendar"),
            ical_index_row(user.id, uid, copy_id),
        ]
        loaded.copies[key][user.id] = copy_id


def _exception_times(event: Event) -> list[DateTimeTimeZone]:
    return [t for change in event.exceptions for t in (change.start, change.end) if t is not None]


def load(tenant: dict[str, Any], settings: Settings) -> Loaded:
    loaded, directory_rows, calendar_rows = build(tenant)
    with settings.storage.table_service() as service:
        for name, rows in (
            (settings.directory_table, directory_rows),
            (settings.calendar_table, calendar_rows),
        ):
            with contextlib.suppress(ResourceExistsError):
                service.create_table(name)
            upsert_rows(service.get_table_client(name), rows)
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tenant", type=Path, nargs="?", default=DEMO_TENANT)
    args = parser.parse_args()
    loaded = load(json.loads(args.tenant.read_text()), Settings.from_env(os.environ))
    for key, (owner, event_id) in loaded.events.items():
        print(f"{key}: mailbox {owner} event {event_id}")


if __name__ == "__main__":
    main()
