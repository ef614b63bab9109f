"""`$filter` is parsed by odata-query's grammar and the tree compiled here into a predicate on
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

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, cast

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from shared.calendar.errors import InvalidFilter
from shared.calendar.model import DateTimeTimeZone, Event
from shared.calendar.recurrence import local_datetime, zone

MAX_FILTER_DEPTH: Final = 100
"""Operators nested deeper than this are refused, so that neither compiling nor evaluating
a filter comes near Python's recursion limit."""


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
