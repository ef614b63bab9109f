"""Route templates as the Functions host reads them: parsing, matching, and startup checks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,127}$", re.IGNORECASE)
RESERVED_NAMES = frozenset({"host"})
RESERVED_ROUTE_PREFIXES = ("admin", "runtime")
_PARAMETER = re.compile(r"^\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<constraint>[^{}]*))?\}$")


class HostConfigurationError(ValueError):
    """The app cannot be served: the real Functions host would refuse it too."""


@dataclass(frozen=True)
class Segment:
    """A literal (matched case-insensitively) or a `{parameter}`."""

    text: str
    is_parameter: bool

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
        for part in path.split("/"):
            segment = _parse_segment(template, part)
            if segment.is_parameter:
                if segment.text.lower() in names:
                    raise HostConfigurationError(
                        f"route {template!r}: parameter {{{segment.text}}} appears twice"
                    )
                names.add(segment.text.lower())
            segments.append(segment)
        return cls(template, tuple(segments))

    def match(self, raw_segments: Sequence[str]) -> dict[str, str] | None:
        """Route parameters (percent-decoded) if the raw, still-encoded segments match."""
        if len(raw_segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for segment, raw in zip(self.segments, raw_segments, strict=True):
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
        return len(self.segments) == len(other.segments) and all(
            a.compatible(b) for a, b in zip(self.segments, other.segments, strict=True)
        )


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
            "(only literals, {name} and {name:constraint})"
        )
    return Segment(found["name"], is_parameter=True)


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
    """Pairs of routes that some request (path and method) could match both."""
    return [
        (a, b)
        for i, a in enumerate(routes)
        for b in routes[i + 1 :]
        if a.methods_overlap(b) and a.template.overlaps(b.template)
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
