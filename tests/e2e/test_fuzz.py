"""Every served route, fuzzed over HTTP: no 5xx, Graph's envelope on every error, no change
without a 201 (create), 202 (cancel) or 204 (delete).

Hypothesis draws a few thousand requests and sends them to one dev host in its own process,
with Azurite and the demo tenant behind it (plus a few series that make expansion work). A
request starts as one a client could mean (a route of the app's own table filled in for one
event of the tenant, a token that may reach it, a JSON body) and each of its parts is then
often replaced by something hostile: other ids, unicode, percent-encoded `/ \\ # ?`, control
characters, long strings, `..`, impossible occurrence dates, odd `instances` windows, bad
tokens, odd headers and bodies. Storage is compared with its snapshot after every answer but
those of a change (201, 202, 204).

Failures are collected rather than raised one by one, so a run lists every distinct failure
with the smallest request that showed it. Examples are not shrunk: each one acts on storage
that the next one sees (a replayed cancel is a 404), and a time-out costs TIMEOUT_SECONDS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from time import monotonic
from typing import Any
from urllib.parse import quote, urlsplit

import jwt
import pytest
import requests
from azure.data.tables import TableServiceClient
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, Phase, example, given, seed, settings
from hypothesis import strategies as st

import function_app
from devtools.azurite import Azurite
from devtools.host import DevHost
from devtools.host_routes import split_path
from devtools.load import DEMO_TENANT, Loaded, load
from devtools.tokens import DEV_AUDIENCE, DevKey, ensure_dev_key, mint
from shared.graph.paths import allowed_methods, parse, served
from shared.runtime.settings import Settings
from shared.storage.queue import queue_client
from tests.e2e.conftest import ROOT, Stack, app_settings, reset_storage, start_host

REQUESTS = 2000
"""Distinct requests sent; Hypothesis draws 2.5 times as many examples, as its mutations repeat
many requests exactly (each is sent once)."""
SEED = 20261126
CHANGED = (201, 202, 204)
"""The answers of a change: create, cancel, delete. Any other answer changes nothing."""
TIMEOUT_SECONDS = 20
MAX_TIMEOUTS = 3
"""Time-outs after which the campaign stops sending, so that a run stays bounded."""
RELOAD_EVERY = 250
"""Requests after which the tenant is loaded again, so that cancels can succeed again."""
MAX_RESPONSE_HEADER_BYTES = 8192
"""Proxies in front of an app refuse bigger response headers (nginx buffers 4-8 KiB)."""
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
TEMPLATES = tuple(line.template for line in served())
"""Every path template the app serves (shared/graph/paths.py), below a base URL."""
VERSIONS = ("v1.0",) * 8 + ("beta",) * 4 + ("api",) * 2 + ("V1.0", "Beta", "v2.0", "1.0", "me")


def methods_of(template: str) -> tuple[str, ...]:
    resource = parse(template.split("/"))
    return allowed_methods(resource)


TRACEBACK = ("Traceback", 'File "', '.py", line')
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
ECHOED_CLIENT_REQUEST_ID = re.compile(r"[!-~]([ -~]{0,126}[!-~])?")
"""What README promises to echo: printable ASCII, at most 128 characters."""
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MIB = 1024 * 1024

ADELE, ALEX = "AdeleV@contoso.example", "AlexW@contoso.example"
UNKNOWN_GUID = "0f0e0d0c-0b0a-4909-8807-060504030201"
READ_WRITE = "Calendars.ReadWrite"


def _series(
    key: str, owner: str, pattern: dict[str, Any], span: dict[str, Any], zone: str
) -> dict[str, Any]:
    first = span["startDate"]
    return {
        "key": key,
        "owner": owner,
        "subject": f"Fuzz {key}",
        "start": {"dateTime": f"{first}T09:00:00.0000000", "timeZone": zone},
        "end": {"dateTime": f"{first}T09:30:00.0000000", "timeZone": zone},
        "attendees": [{"type": "required", "emailAddress": {"name": "Alex", "address": ALEX}}],
        "recurrence": {"pattern": pattern, "range": {**span, "recurrenceTimeZone": zone}},
    }


EXTRA_SERIES = [
    _series(
        "fuzz-daily",
        ADELE,
        {"type": "daily", "interval": 1},
        {"type": "noEnd", "startDate": "2027-01-01"},
        "UTC",
    ),
    _series(
        "fuzz-month-end",
        ADELE,
        {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
        {"type": "noEnd", "startDate": "2027-01-31"},
        "Tokyo Standard Time",
    ),
    _series(
        "fuzz-leap-day",
        ADELE,
        {"type": "absoluteYearly", "interval": 1, "month": 2, "dayOfMonth": 29},
        {"type": "noEnd", "startDate": "2028-02-29"},
        "Line Islands Standard Time",
    ),
    _series(
        "fuzz-group-daily",
        "Marketing@contoso.example",
        {"type": "daily", "interval": 3},
        {"type": "numbered", "startDate": "2027-01-02", "numberOfOccurrences": 40},
        "Dateline Standard Time",
    ),
]


def tenant_file() -> dict[str, Any]:
    """The demo tenant and the extra series."""
    tenant: dict[str, Any] = json.loads(DEMO_TENANT.read_text())
    tenant["events"] = [*tenant["events"], *EXTRA_SERIES]
    return tenant


# What is sent and what comes back.


@dataclass(frozen=True)
class Request:
    method: str
    route: str
    """The template the path was built from (the host may match another)."""
    target: str
    """Path and query as sent, percent-encoded."""
    token: str | None
    """A name in `Fuzz.tokens`, `raw:<text>`, or None for no Authorization header."""
    scheme: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None

    def header(self, name: str) -> str | None:
        """The header's value, several joined as the host joins them."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def size(self) -> int:
        sent = sum(len(k) + len(v) for k, v in self.headers)
        return len(self.target) + sent + len(self.body or b"") + len(self.token or "")

    def describe(self) -> str:
        lines = [f"{self.method} {_short(self.target, 400)}"]
        if self.token is not None:
            raw = self.token.startswith("raw:")
            shown = repr(self.token[4:]) if raw else f"<{self.token}>"
            lines.append(f"Authorization: {self.scheme}{_short(shown)}")
        lines += [f"{name}: {_short(repr(value))}" for name, value in self.headers]
        if self.body is not None:
            lines.append(f"body ({len(self.body)} bytes): {_short(repr(self.body))}")
        return "\n      ".join(lines)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def describe(self) -> str:
        kind = self.header("content-type")
        return f"{self.status} ({kind}) {_short(repr(self.body[:400]), 300)}"


# The tenant as routes name it.


@dataclass(frozen=True)
class Item:
    """One event of the tenant and what a route needs to name it."""

    event: str
    owner: tuple[str, ...]
    """The owning user's object id, userPrincipalName and mail; empty for a group."""
    group: str | None
    calendar: str
    calendar_group: str
    first: date | None
    """A series' first date."""
    tokens: tuple[str, ...]
    """Tokens that may reach the mailbox, the owner's (or a member's) first."""
    mine: bool
    """Whether the owner organizes it (else it is an attendee's copy)."""


@dataclass(frozen=True)
class Targets:
    items: tuple[Item, ...]
    users: tuple[str, ...]
    groups: tuple[str, ...]
    calendars: tuple[str, ...]
    calendar_groups: tuple[str, ...]
    modified_dates: tuple[str, ...]

    @classmethod
    def of(cls, loaded: Loaded, tenant: dict[str, Any]) -> Targets:
        users = {user.id: user for user in loaded.users.values()}
        groups = {group.id: group for group in loaded.groups.values()}

        def item(owner: str, event: str, calendar: str, first: date | None, mine: bool) -> Item:
            placement = loaded.calendars[owner][calendar]
            names: tuple[str, ...] = ()
            if owner in users:
                user = users[owner]
                names = (user.id, user.user_principal_name, user.mail)
                tokens: tuple[str, ...] = (f"delegated {user.user_principal_name}", "application")
                group = None
            else:
                members = sorted(users[m].user_principal_name for m in groups[owner].members)
                group = owner
                tokens = (*(f"delegated {upn}" for upn in members), "application")
            return Item(
                event, names, group, placement.calendar_id, placement.calendar_group_id, first,
                tokens, mine,
            )  # fmt: skip

        items, modified = [], []
        for event in tenant["events"]:
            owner, event_id = loaded.events[event["key"]]
            span = event.get("recurrence", {}).get("range", {})
            first = date.fromisoformat(span["startDate"]) if span else None
            items.append(item(owner, event_id, event.get("calendar", "Calendar"), first, True))
            for attendee, copy in loaded.copies.get(event["key"], {}).items():
                items.append(item(attendee, copy, "Calendar", first, False))
            modified += [change["originalDate"] for change in event.get("exceptions", [])]
        placements = [p for box in loaded.calendars.values() for p in box.values()]
        return cls(
            items=tuple(items),
            users=tuple(sorted({name for user in users.values() for name in
                                (user.id, user.user_principal_name, user.mail)})),
            groups=tuple(sorted(groups)),
            calendars=tuple(sorted({p.calendar_id for p in placements})),
            calendar_groups=tuple(sorted({p.calendar_group_id for p in placements})),
            modified_dates=tuple(modified),
        )  # fmt: skip

    def every_id(self) -> tuple[str, ...]:
        events = [item.event for item in self.items]
        every = {*self.users, *self.groups, *self.calendars, *self.calendar_groups, *events}
        return tuple(sorted(every))


def credentials(stack: Stack, other_key: DevKey) -> dict[str, str]:
    """Tokens by name: valid ones of every kind, and many ways a token can be wrong."""
    key, adele = stack.key, stack.user(ADELE)
    valid = stack.token(ADELE)
    head, payload, _ = valid.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs256 = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid}))}.{payload}"
    signature = hmac.new(public_pem, hs256.encode(), hashlib.sha256).digest()
    now = datetime.now(UTC)

    def delegated(**options: Any) -> str:
        return mint(options.pop("key", key), subject_oid=adele, **options)

    tokens = {f"delegated {user.user_principal_name}": stack.token(user.user_principal_name)
              for user in stack.tenant.users.values()}  # fmt: skip
    return tokens | {
        "application": stack.app_token(),
        "delegated AdeleV, Calendars.Read only": stack.token(ADELE, ("Calendars.Read",)),
        "delegated AdeleV, User.Read only": stack.token(ADELE, ("User.Read",)),
        "delegated, a user not in the directory": mint(key, subject_oid=UNKNOWN_GUID),
        "application, Calendars.Read only": stack.app_token(("Calendars.Read",)),
        "application without roles": stack.app_token(()),
        "expired": delegated(now=now - timedelta(days=2)),
        "not yet valid": delegated(now=now + timedelta(days=1)),
        "other audience": delegated(audience="api://someone-else"),
        "other issuer": delegated(issuer="https://login.microsoftonline.com/other/v2.0"),
        "other tenant": delegated(tenant_id=UNKNOWN_GUID),
        "signed by another key": delegated(key=other_key),
        "signed by another key under our kid": jwt.encode(
            claims, other_key.private_key, algorithm="RS256", headers={"kid": key.kid}
        ),
        "alg none": f"{_b64(json.dumps({'alg': 'none', 'kid': key.kid}))}.{payload}.",
        "HS256 keyed with the public key": f"{hs256}.{_b64(signature)}",
        "truncated signature": valid[:-6],
        "header only": head,
        "without oid": delegated(extra_claims={"oid": None}),
        "scp a list": delegated(extra_claims={"scp": [READ_WRITE]}),
        "oid a number": delegated(extra_claims={"oid": 42}),
        "exp a string": delegated(extra_claims={"exp": "tomorrow"}),
        "aud a list": delegated(extra_claims={"aud": [DEV_AUDIENCE, "api://other"]}),
        "roles a string": mint(key, subject_oid=None, extra_claims={"roles": READ_WRITE}),
        "huge scp": delegated(scopes=(READ_WRITE,) + ("x" * 50,) * 100),
    }


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Path segments: values are drawn decoded, then spelled as a client might.

RAW_SEGMENTS = (
    "..", ".", "%2e%2e", "%2E", "%", "%%", "%2", "%G1", "%u0041", "%00", "%0D%0A", "%7F",
    "%2F", "a%2Fb", "..%2F..%2Fdirectory", "%5C", "%23", "%3F", "%25", "%2525", "%ED%A0%80",
    "%C0%AF", "%FF%FE", "%E2%80%AE", "%EF%BB%BF", "~", ";", ";x=1", "*", "$value", "",
)  # fmt: skip
SPECIAL_VALUES = (
    "..", "/", "\\", "#", "?", "%", " ", "\t", "\x00", "\r\n", "\u202e", "\ufeff", "null",
    "OID.", "OID..2027-01-04", "a/../b", "A" * 400, "A" * 401, "A" * 3000, "A===", "=",
    "a" * 64 + "@" + "b" * 190, "a" * 65 + "@contoso.example", "nobody@contoso.example",
    UNKNOWN_GUID, UNKNOWN_GUID.upper(), "{" + UNKNOWN_GUID + "}",
)  # fmt: skip
DATE_EDGES = (
    "0001-01-01", "9999-12-31", "9999-12-30", "0000-01-01", "1601-01-01", "1600-12-31",
    "2027-02-29", "2028-02-29", "2027-02-30", "2027-13-01", "2027-00-10", "1900-02-29",
    "2000-02-29", "2027-1-04", "\uff12\uff10\uff12\uff17-01-04", "2027-01-04T09:00",
)  # fmt: skip
SPLICED = ("/", "\\", "#", "?", "\x00", "\n", "..", "%", " ", "\u00e9")
PERCENT = st.integers(0, 99)


def spell(value: str, style: int) -> str:
    """A (decoded) value as a client may write it into a path segment."""
    if style == 0:
        return quote(value, safe="")
    if style == 1:
        return "".join(f"%{byte:02X}" for byte in value.encode())
    if style == 2:
        return quote(value, safe="/")
    return quote(value, safe="@:=!$&'()*+,;~")


def spell_literal(text: str, style: int) -> str:
    variants = (text.lower(), text.upper(), text.swapcase(), f"%{ord(text[0]):02X}{text[1:]}")
    return variants[style]


# The `instances` window, and query strings elsewhere.

MOMENT_EDGES = (
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00", "1601-01-01T00:00:00Z", "9999-12-31T00:00:00Z",
    "1600-12-31T23:59:59Z", "2027-01-01", "2027-01-01T00:00:00", "2027-01-01T00:00:00.0000000",
    "2027-02-30T00:00:00Z", "2027-01-01T24:00:00Z", "2027-01-01T00:00:00+24:00",
    "-2027-01-01T00:00:00Z", "+002027-01-01T00:00:00Z", "2027-W01-1", "20270101T000000Z",
    "2027-01-01T00:00:00ZZ", "2027-01-01T00:00:00.123456789Z", "2027-01-01 00:00:00",
    "now", "", "null", "1e309", "2027-01-01T00:00:00\u00b1", "\uff12\uff10\uff12\uff17-01-01",
)  # fmt: skip
SPANS = (
    timedelta(0), timedelta(seconds=1), timedelta(hours=1), timedelta(days=1),
    timedelta(days=31), timedelta(days=366), timedelta(days=1825), timedelta(days=1826),
    timedelta(days=36525), timedelta(days=2_900_000),
)  # fmt: skip
OFFSETS = ("Z", "Z", "Z", "", "+00:00", "+14:00", "-12:00", "+05:30", ".0000000", ".999999Z")
EXTRA_QUERY = (
    ("startDateTime", "2027-01-01T00:00:00Z"), ("endDateTime", "2026-01-01T00:00:00Z"),
    ("$top", "1000000"), ("$select", "subject"), ("$filter", "subject eq 'x'"), ("%ZZ", "1"),
    ("", ""), ("a" * 2000, "b"),
)  # fmt: skip
WINDOW_NAMES = (("startDateTime", "endDateTime"),) * 6 + (
    ("startdatetime", "enddatetime"), ("STARTDATETIME", "ENDDATETIME"))  # fmt: skip
NOISE_QUERIES = ("?", "?$select=subject", "?%ZZ&&=", "?" + "a&" * 500)


def moment_text(moment: datetime, offset: str) -> str:
    return moment.isoformat(timespec="seconds") + offset


MOMENTS = st.one_of(
    st.sampled_from(MOMENT_EDGES),
    st.builds(moment_text, st.datetimes(), st.sampled_from(OFFSETS)),
    st.text(max_size=25),
)
LAST_MOMENT = datetime.max.replace(microsecond=0)


def window(draw: st.DrawFn, first: date | None) -> tuple[str, str]:
    """startDateTime and endDateTime: around the series, at the calendar's edges, anywhere
    (also reversed), or anything at all."""
    roll = draw(st.integers(0, 9))
    if roll >= 8:
        return draw(MOMENTS), draw(MOMENTS)
    span = draw(st.sampled_from(SPANS))
    if roll < 4 and first is not None:
        start = datetime.combine(first + timedelta(days=draw(st.integers(-30, 800))), time())
    elif roll == 4:
        start = LAST_MOMENT - min(span, LAST_MOMENT - datetime.min)
    elif roll == 5:
        start = datetime.min
    else:
        start = draw(st.datetimes())
    end = start + min(span, LAST_MOMENT - start)
    offset = draw(st.sampled_from(OFFSETS))
    first_text, last_text = moment_text(start, offset), moment_text(end, offset)
    return (last_text, first_text) if roll == 7 else (first_text, last_text)


def window_query(draw: st.DrawFn, first: date | None) -> str:
    start, end = window(draw, first)
    names = draw(st.sampled_from(WINDOW_NAMES))
    pairs = [(names[0], start), (names[1], end)]
    dropped = draw(st.sampled_from((None,) * 18 + (0, 1)))
    if dropped is not None:
        del pairs[dropped]
    if draw(st.integers(0, 9)) == 0:
        pairs += draw(st.lists(st.sampled_from(EXTRA_QUERY), min_size=1, max_size=2))
        pairs = draw(st.permutations(pairs))
    safe = draw(st.sampled_from(("",) * 4 + (":", ":+")))  # a raw "+" reads as a space
    return "?" + "&".join(f"{k}={quote(v, safe=safe)}" for k, v in pairs)


# Bodies and headers.

SPECIAL_BODIES = (
    b"", b"  \r\n\t", b"null", b"[]", b'"Comment"', b"{", b"{}}", b'{"Comment": NaN}',
    b'{"Comment": Infinity}', b'{"Comment": "\\ud800"}', b'{"Comment": "\xff"}',
    b'{"Comment": "a", "comment": "b"}', b'{"@odata.type": "#microsoft.graph.cancel"}',
    b'{"Reason": "x"}', b"\xef\xbb\xbf{}", "{}".encode("utf-16"), b"{}\x00", b"[" * 100_000,
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000, b"Comment=x", b"\x1f\x8b\x08\x00",
)  # fmt: skip
LARGE = ("comment 32000", "comment 32001", "astral 16000", "astral 16001",
         f"padded {MIB}", f"padded {MIB + 1}", f"padded {3 * MIB}")  # fmt: skip


def large_body(kind: str) -> bytes:
    """Bodies at the documented limits (32,000 UTF-16 units, 1 MiB) and just past them."""
    what, number = kind.split()
    if what == "comment":
        return json.dumps({"Comment": "x" * int(number)}).encode()
    if what == "astral":
        return json.dumps({"Comment": "\U0001f600" * int(number)}, ensure_ascii=False).encode()
    return b"{}" + b" " * (int(number) - 2)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=10,
)  # fmt: skip
COMMENTS = st.one_of(st.text(max_size=200), st.text(max_size=200), JSON_VALUES)
COMMENT_NAMES = ("Comment", "Comment", "Comment", "comment", "COMMENT")
EXTRA_PARAMETERS = (None,) * 6 + ("@odata.type", "Reason", "")
ODD_BODIES = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
    st.sampled_from(SPECIAL_BODIES),
    st.sampled_from(LARGE).map(large_body),
)


EVENT_ZONES = ("UTC", "Pacific Standard Time", "Europe/Berlin", "tzone://Microsoft/Custom", "")
EVENT_PATHS: tuple[tuple[str | int, ...], ...] = (
    ("subject",), ("body",), ("body", "contentType"), ("start",), ("start", "dateTime"),
    ("start", "timeZone"), ("end",), ("end", "dateTime"), ("isAllDay",), ("location",),
    ("attendees",), ("attendees", 0), ("attendees", 0, "emailAddress", "address"),
    ("attendees", 0, "type"), ("recurrence",), ("recurrence", "pattern", "type"),
    ("recurrence", "range", "startDate"), ("transactionId",), ("showAs",), ("unknownProperty",),
)  # fmt: skip


def _member(holder: Any, key: str | int) -> Any:
    if isinstance(holder, dict) and isinstance(key, str):
        return holder.get(key)
    if isinstance(holder, list) and isinstance(key, int) and key < len(holder):
        return holder[key]
    return None


def event_body(draw: st.DrawFn) -> bytes:
    """A create's body: an event a client could mean, then often one part of it replaced by
    anything JSON holds, removed, or added where Graph has no such property."""
    zone = draw(st.sampled_from(EVENT_ZONES))
    day = draw(st.sampled_from(("2027-01-04", "2027-03-28", "1601-01-01", "9999-12-30")))
    all_day = draw(st.booleans())
    start, end = (f"{day}T00:00:00", f"{day}T23:59:00") if not all_day else (f"{day}T00:00:00",) * 2
    event: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.event",
        "subject": draw(st.text(max_size=40)),
        "body": {"contentType": draw(st.sampled_from(("text", "html", "HTML", "x"))),
                 "content": draw(st.text(max_size=40))},
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        "isAllDay": all_day,
        "attendees": [{"type": "required", "emailAddress": {"address": address}}
                      for address in draw(st.lists(st.sampled_from(
                          ("AlexW@contoso.example", "pat@fabrikam.example", "not an address")),
                          max_size=3))],
    }  # fmt: skip
    if draw(st.booleans()):
        event["recurrence"] = {
            "pattern": {"type": "weekly", "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": day, "numberOfOccurrences": 3},
        }
    if draw(st.booleans()):
        event["transactionId"] = draw(st.sampled_from(("t-1", "t-2", "")))
    if draw(st.integers(0, 3)) > 0:
        *parents, last = draw(st.sampled_from(EVENT_PATHS))
        holder: Any = event
        for key in parents:
            holder = _member(holder, key)
        if isinstance(holder, dict) and isinstance(last, str):
            if draw(st.booleans()):
                holder.pop(last, None)
            else:
                holder[last] = draw(JSON_VALUES)
        elif isinstance(holder, list) and isinstance(last, int) and last < len(holder):
            holder[last] = draw(JSON_VALUES)
    return json.dumps(event, ensure_ascii=draw(st.booleans())).encode()


def body(draw: st.DrawFn) -> bytes:
    roll = draw(st.integers(0, 19))
    if roll < 9:
        return b"{}"
    if roll < 12:
        return event_body(draw)
    if roll < 17:
        document = {draw(st.sampled_from(COMMENT_NAMES)): draw(COMMENTS)}
        extra = draw(st.sampled_from(EXTRA_PARAMETERS))
        if extra is not None:
            document[extra] = "x"
        return json.dumps(document, ensure_ascii=draw(st.booleans())).encode()
    return draw(ODD_BODIES)


JSON_TYPES = ("application/json",) * 6 + ("application/json; charset=utf-8", "APPLICATION/JSON")
OTHER_TYPES = (
    "application/json;odata=verbose", "application/json; charset=latin-1", " application/json ",
    "application/jsonx", "text/plain", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "", ";", "application/json\x00", "\u00e9/\u00e9", None,
)  # fmt: skip
CLIENT_REQUEST_IDS = (
    "", " ", "\x00", "\x01abc", "\x1b[31mred", "a\tb", "\x7f", "x" * 61_440, "x" * 8000,
    "x" * 128, "x" * 129, "\u00e9t\u00e9", "\u202e", '"quoted"', "<script>", "request-id",
)  # fmt: skip
ODD_CLIENT_REQUEST_IDS = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40),
    st.sampled_from(CLIENT_REQUEST_IDS),
)
EXTRA_HEADERS = (
    ("Accept", "application/xml"), ("Prefer", 'outlook.timezone="Pacific Standard Time"'),
    ("If-Match", 'W/"garbage"'), ("Content-Encoding", "gzip"),
    ("X-HTTP-Method-Override", "DELETE"), ("Authorization", "Bearer second"),
    ("Cookie", "a=" + "b" * 4000), ("X-Forwarded-For", "\u00e9"), ("Content-Type", "text/plain"),
    ("client-request-id", "second"),
)  # fmt: skip
SCHEMES = ("Bearer ",) * 60 + ("bearer ", "BEARER ", "Bearer  ", "Bearer\t", "", "Basic ", "Bearer")
RAW_TOKENS = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=60)


def headers(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    found = []
    kinds = JSON_TYPES if draw(st.integers(0, 19)) < 18 else OTHER_TYPES
    content_type = draw(st.sampled_from(kinds))
    if content_type is not None:
        found.append(("Content-Type", content_type))
    roll = draw(st.integers(0, 19))
    if roll >= 11:
        odd = draw(ODD_CLIENT_REQUEST_IDS) if roll >= 15 else str(draw(st.uuids()))
        found.append(("client-request-id", odd))
    if draw(st.integers(0, 9)) == 0:
        found += draw(st.lists(st.sampled_from(EXTRA_HEADERS), min_size=1, max_size=2))
    return tuple(found)


class RequestMaker:
    """Draws requests for one tenant. Strategies are built once: built on every draw, they cost
    more than sending the request."""

    def __init__(self, targets: Targets, tokens: tuple[str, ...]) -> None:
        self.targets, self.tokens = targets, st.sampled_from(tokens)
        served = [(template, methods_of(template)) for template in TEMPLATES]
        self.routes = st.sampled_from(sorted(route for route, _ in served))
        self.versions = st.sampled_from(VERSIONS)
        # Organizers' own events weigh more (only they can be cancelled), and a route mostly
        # names an event of its kind of mailbox.
        weighed = [item for item in targets.items for _ in range(3 if item.mine else 1)]
        self.items = {
            kind: st.sampled_from([item for item in weighed if (item.group is None) == kind])
            for kind in (True, False)
        }
        self.any_item = st.sampled_from(weighed)
        self.series = st.sampled_from([item for item in weighed if item.first])
        self.methods = {
            route: st.sampled_from(methods * 60 + tuple(sorted(set(METHODS) - set(methods))))
            for route, methods in served
        }
        self.every_id = st.sampled_from(targets.every_id())
        self.hostile = st.one_of(
            st.text(min_size=1, max_size=30),
            st.text(st.characters(codec="ascii"), min_size=1, max_size=30),
            st.sampled_from(SPECIAL_VALUES),
            st.builds(lambda real, special, at: real[:at] + special + real[at:],
                      self.every_id, st.sampled_from(SPLICED), st.integers(0, 40)),
        )  # fmt: skip
        masters = [item for item in targets.items if item.first]
        pools = {"user": targets.users, "group": targets.groups, "calendar": targets.calendars,
                 "calendarGroup": targets.calendar_groups}  # fmt: skip
        self.others = {name: st.sampled_from(pool) for name, pool in pools.items()}
        self.other_events = st.one_of(
            st.sampled_from([item.event for item in targets.items]),
            st.sampled_from(masters).flatmap(self.event_ids),
            st.from_regex(r"[A-Za-z0-9_-]{1,60}={0,2}", fullmatch=True),
            st.builds(lambda event, day: f"OID.{event}.{day}", self.hostile,
                      st.sampled_from(DATE_EDGES)),
        )  # fmt: skip
        self.cache: dict[tuple[object, ...], st.SearchStrategy[Any]] = {}

    def request(self, draw: st.DrawFn) -> Request:
        template = draw(self.routes)
        kind = self.items[not template.lower().startswith("groups/")]
        instances = "/instances" in template or "/exceptionOccurrences" in template
        windowed = template.endswith(("/instances", "calendarView"))
        roll = draw(st.integers(0, 9))
        item: Item = draw(
            self.any_item if roll == 0 else self.series if instances and roll < 8 else kind
        )
        method = draw(self.methods[template])
        parts = [draw(self.versions), *template.split("/")]
        literals = [at for at, part in enumerate(parts) if not part.startswith("{")]
        if draw(st.integers(0, 4)) == 0:  # literal segments match in any letter case
            at = draw(st.sampled_from(literals))
            parts[at] = spell_literal(parts[at], draw(st.integers(0, 3)))
        for at, part in enumerate(parts):
            if part.startswith("{"):
                name = part.removeprefix("{").removesuffix("}")
                parts[at] = self.segment(draw, name, item, instances)
        slash = draw(st.sampled_from(("",) * 19 + ("/",)))
        if windowed:
            query = window_query(draw, item.first)
        else:
            roll = draw(st.integers(0, 19))
            query = "" if roll < 16 else window_query(draw, item.first) if roll < 18 else draw(
                st.sampled_from(NOISE_QUERIES))  # fmt: skip
        me = template.lower().startswith("me/")
        with_body = draw(st.integers(0, 9)) < (9 if method == "POST" else 2)
        return Request(
            method,
            template,
            "/" + "/".join(parts) + slash + query,
            self.token(draw, item, me),
            draw(st.sampled_from(SCHEMES)),
            headers(draw),
            body(draw) if with_body else None,
        )

    def segment(self, draw: st.DrawFn, name: str, item: Item, instances: bool) -> str:
        """A route parameter: mostly the one that names `item` (a series' master for
        `instances`), else anything."""
        roll = draw(PERCENT)
        if instances and name == "id" and roll < 80:
            value = item.event
        elif roll < 90:
            value = draw(self.coherent(name, item))
        elif roll < 94:
            value = draw(self.others.get(name, self.other_events))
        elif roll < 95:
            value = draw(self.every_id)
        elif roll < 99:
            value = draw(self.hostile)
        else:
            return draw(st.sampled_from(RAW_SEGMENTS))
        return spell(value, draw(st.integers(0, 14)))

    def coherent(self, name: str, item: Item) -> st.SearchStrategy[str]:
        """The value of a route parameter that names `item`."""
        key = ("coherent", name, item)
        if key not in self.cache:
            if name == "user":
                names = item.owner or self.targets.users
                spelt = [s for n in names for s in (n,) * 5 + (n.lower(), n.upper())]
                self.cache[key] = st.sampled_from(spelt)
            elif name == "group":
                group = item.group
                self.cache[key] = st.sampled_from((group,) * 3 + (group.upper(),) if group else
                                                  self.targets.groups)  # fmt: skip
            elif name in ("calendar", "calendarGroup"):
                self.cache[key] = st.just(
                    item.calendar if name == "calendar" else item.calendar_group
                )
            else:
                self.cache[key] = self.event_ids(item)
        strategy: st.SearchStrategy[str] = self.cache[key]
        return strategy

    def event_ids(self, item: Item) -> st.SearchStrategy[str]:
        key = ("events", item)
        if key not in self.cache:
            first = item.first or date(2027, 1, 4)
            days = st.one_of(
                st.integers(0, 800).map(lambda n: (first + timedelta(days=n)).isoformat()),
                st.integers(-5, 80).map(lambda n: (first + timedelta(weeks=n)).isoformat()),
                st.sampled_from(self.targets.modified_dates or DATE_EDGES),
                st.sampled_from(DATE_EDGES),
                st.dates().map(date.isoformat),
            )
            occurrences = days.map(lambda day: f"OID.{item.event}.{day}")
            self.cache[key] = st.one_of(st.just(item.event), occurrences) if item.first else (
                st.just(item.event))  # fmt: skip
        strategy: st.SearchStrategy[str] = self.cache[key]
        return strategy

    def token(self, draw: st.DrawFn, item: Item, me: bool) -> str | None:
        """Mostly a token that may reach `item`'s mailbox (its owner's for `/me`)."""
        roll = draw(st.integers(0, 19))
        if roll < 17:
            return draw(st.sampled_from(item.tokens[:1] if me else item.tokens))
        if roll < 19:
            return draw(self.tokens)
        return None if draw(st.booleans()) else "raw:" + draw(RAW_TOKENS)


def fuzzed_requests(targets: Targets, tokens: tuple[str, ...]) -> st.SearchStrategy[Request]:
    maker = RequestMaker(targets, tokens)
    return st.composite(maker.request)()


# Checking one answer.

Finding = tuple[tuple[str, ...], str]
"""What is wrong (a key that groups equal failures) and a detail."""


def findings(request: Request, answer: Answer, where: str | None, changed: bool) -> list[Finding]:
    """Everything wrong with one answer; `where` is the template of the function that ran."""
    at = where or "the host's own answer (no function serves it)"
    found: list[Finding] = []
    if answer.status >= 500:
        found.append(((f"{answer.status} answer", at), ""))
    text = answer.body.decode("utf-8", "replace")
    block = "\n".join(f"{name}: {value}" for name, value in answer.headers)
    if any(marker in text or marker in block for marker in TRACEBACK):
        found.append((("traceback text in the answer", at), ""))
    for name, value in answer.headers:
        if CONTROL.search(value):
            found.append((("control characters in a response header", name), repr(value)[:80]))
    if len(block) > MAX_RESPONSE_HEADER_BYTES:
        found.append(((f"response headers over {MAX_RESPONSE_HEADER_BYTES} bytes",), ""))
    if changed and answer.status not in CHANGED:
        found.append((("storage changed without a 201/202/204", at, str(answer.status)), ""))
    request_id, echoed = answer.header("request-id"), answer.header("client-request-id")
    sent = request.header("client-request-id")
    if request_id is None or not GUID.fullmatch(request_id):
        found.append((("request-id missing or not a GUID", at), repr(request_id)[:80]))
    elif sent is None and echoed != request_id:
        found.append((("client-request-id is not the request-id",), repr(echoed)[:80]))
    elif where and sent and ECHOED_CLIENT_REQUEST_ID.fullmatch(sent) and echoed != sent:
        found.append((("client-request-id not echoed",), repr(echoed)[:80]))
    if 200 <= answer.status < 300:
        if answer.status == 200 and request.method != "HEAD" and not _is_json(answer.body):
            found.append((("200 with a body that is not JSON", at), ""))
        return found
    problem = envelope_problem(request, answer)
    if problem is not None:
        found.append((("error without Graph's envelope", at, str(answer.status)), problem))
    return found


def envelope_problem(request: Request, answer: Answer) -> str | None:
    """What is wrong with an error answer's envelope, if anything."""
    content_type = (answer.header("content-type") or "").lower()
    if not content_type.startswith("application/json"):
        return f"Content-Type {content_type!r}"
    if request.method == "HEAD":
        return None
    try:
        error = json.loads(answer.body)["error"]
        inner = error["innerError"]
        datetime.strptime(inner["date"], "%Y-%m-%dT%H:%M:%S")
    except (ValueError, TypeError, KeyError) as problem:
        return f"{type(problem).__name__}: {problem}"[:200]
    if not (isinstance(error["code"], str) and isinstance(error["message"], str)):
        return "code or message is not a string"
    for name in ("request-id", "client-request-id"):
        if inner.get(name) != answer.header(name):
            return f"innerError {name} {inner.get(name)!r:.60} is not the header's"
    return None


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


# The host under test, and the campaign.

Storage = tuple[object, ...]


@dataclass
class Fuzz:
    """The dev host under test, what it was loaded with, and the tokens to send."""

    stack: Stack
    env: dict[str, str]
    host: subprocess.Popen[bytes]
    tokens: dict[str, str]
    routes: DevHost
    """The app's routes as the dev host matches them (never started)."""

    def send(self, request: Request) -> Answer | str:
        """The answer, or why there is none (a time-out restarts the host)."""
        where = urlsplit(self.stack.base_url)
        assert where.hostname is not None
        connection = http.client.HTTPConnection(where.hostname, where.port, TIMEOUT_SECONDS)
        try:
            connection.putrequest(request.method, request.target, skip_accept_encoding=True)
            if request.token is not None:
                credential = self.tokens.get(request.token, request.token.removeprefix("raw:"))
                connection.putheader("Authorization", f"{request.scheme}{credential}".encode())
            for name, value in request.headers:
                connection.putheader(name, value.encode())
            if request.body is not None:
                connection.putheader("Content-Length", str(len(request.body)))
            connection.endheaders(request.body)
            response = connection.getresponse()
            return Answer(response.status, response.getheaders(), response.read())
        except TimeoutError:
            self.restart()
            return f"no answer within {TIMEOUT_SECONDS} s"
        except (http.client.HTTPException, OSError) as error:
            if self.host.poll() is not None:
                self.restart()
            return f"connection failed: {type(error).__name__}: {error}"
        finally:
            connection.close()

    def function_for(self, request: Request) -> str | None:
        """The route template of the function that serves this request, if any."""
        path = urlsplit(request.target).path
        found = self.routes.find_route(request.method, split_path(path))
        return None if found is None else str(found[0].trigger["route"])

    def restart(self) -> None:
        self.host.kill()
        self.host.wait()
        self.host, self.stack.base_url = start_host(self.env)

    def storage(self) -> Storage:
        return tuple(part() for part in self.storage_parts())

    def storage_parts(self) -> list[Callable[[], object]]:
        """What any write changes, in parts that can be read at once: each row's keys and ETag
        in both tables, and how many messages the queue holds (a peek sees 32 at most)."""
        settings = self.stack.settings
        calendar, directory = settings.calendar_table, settings.directory_table
        return [partial(self._etags, calendar), partial(self._etags, directory), self._queued]

    def _queued(self) -> int | None:
        return self.stack.notifications.get_queue_properties().approximate_message_count

    def _etags(self, table: str) -> dict[tuple[str, str], str]:
        client = self.stack.tables.get_table_client(table)
        found = client.list_entities(select=["PartitionKey", "RowKey"])
        return {(row["PartitionKey"], row["RowKey"]): str(row.metadata["etag"]) for row in found}


@dataclass
class Failure:
    detail: str
    count: int
    request: Request
    answer: str


@dataclass
class Outcome:
    sent: int = 0
    seen: set[int] = field(default_factory=set)
    """Hashes of the requests sent."""
    timeouts: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    reached: set[str] = field(default_factory=set)
    """Routes of the functions that answered at least once."""
    templates: set[str] = field(default_factory=set)
    """Templates of the path table a request was built from and the app answered."""
    failures: dict[tuple[str, ...], Failure] = field(default_factory=dict)
    request_ids: set[str] = field(default_factory=set)

    def record(self, key: tuple[str, ...], detail: str, request: Request, answer: str) -> None:
        known = self.failures.get(key)
        if known is None:
            self.failures[key] = Failure(detail, 1, request, answer)
            return
        known.count += 1
        if request.size() < known.request.size():
            known.detail, known.request, known.answer = detail, request, answer

    def judge(
        self, request: Request, where: str | None, answer: Answer | str, changed: bool
    ) -> None:
        if isinstance(answer, str):
            self.timeouts += answer.startswith("no answer")
            self.record(
                ("no answer", where or f"{request.method} {request.route}"), answer, request, ""
            )
            return
        self.statuses[answer.status] += 1
        if where is not None:
            self.reached.add(where)
            self.templates.add(request.route)
        for key, detail in findings(request, answer, where, changed):
            self.record(key, detail, request, answer.describe())
        request_id = answer.header("request-id")
        if request_id is not None and request_id in self.request_ids:
            self.record(("request-id used twice",), request_id, request, answer.describe())
        self.request_ids.add(request_id or "")

    def report(self, elapsed: float) -> str:
        stopped = (
            f"; stopped after {self.timeouts} time-outs" if self.timeouts >= MAX_TIMEOUTS else ""
        )
        lines = [
            f"{len(self.failures)} distinct failures in {self.sent} requests ({elapsed:.0f} s); "
            f"statuses {dict(sorted(self.statuses.items()))}{stopped}"
        ]  # fmt: skip
        for key, failure in sorted(self.failures.items(), key=lambda item: -item[1].count):
            lines.append(f"- {' / '.join(key)} (x{failure.count}) {failure.detail}")
            lines.append(f"    smallest request:\n      {failure.request.describe()}")
            lines.append(f"    answer: {failure.answer}")
        return "\n".join(lines)


def campaign(fuzz: Fuzz, count: int = REQUESTS, seed_value: int = SEED) -> Outcome:
    """Send up to `count` distinct requests (unless time-outs stop it), check every answer."""
    targets = Targets.of(fuzz.stack.tenant, tenant_file())
    strategy = fuzzed_requests(targets, tuple(fuzz.tokens))
    outcome = Outcome()
    with ThreadPoolExecutor(max_workers=3) as snapshots:
        judge = Judge(fuzz, outcome, snapshots)

        @settings(
            max_examples=count * 5 // 2,
            deadline=None,
            database=None,
            phases=(Phase.explicit, Phase.generate),
            suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.filter_too_much, HealthCheck.large_base_example),
        )  # fmt: skip
        @seed(seed_value)
        @given(strategy)
        def check(request: Request) -> None:
            if outcome.timeouts < MAX_TIMEOUTS and outcome.sent < count:
                judge.send(request)

        for known in known_defects(fuzz):
            check = example(known)(check)
        check()
        judge.settle()
    return outcome


@dataclass
class Sent:
    request: Request
    where: str | None
    answer: Answer | str
    after: list[Future[object]]


class Judge:
    """Sends each distinct request once and judges its answer. The storage snapshot after a
    request is taken while Hypothesis draws the next one, and is in before that one is sent."""

    def __init__(self, fuzz: Fuzz, outcome: Outcome, snapshots: ThreadPoolExecutor) -> None:
        self.fuzz, self.outcome, self.snapshots = fuzz, outcome, snapshots
        self.before = fuzz.storage()
        self.last: Sent | None = None

    def send(self, request: Request) -> None:
        if hash(request) in self.outcome.seen:
            return
        self.outcome.seen.add(hash(request))
        self.settle()
        if self.outcome.sent and self.outcome.sent % RELOAD_EVERY == 0:
            load(tenant_file(), self.fuzz.stack.settings)
            self.before = self.fuzz.storage()
        self.outcome.sent += 1
        where = self.fuzz.function_for(request)
        answer = self.fuzz.send(request)
        after = [self.snapshots.submit(part) for part in self.fuzz.storage_parts()]
        self.last = Sent(request, where, answer, after)

    def settle(self) -> None:
        """Judge the last answer, with the storage as it stood after it."""
        if self.last is None:
            return
        sent, self.last = self.last, None
        after = tuple(part.result() for part in sent.after)
        self.outcome.judge(sent.request, sent.where, sent.answer, after != self.before)
        self.before = after


def known_defects(fuzz: Fuzz) -> list[Request]:
    """Requests that once failed, always sent first."""
    api = "/v1.0"
    monthly, daily = fuzz.stack.event("all-hands")[1], fuzz.stack.event("fuzz-daily")[1]
    adele, json_type = f"delegated {ADELE}", (("Content-Type", "application/json"),)
    instances, cancel = "me/events/{id}/instances", "me/events/{id}/cancel"
    overflow = "startDateTime=2027-01-01T00:00:00Z&endDateTime=9999-12-31T23:59:59Z"
    huge = "startDateTime=1601-01-01T00:00:00Z&endDateTime=9999-12-30T00:00:00Z"
    widest = "startDateTime=2027-01-01T00:00:00Z&endDateTime=2031-12-31T00:00:00Z"
    unknown = f"{api}/me/events/AAMkNotThere/cancel"
    return [
        Request("GET", instances, f"{api}/me/events/{monthly}/instances?{overflow}", adele,
                "Bearer ", (), None),
        Request("GET", instances, f"{api}/me/events/{daily}/instances?{huge}", adele,
                "Bearer ", (), None),
        Request("GET", instances, f"{api}/me/events/{daily}/instances?{widest}", adele,
                "Bearer ", (), None),
        Request("POST", cancel, unknown, adele, "Bearer ",
                (*json_type, ("client-request-id", "\x01\x1b[31m")), b"{}"),
        Request("POST", cancel, unknown, adele, "Bearer ",
                (*json_type, ("client-request-id", "x" * 61_440)), b"{}"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def fuzz(
    azurite: Azurite, dev_key: DevKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzz]:
    """A dev host of its own (restarted after a time-out) over its own tables and queue."""
    env = app_settings(
        azurite,
        dev_key,
        CALENDAR_TABLE="fuzzcalendar",
        DIRECTORY_TABLE="fuzzdirectory",
        NOTIFICATION_QUEUE="fuzz-cancellations",
    )
    settings = Settings.from_env(env)
    tables = TableServiceClient.from_connection_string(settings.storage_connection)
    notifications = queue_client(settings.storage_connection, settings.notification_queue)
    reset_storage(tables, notifications, settings)
    notifications.create_queue()
    tenant = load(tenant_file(), settings)
    other_key = ensure_dev_key(tmp_path_factory.mktemp("other-key"))
    host_json = json.loads((ROOT / "host.json").read_text())
    routes = DevHost(function_app.app, host_json, {}, run_background_triggers=False)
    process, url = start_host(env)
    http_session = requests.Session()
    with tables, notifications, http_session:
        stack = Stack(url, settings, dev_key, tenant, http_session, tables, notifications)
        target = Fuzz(stack, env, process, credentials(stack, other_key), routes)
        try:
            yield target
        finally:
            target.host.kill()
            target.host.wait()


def test_every_served_route_answers_like_graph(fuzz: Fuzz) -> None:
    started = monotonic()
    outcome = campaign(fuzz)
    report = outcome.report(monotonic() - started)
    if outcome.failures:
        pytest.fail(report, pytrace=False)
    functions = {
        str(spec.trigger["route"])
        for spec in fuzz.routes.functions
        if spec.trigger_type == "httpTrigger"
    }
    assert outcome.reached == functions, report
    assert len(outcome.templates) >= 0.9 * len(TEMPLATES), report
    assert {200, 202, 400, 401, 403, 404} <= set(outcome.statuses), report
