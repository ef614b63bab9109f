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

**Snapshots of a real mailbox.** The loader also takes what Graph itself returns for
`GET /users/{id}/events` (or `/me/events`, `/calendars/{id}/events`, `/calendarView`): a page
`{"@odata.context": …, "value": [events…], "@odata.nextLink"?}`, or a list of such pages.

- In a tenant file, `events` may be a page, a list of pages, or a list mixing pages and the
  file's own event specs: `{"users": [...], "events": <page or pages>}`.
- A page (or list of pages) alone is a file too, with `--owner <userPrincipalName>`: that user
  is created (object id from the page's `users('<guid>')` when it is one, else derived from
  the name; display name from an event the user organizes).
- Whose mailbox a page fills: the page's own `owner` key, else `--owner`, else the user or
  group its `@odata.context` names (`users('<id-or-upn>')`, `groups('<id>')`, percent-decoded),
  else the organizer of an event it marks `isOrganizer: true`. That owner must be a user or
  group of the file. A context naming `calendars('<id>')` puts the page into that calendar
  (created in the default calendar group when the file does not list it); else the default
  calendar.
- Each event keeps Graph's `id` and `iCalUId` (checked with `shared.calendar.ids`; derived
  as for the file's own events when absent), its `isOrganizer`, `responseStatus`,
  `organizer`, `attendees`, `isCancelled`, `changeKey`, `createdDateTime`,
  `lastModifiedDateTime` and `transactionId`; everything the
  product does not store (`@odata.etag`, `type`, `seriesMasterId`,
  `originalStartTimeZone`, `webLink`, `onlineMeeting`, …) is ignored. `type` follows from
  `recurrence`. No attendee copies are made: a snapshot holds what each mailbox holds (load the
  attendees' pages too for their copies).
- `type: occurrence` items (a calendar view lists them) are skipped: the series master's
  recurrence makes them. `type: exception` items become modified occurrences of their master
  (`seriesMasterId`, by `originalStart`'s date in the series' zone), as do exceptions
  expanded inline (`$expand=exceptionOccurrences`); one whose master is not loaded is
  skipped. A master's `cancelledOccurrences` are kept. An id met twice in one mailbox (pages of
  overlapping views): the first is kept. What was skipped is printed, with why.
- A zone the product cannot resolve (`tzone://Microsoft/Custom`) in `start`, `end` or
  `recurrenceTimeZone` refuses the whole load, naming the event (a local time is never
  stored labelled UTC); `tzone://Microsoft/Utc` is UTC.

    python -m devtools.load snapshot.json                 # {"users": [...], "events": pages}
    python -m devtools.load page.json --owner adele@contoso.com
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

from azure.core.exceptions import ResourceExistsError

from shared.calendar import ids
from shared.calendar.errors import GraphError
from shared.calendar.model import (
    DateTimeTimeZone,
    Event,
    Group,
    ModifiedOccurrence,
    Placement,
    User,
)
from shared.calendar.recurrence import Series, UnknownTimeZone, zone
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
    skipped: list[str] = field(default_factory=list)
    """Items of Graph pages not loaded, each with why."""


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

    pages: list[dict[str, Any]] = []
    for spec in _event_entries(tenant.get("events", [])):
        if _is_page(spec):
            pages.append(spec)
        else:
            _add_event(spec, by_key, user_by_mail, boxes, loaded)
    _add_pages(pages, tenant.get("owner"), by_key, loaded)

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
    _check(event, key)
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


def _check(event: Event, name: str) -> None:
    """Refuse what no reader could serve: a zone nobody knows (never a local time labelled
    UTC), an exception on a date the series does not make, a cancelled occurrence of another
    series or of no date of this one."""
    zones = [moment.time_zone for moment in (event.start, event.end, *_exception_times(event))]
    if event.recurrence is not None:
        zones.append(event.recurrence.range.recurrence_time_zone)
    for name_of_zone in zones:
        try:
            zone(name_of_zone)
        except UnknownTimeZone:
            raise UnknownTimeZone(
                f"{name}: time zone {name_of_zone!r} cannot be resolved; give the event in a "
                "Windows or IANA zone (or UTC)"
            ) from None
    if event.recurrence is None:
        return
    series = Series(event)
    for change in event.exceptions:
        if not series.occurs_on(change.original_date):
            raise ValueError(f"{name}: {change.original_date} is not an occurrence")
    for cancelled in event.cancelled_occurrences:
        named = _parsed_id(ids.event_id, cancelled, name)
        if not (
            isinstance(named, ids.OccurrenceId)
            and named.series_master_id == event.id
            and series.occurs_on(named.local_date)
        ):
            raise ValueError(f"{name}: cancelled occurrence {cancelled} is not one of its own")


_T = TypeVar("_T")

# Graph pages ----------------------------------------------------------------------------------

_CONTEXT = re.compile(
    r"#(?P<kind>users|groups)\('(?P<owner>[^']*)'\)(?:/calendars\('(?P<calendar>[^']*)'\))?"
)
_ZONE_ALIASES = {"tzone://microsoft/utc": "UTC"}
_KEPT = (
    "subject", "body", "start", "end", "location", "isAllDay", "isCancelled", "isOrganizer",
    "organizer", "attendees", "recurrence", "cancelledOccurrences", "createdDateTime",
    "lastModifiedDateTime", "changeKey", "responseStatus", "transactionId",
)  # fmt: skip
"""What the product stores of a Graph event (besides `id` and `iCalUId`); the rest is ignored."""


def _is_page(entry: Any) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("value"), list)


def _event_entries(events: Any) -> list[Any]:
    """A tenant's `events`: one page, or a list of pages and event specs."""
    return [events] if _is_page(events) else list(events)


def is_graph_pages(document: Any) -> bool:
    """Whether a file is a page of Graph's event list, or a list of such pages."""
    if isinstance(document, list):
        return bool(document) and all(_is_page(page) for page in document)
    return _is_page(document)


def as_tenant(document: Any, owner: str | None = None) -> dict[str, Any]:
    """The tenant a file describes: a tenant file as it is (`owner`: whose mailbox its pages
    fill when they do not say), or Graph pages alone, into `owner`'s mailbox, a user made here."""
    if not is_graph_pages(document):
        tenant = dict(document)
        if owner is not None:
            tenant["owner"] = owner
        return tenant
    if owner is None:
        raise ValueError("a file of Graph pages alone needs --owner <userPrincipalName>")
    pages = document if isinstance(document, list) else [document]
    return {"users": [_owner_user(pages, owner)], "events": pages, "owner": owner}


def _owner_user(pages: list[dict[str, Any]], upn: str) -> dict[str, str]:
    ids.user_key(upn)
    found = (_CONTEXT.search(str(page.get("@odata.context", ""))) for page in pages)
    guids = [m["owner"] for m in found if m is not None and m["kind"] == "users"]
    user_id = next(
        (g.lower() for g in guids if _is_guid(g)), str(uuid.uuid5(uuid.NAMESPACE_URL, upn.lower()))
    )
    names = (
        item.get("organizer", {}).get("emailAddress", {})
        for page in pages
        for item in page["value"]
        if item.get("isOrganizer")
    )
    name = next(
        (n.get("name") for n in names if str(n.get("address", "")).lower() == upn.lower()),
        None,
    )
    return {"id": user_id, "userPrincipalName": upn, "displayName": name or upn.split("@")[0]}


def _is_guid(value: str) -> bool:
    try:
        ids.group_id(value)
    except GraphError:
        return False
    return True


def _parsed_id(check: Callable[[str], _T], value: str, name: str) -> _T:
    try:
        return check(value)
    except GraphError:
        raise ValueError(f"{name}: id {value!r} is malformed") from None


def _add_pages(
    pages: list[dict[str, Any]],
    owner: str | None,
    by_key: dict[str, Mailbox],
    loaded: Loaded,
) -> None:
    """Graph's events, page by page into their owners' mailboxes; exceptions join masters."""
    items: dict[str, list[tuple[dict[str, Any], Placement]]] = {}
    boxes: dict[str, Mailbox] = {}
    for number, page in enumerate(pages, start=1):
        box, placement = _page_mailbox(page, number, owner, by_key)
        boxes[box.owner] = box
        items.setdefault(box.owner, []).extend((item, placement) for item in page["value"])
    for mailbox, found in items.items():
        _add_graph_events(boxes[mailbox], found, loaded)


def _page_mailbox(
    page: dict[str, Any], number: int, owner: str | None, by_key: dict[str, Mailbox]
) -> tuple[Mailbox, Placement]:
    context = _CONTEXT.search(str(page.get("@odata.context", "")))
    named = page.get("owner") or owner
    if named is None and context is not None:
        named = unquote(context["owner"])
    if named is None:
        named = next(
            (
                item["organizer"]["emailAddress"]["address"]
                for item in page["value"]
                if item.get("isOrganizer") and item.get("organizer")
            ),
            None,
        )
    box = None if named is None else by_key.get(str(named).lower())
    if box is None:
        raise ValueError(
            f"page {number}: whose mailbox it is ({named or 'not said'}) is no user or group of "
            "the file; name one with --owner or the page's owner"
        )
    calendar = None if context is None else context["calendar"]
    if calendar is None:
        return box, box.calendars["Calendar"]
    calendar = unquote(calendar)
    known = next((p for p in box.calendars.values() if p.calendar_id == calendar), None)
    if known is None:
        _add_calendar(box, {"name": calendar, "id": calendar})
        known = box.calendars[calendar]
    return box, known


def _add_graph_events(
    box: Mailbox, found: list[tuple[dict[str, Any], Placement]], loaded: Loaded
) -> None:
    exceptions: dict[str, list[dict[str, Any]]] = {}
    masters: set[str] = set()
    seen: set[str] = set()
    uids: dict[str, str] = {}
    for item, _ in found:
        kind = item.get("type", "singleInstance")
        if kind == "exception" and item.get("seriesMasterId"):
            exceptions.setdefault(item["seriesMasterId"], []).append(item)
        elif kind == "seriesMaster" or item.get("recurrence"):
            masters.add(str(item.get("id")))
    for item, placement in found:
        kind, name = item.get("type", "singleInstance"), _name(item)
        if kind == "occurrence":
            loaded.skipped.append(f"{name}: an occurrence; its series master makes it")
            continue
        if kind == "exception":
            if item.get("seriesMasterId") not in masters:
                loaded.skipped.append(f"{name}: an exception whose series master is not loaded")
            continue
        if item.get("id") in seen:
            loaded.skipped.append(f"{name}: met again in this mailbox; the first is kept")
            continue
        seen.add(str(item.get("id")))
        inline = item.get("exceptionOccurrences") or []
        changes = [
            *exceptions.get(str(item.get("id")), []),
            *(i for i in inline if isinstance(i, dict)),
        ]
        event = _graph_event(item, box, changes, name)
        if event.i_cal_u_id in uids:
            raise ValueError(
                f"{name}: its iCalUId is also that of event {uids[event.i_cal_u_id]} in the "
                "same mailbox"
            )
        uids[event.i_cal_u_id] = event.id
        box.rows += [
            event_row(box.owner, event, placement, "calendar"),
            ical_index_row(box.owner, event.i_cal_u_id, event.id),
        ]
        loaded.events[event.id] = (box.owner, event.id)
        loaded.copies[event.id] = {}


def _name(item: dict[str, Any]) -> str:
    return f"event {item.get('subject', '')!r} ({item.get('id', 'no id')})"


def _graph_event(
    item: dict[str, Any], box: Mailbox, changes: list[dict[str, Any]], name: str
) -> Event:
    """One event of a Graph page as the product stores it."""
    graph = {key: item[key] for key in _KEPT if item.get(key) is not None}
    for moment in ("start", "end"):
        if moment in graph:
            graph[moment] = _zoned(graph[moment])
    if "recurrence" in graph:
        recurrence = graph["recurrence"]
        graph["type"] = "seriesMaster"
        graph["recurrence"] = {
            **recurrence,
            "range": _zoned(recurrence.get("range", {}), "recurrenceTimeZone"),
        }
    if isinstance(graph.get("body"), dict):
        graph["body"] = {
            **graph["body"],
            "contentType": str(graph["body"].get("contentType", "text")).lower(),
        }
    uid = item.get("iCalUId") or ical_uid(box.owner, str(item.get("id", name)))
    _parsed_id(ids.item_id, uid, name)
    event_id = _parsed_id(ids.item_id, item.get("id") or graph_id(box.owner, "event", uid), name)
    graph.setdefault("isOrganizer", True)
    graph.setdefault("organizer", {"emailAddress": {"name": box.name, "address": box.address}})
    graph.setdefault("createdDateTime", STAMP)
    graph.setdefault("lastModifiedDateTime", STAMP)
    graph.setdefault("changeKey", graph_id(event_id, STAMP))
    try:
        event = Event.model_validate({**graph, "id": event_id, "iCalUId": uid})
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    _check(event, name)  # the zones first: an exception's date is read in the series' zone
    if changes:
        modified = {change.original_date: change for change in event.exceptions}
        for item_change in changes:  # a page's exception and the same one inline: kept once
            change = _modified_occurrence(event, item_change, name)
            modified.setdefault(change.original_date, change)
        event = event.model_copy(update={"exceptions": tuple(modified.values())})
        _check(event, name)
    return event


def _zoned(value: dict[str, Any], key: str = "timeZone") -> dict[str, Any]:
    """Graph's spelling of UTC as a zone the product reads; any other name as it is."""
    written = value.get(key)
    if isinstance(written, str) and written.lower() in _ZONE_ALIASES:
        return {**value, key: _ZONE_ALIASES[written.lower()]}
    return value


def _modified_occurrence(master: Event, item: dict[str, Any], name: str) -> ModifiedOccurrence:
    """A Graph exception (its own event, `originalStart` in UTC) as what it changes of the
    occurrence on its original date in the series' zone."""
    assert master.recurrence is not None
    original = item.get("originalStart")
    if not original:
        raise ValueError(f"{name}: exception {item.get('id')} has no originalStart")
    moment = datetime.fromisoformat(str(original).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    series_zone = zone(master.recurrence.range.recurrence_time_zone)
    day = moment.astimezone(series_zone).date()
    fields = {key: item[key] for key in ("subject", "body", "location") if item.get(key)}
    for key in ("start", "end"):
        if item.get(key):
            fields[key] = _zoned(item[key])
    try:
        change = ModifiedOccurrence.model_validate({**fields, "originalDate": day.isoformat()})
    except ValueError as error:
        raise ValueError(f"{name}: exception {item.get('id')}: {error}") from None
    return change


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
    parser.add_argument(
        "--owner",
        help="whose mailbox Graph pages fill (a userPrincipalName); a page alone needs it",
    )
    args = parser.parse_args()
    tenant = as_tenant(json.loads(args.tenant.read_text()), args.owner)
    loaded = load(tenant, Settings.from_env(os.environ))
    for key, (owner, event_id) in loaded.events.items():
        print(f"{key}: mailbox {owner} event {event_id}")
    for reason in loaded.skipped:
        print(f"skipped {reason}")


if __name__ == "__main__":
    main()
