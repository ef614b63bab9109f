"""The id syntax the product accepts, checked before any id reaches a Table key.

Event, calendar and calendar-group ids are Graph-style base64url strings; users and groups are
GUIDs (or, for users, a userPrincipalName). Table keys forbid `/ \\ # ?` and control
characters: nothing that passes these checks contains one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from shared.calendar.errors import IdMalformed, InvalidUser

_ITEM_ID = re.compile(r"[A-Za-z0-9_-]{1,400}={0,2}")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_UPN = re.compile(r"[A-Za-z0-9!$%&'*+=^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,190}")
_OCCURRENCE = re.compile(r"OID\.([^.]+)\.(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class OccurrenceId:
    """`OID.{seriesMasterId}.{YYYY-MM-DD}`: one occurrence of a series, by its local date."""

    series_master_id: str
    local_date: date

    def __str__(self) -> str:
        return f"OID.{self.series_master_id}.{self.local_date.isoformat()}"


def item_id(value: str) -> str:
    if not _ITEM_ID.fullmatch(value):
        raise IdMalformed()
    return value


def event_id(value: str) -> str | OccurrenceId:
    occurrence = _OCCURRENCE.fullmatch(value)
    if occurrence is None:
        return item_id(value)
    master, day = occurrence.groups()
    try:
        return OccurrenceId(item_id(master), date.fromisoformat(day))
    except ValueError:
        raise IdMalformed() from None


def group_id(value: str) -> str:
    if not _GUID.fullmatch(value):
        raise IdMalformed()
    return value.lower()


def user_key(value: str) -> str:
    """A user's object id or userPrincipalName, lowercased; anything else names no user."""
    if _GUID.fullmatch(value) or _UPN.fullmatch(value):
        return value.lower()
    raise InvalidUser(value)
