"""The OData query options of a list request: `$top`, `$skip`, `$skiptoken`, `$select`,
`$orderby` and `$filter`, read into `ListOptions` or refused with Graph's 400.

Option names are matched in any letter case and only with their `$`; parameters without one
(`startDateTime`, …) are the route's, not read here. An option given twice (in any letter
case) and any other `$` option (`$expand`, `$count`, `$search`, …) are refused.

`$filter` is parsed by odata-query's grammar and the tree compiled here into a predicate on
one `Event`, in memory: it never becomes a storage query, so a filter can only narrow what
the mailbox's own partition holds. Supported, combined with `and`, `or`, `not` and
parentheses, the literal on either side:

- `iCalUId eq|ne '…'`: exact, case-sensitive (an identifier the product makes in one form).
- `subject eq|ne '…'`: case-insensitive, as Exchange compares strings in a restriction (the
  product's choice; Graph's docs do not say).
- `start/dateTime` and `end/dateTime` with `eq ne gt ge lt le` against a string literal
  (`'2027-01-04T17:00'`, as Graph's docs write it) or a datetime literal
  (`2027-01-04T17:00:00Z`): compared in UTC, the event's time converted from its own zone,
  the literal read as UTC unless it carries an offset. All-day events are compared at the
  instant they are stored at (midnight in their own zone), not at the midnight they are
  shown at (see `representation`).

Property names are matched in any letter case. Anything else (another property, a function
such as `contains`, a lambda, arithmetic, `in`, a literal of the wrong type, a syntax error,
more than `MAX_FILTER_DEPTH` nested operators) is `InvalidFilter`. odata-query follows the
ABNF in requiring white space after `not`: `not(…)` is read as an unknown function.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, cast

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from shared.calendar.errors import InvalidFilter, InvalidQueryOption, UnknownProperty
from shared.calendar.model import DateTimeTimeZone, Event
from shared.calendar.recurrence import local_datetime, zone
from shared.graph.representation import PROPERTIES

DEFAULT_TOP: Final = 10
MAX_TOP: Final = 1000
MAX_SKIP: Final = 2**31 - 1
MAX_FILTER_DEPTH: Final = 100
"""Operators nested deeper than this are refused, so that neither compiling nor evaluating
a filter comes near Python's recursion limit."""

_SUPPORTED = ("$top", "$skip", "$skiptoken", "$select", "$orderby", "$filter")
_SELECTABLE = {name.lower(): name for name in PROPERTIES}
_ORDERBY_ONLY = "Only $orderby=start/dateTime (asc or desc) is supported."
_BAD_SKIPTOKEN = "The $skiptoken is not valid."
_MAX_SKIPTOKEN = 256


class EventFilter:
    """A `$filter` compiled into a predicate on events; `InvalidFilter` if not supported."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._test = _compile(_parse(text), depth=0)

    def matches(self, event: Event) -> bool:
        return self._test(event)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventFilter) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"EventFilter({self.text!r})"


@dataclass(frozen=True)
class ListOptions:
    top: int = DEFAULT_TOP
    """$top: the page size, 1 to 1000 (Graph's default 10)."""
    skip: int = 0
    """$skip plus what a $skiptoken carries: how many items come before the page."""
    select: tuple[str, ...] | None = None
    """$select in Graph's spelling (from `representation.PROPERTIES`); None for all."""
    descending: bool = False
    """$orderby=start/dateTime desc; lists are ordered by start ascending otherwise."""
    filter: EventFilter | None = None


def list_options(params: Mapping[str, str]) -> ListOptions:
    """The query options among a request's query parameters, or Graph's 400."""
    given: dict[str, str] = {}
    for name, value in params.items():
        if not name.startswith("$"):
            continue
        key = name.lower()
        if key not in _SUPPORTED:
            raise InvalidQueryOption(f"Query option '{name}' is not supported.")
        if key in given:
            raise InvalidQueryOption(f"Query option '{name}' is specified more than once.")
        given[key] = value

    top = DEFAULT_TOP
    if "$top" in given:
        top = _integer(
            given["$top"],
            1,
            MAX_TOP,
            f"The query option '$top' must be an integer from 1 to {MAX_TOP}.",
        )
    skip = 0
    if "$skip" in given:
        skip = _integer(
            given["$skip"], 0, MAX_SKIP, "The query option '$skip' must be a non-negative integer."
        )
    if "$skiptoken" in given:
        skip += _skip_of(given["$skiptoken"])
    return ListOptions(
        top=top,
        skip=skip,
        select=_select(given["$select"]) if "$select" in given else None,
        descending=_descending(given["$orderby"]) if "$orderby" in given else False,
        filter=EventFilter(given["$filter"]) if "$filter" in given else None,
    )


def skiptoken(skip: int) -> str:
    """The opaque `$skiptoken` of the page that starts after `skip` items."""
    if not 0 <= skip <= MAX_SKIP:
        raise ValueError(f"skip {skip} is outside 0 to {MAX_SKIP}")
    payload = json.dumps({"skip": skip}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")


def _integer(value: str, low: int, high: int, refusal: str) -> int:
    # Not int(): it also takes signs, spaces, underscores and non-ASCII digits.
    if not re.fullmatch(r"[0-9]{1,10}", value) or not low <= int(value) <= high:
        raise InvalidQueryOption(refusal)
    return int(value)


def _skip_of(token: str) -> int:
    if len(token) > _MAX_SKIPTOKEN or not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", token):
        raise InvalidQueryOption(_BAD_SKIPTOKEN)
    unpadded = token.rstrip("=")
    try:
        data = json.loads(base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4)))
    except ValueError:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidQueryOption(_BAD_SKIPTOKEN) from None
    skip = data.get("skip") if isinstance(data, dict) and data.keys() == {"skip"} else None
    if type(skip) is not int or not 0 <= skip <= MAX_SKIP:
        raise InvalidQueryOption(_BAD_SKIPTOKEN)
    return skip


def _select(value: str) -> tuple[str, ...] | None:
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise InvalidQueryOption("The query option '$select' names an empty property.")
    if "*" in names:
        return None
    selected: dict[str, None] = {}
    for name in names:
        canonical = _SELECTABLE.get(name.lower())
        if canonical is None:
            raise UnknownProperty(name)
        selected[canonical] = None
    return tuple(selected)


def _descending(value: str) -> bool:
    words = value.split()
    if not 1 <= len(words) <= 2 or words[0].lower() != "start/datetime":
        raise InvalidQueryOption(_ORDERBY_ONLY)
    direction = words[1].lower() if len(words) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise InvalidQueryOption(_ORDERBY_ONLY)
    return direction == "desc"


# $filter ------------------------------------------------------------------------------------

Predicate = Callable[[Event], bool]

_FLIPPED: dict[type[ast._Comparator], type[ast._Comparator]] = {
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
    ast.Lt: ast.Gt,
    ast.Gt: ast.Lt,
    ast.LtE: ast.GtE,
    ast.GtE: ast.LtE,
}
_ORDER: dict[type[ast._Comparator], Callable[[datetime, datetime], bool]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}


def _parse(text: str) -> ast._Node:
    try:
        tokens = ODataLexer().tokenize(text)
        return cast(ast._Node, ODataParser().parse(tokens))
    except ODataException:
        raise InvalidFilter() from None


def _compile(node: ast._Node, depth: int) -> Predicate:
    if depth > MAX_FILTER_DEPTH:
        raise InvalidFilter()
    if isinstance(node, ast.BoolOp):
        left, right = _compile(node.left, depth + 1), _compile(node.right, depth + 1)
        if isinstance(node.op, ast.And):
            return lambda event: left(event) and right(event)
        return lambda event: left(event) or right(event)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        operand = _compile(node.operand, depth + 1)
        return lambda event: not operand(event)
    if isinstance(node, ast.Compare):
        return _comparison(node)
    raise InvalidFilter()


def _comparison(node: ast.Compare) -> Predicate:
    comparator = type(node.comparator)
    if comparator not in _FLIPPED:
        raise InvalidFilter()
    literal: ast._Node
    if isinstance(node.left, ast._Literal):
        literal, path, comparator = node.left, _path(node.right), _FLIPPED[comparator]
    else:
        literal, path = node.right, _path(node.left)
    if path in ("start/datetime", "end/datetime"):
        instant = _instant(literal)
        order = _ORDER[comparator]
        if path == "start/datetime":
            return lambda event: order(_utc(event.start), instant)
        return lambda event: order(_utc(event.end), instant)
    if path in ("subject", "icaluid") and comparator in (ast.Eq, ast.NotEq):
        if not isinstance(literal, ast.String):
            raise InvalidFilter()
        wanted, equal = literal.val, comparator is ast.Eq
        if path == "subject":
            folded = wanted.casefold()
            return lambda event: (event.subject.casefold() == folded) is equal
        return lambda event: (event.i_cal_u_id == wanted) is equal
    raise InvalidFilter()


def _path(node: ast._Node) -> str:
    """`subject` or `start/dateTime`, lowercased, for a property path; else InvalidFilter."""
    if isinstance(node, ast.Identifier) and not node.namespace:
        return node.name.lower()
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.owner, ast.Identifier)
        and not node.owner.namespace
    ):
        return f"{node.owner.name}/{node.attr}".lower()
    raise InvalidFilter()


def _instant(literal: ast._Node) -> datetime:
    """A string or datetime literal as a naive UTC datetime (no offset: read as UTC)."""
    if not isinstance(literal, ast.String | ast.DateTime):
        raise InvalidFilter()
    try:
        moment = datetime.fromisoformat(literal.val)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise InvalidFilter() from None
    return moment


def _utc(value: DateTimeTimeZone) -> datetime:
    return local_datetime(value, zone("UTC"))
