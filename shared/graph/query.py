"""The OData query options of a list request: `$top`, `$skip`, `$skiptoken`, `$select`,
`$orderby` and `$filter`, read into `ListOptions` or refused with Graph's 400.

Option names are matched in any letter case and only with their `$`; parameters without one
(`startDateTime`, …) are the route's, not read here. An option given twice (in any letter
case) and any other `$` option (`$expand`, `$count`, `$search`, …) are refused. `$filter` is
compiled by `filters.py`, imported only when a request has one (its parser is most of a cold
start's own cost otherwise).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from shared.calendar.errors import InvalidQueryOption, UnknownProperty
from shared.graph.representation import PROPERTIES

if TYPE_CHECKING:
    from shared.graph.filters import EventFilter

DEFAULT_TOP: Final = 10
MAX_TOP: Final = 1000
MAX_SKIP: Final = 2**31 - 1

_SUPPORTED = ("$top", "$skip", "$skiptoken", "$select", "$orderby", "$filter")
_SELECTABLE = {name.lower(): name for name in PROPERTIES}
_ORDERBY_ONLY = "Only $orderby=start/dateTime (asc or desc) is supported."
_BAD_SKIPTOKEN = "The $skiptoken is not valid."
_MAX_SKIPTOKEN = 256


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


def list_options(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> ListOptions:
    """The query options among a request's query parameters (a mapping, or the pairs of the
    query string as sent, repeats included), or Graph's 400."""
    given: dict[str, str] = {}
    pairs = params.items() if isinstance(params, Mapping) else params
    for name, value in pairs:
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
    compiled = None
    if "$filter" in given:
        from shared.graph.filters import EventFilter

        compiled = EventFilter(given["$filter"])
    return ListOptions(
        top=top,
        skip=skip,
        select=_select(given["$select"]) if "$select" in given else None,
        descending=_descending(given["$orderby"]) if "$orderby" in given else False,
        filter=compiled,
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
