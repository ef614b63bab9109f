"""Route templates as the Functions host reads them: parsing, matching, and startup checks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,127}$", re.IGNORECASE)
RESERVED_NAMES = frozenset({"host"})
RESERVED_ROUTE_PREFIXES = ("admin", "runtime")
_PARAMETER = re.compile(
    r"^\{(?P<rest>\*{1,2})?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<constraint>[^{}]*))?\}$"
)


class HostConfigurationError(ValueError):
    """The app cannot be served: the real Functions host would refuse it too."""


@dataclass(frozen=True)
class Segment:
    """A literal (matched case-insensitively), a `{parameter}`, or a catch-all `{*parameter}`
    that takes the rest of the path (none, one or more segments)."""

    text: str
    is_parameter: bool
    is_catch_all: bool = False

    def compatible(self, other: Segment) -> bool:
        if self.is_parameter or other.is_parameter:
            return True
        return self.text.lower() == other.text.lower()


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        path = template.removeprefix("/")
        if not path:
            return cls(template, ())
        segments: list[Segment] = []
        names: set[str] = set()
        parts = path.split("/")
        for number, part in enumerate(parts):
            segment = _parse_segment(template, part)
            if segment.is_catch_all and number != len(parts) - 1:
                raise HostConfigurationError(f"route {template!r}: a catch-all must come last")
            if segment.is_parameter:
                if segment.text.lower() in names:
                    raise HostConfigurationError(
                        f"route {template!r}: parameter {{{segment.text}}} appears twice"
                    )
                names.add(segment.text.lower())
            segments.append(segment)
        return cls(template, tuple(segments))

    @property
    def catch_all(self) -> bool:
        return bool(self.segments) and self.segments[-1].is_catch_all

    @property
    def fixed(self) -> tuple[Segment, ...]:
        """The segments before a catch-all (all of them without one)."""
        return self.segments[:-1] if self.catch_all else self.segments

    def match(self, raw_segments: Sequence[str]) -> dict[str, str] | None:
        """Route parameters (percent-decoded) if the raw, still-encoded segments match; a
        catch-all takes the rest of the path, decoded segment by segment and joined by `/`."""
        fixed = self.fixed
        if len(raw_segments) < len(fixed) or (
            not self.catch_all and len(raw_segments) != len(fixed)
        ):
            return None
        params: dict[str, str] = {}
        if self.catch_all:
            rest = raw_segments[len(fixed) :]
            params[self.segments[-1].text] = "/".join(unquote(raw) for raw in rest)
        for segment, raw in zip(fixed, raw_segments[: len(fixed)], strict=True):
            value = unquote(raw)
            if segment.is_parameter:
                if not value:
                    return None
                params[segment.text] = value
            elif value.lower() != segment.text.lower():
                return None
        return params

    def overlaps(self, other: RouteTemplate) -> bool:
        """Whether some path could match both templates."""
        a, b = self.fixed, other.fixed
        if not self.catch_all and not other.catch_all and len(a) != len(b):
            return False
        if (len(a) > len(b) and not other.catch_all) or (len(b) > len(a) and not self.catch_all):
            return False
        return all(x.compatible(y) for x, y in zip(a, b, strict=False))

    def shadows(self, later: RouteTemplate) -> bool:
        """Whether this template, tried first, takes requests `later` was written for. A
        catch-all tried after the routes it overlaps is a fallback: it serves only what they
        do not (of two catch-alls, the one with the longer literal start must come first)."""
        if not self.overlaps(later):
            return False
        fallback = later.catch_all and (not self.catch_all or len(self.fixed) > len(later.fixed))
        return not fallback


def _parse_segment(template: str, part: str) -> Segment:
    if not part:
        raise HostConfigurationError(f"route {template!r} has an empty segment")
    if "{" not in part and "}" not in part:
        if "?" in part or "*" in part:
            raise HostConfigurationError(f"route {template!r}: {part!r} is not a valid literal")
        return Segment(part, is_parameter=False)
    found = _PARAMETER.match(part)
    if found is None:
        raise HostConfigurationError(
            f"route {template!r}: segment {part!r} is not supported by the dev host "
            "(only literals, {name}, {name:constraint} and a last {*name})"
        )
    return Segment(found["name"], is_parameter=True, is_catch_all=bool(found["rest"]))


def split_path(raw_path: str) -> list[str]:
    """Segments of a request path, still percent-encoded; one trailing slash is ignored."""
    path = raw_path.removeprefix("/")
    path = path.removesuffix("/")
    return path.split("/") if path else []


def normalize_methods(methods: Iterable[object] | None) -> frozenset[str] | None:
    """Upper-case method names; None (any method) for a missing or empty list."""
    if not methods:
        return None
    return frozenset(str(getattr(method, "value", method)).upper() for method in methods)


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP-triggered function: its route (without prefix) and full template."""

    function_name: str
    route: str
    template: RouteTemplate
    methods: frozenset[str] | None

    @classmethod
    def create(
        cls,
        function_name: str,
        route: str,
        methods: Iterable[object] | None = None,
        prefix: str = "api",
    ) -> HttpRoute:
        route = route.removeprefix("/")
        prefix = prefix.strip("/")
        full = f"{prefix}/{route}" if prefix and route else prefix or route
        return cls(function_name, route, RouteTemplate.parse(full), normalize_methods(methods))

    def methods_overlap(self, other: HttpRoute) -> bool:
        if self.methods is None or other.methods is None:
            return True
        return bool(self.methods & other.methods)

    def accepts(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


def check_function_names(names: Iterable[str]) -> None:
    """Refuse names the host refuses: bad syntax, reserved, or duplicated ignoring case."""
    seen: dict[str, str] = {}
    for name in names:
        if not FUNCTION_NAME.match(name) or name.lower() in RESERVED_NAMES:
            raise HostConfigurationError(
                f"function name {name!r} is invalid: it must match {FUNCTION_NAME.pattern} "
                "and not be reserved"
            )
        if name.lower() in seen:
            raise HostConfigurationError(
                f"function names {seen[name.lower()]!r} and {name!r} are not unique"
            )
        seen[name.lower()] = name


def find_overlaps(routes: Sequence[HttpRoute]) -> list[tuple[HttpRoute, HttpRoute]]:
    """Pairs of routes, in the order the host tries them (function names), where the first
    takes some request (path and method) meant for the second. A catch-all that sorts after
    the routes it overlaps only serves what they do not."""
    return [
        (a, b)
        for i, a in enumerate(routes)
        for b in routes[i + 1 :]
        if a.methods_overlap(b) and a.template.shadows(b.template)
    ]


def check_routes(routes: Sequence[HttpRoute]) -> None:
    """Refuse reserved route prefixes and any two routes that can match the same request."""
    for route in routes:
        if route.route.lower().startswith(RESERVED_ROUTE_PREFIXES):
            raise HostConfigurationError(
                f"function {route.function_name!r}: route {route.route!r} conflicts with the "
                "host's built-in routes (it may not start with admin or runtime)"
            )
    overlaps = find_overlaps(routes)
    if overlaps:
        described = "; ".join(
            f"{a.function_name} ({a.template.template}) and {b.function_name} "
            f"({b.template.template})"
            for a, b in overlaps
        )
        raise HostConfigurationError(f"overlapping HTTP routes: {described}")
