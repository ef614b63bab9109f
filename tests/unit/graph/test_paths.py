"""The path table: every served path reads as the resource it names; anything else is Graph's
400 for the first unknown segment, or 405 with Allow for a method a known path does not take."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.calendar.errors import MethodNotAllowed, UnknownSegment
from shared.calendar.model import (
    AnyCalendar,
    CalendarInDefaultGroup,
    CalendarInGroup,
    DefaultCalendar,
    GroupMailbox,
    Me,
    NamedCalendar,
    UserMailbox,
)
from shared.graph.paths import (
    EventAddress,
    EventPath,
    ListPath,
    allowed_methods,
    parse,
    route,
    served,
)

TEMPLATES = [line.template for line in served()]
VALUES = {
    "user": "adele@contoso.example",
    "group": "3a4b5c6d-3333-4444-8555-666677778888",
    "calendar": "AAMkCal",
    "calendarGroup": "AAMkGrp",
    "id": "AAMkMaster",
    "occurrence": "OID.AAMkMaster.2027-01-04",
    "exception": "OID.AAMkMaster.2027-02-15",
}


def filled(template: str) -> list[str]:
    return [VALUES[s[1:-1]] if s.startswith("{") else s for s in template.split("/")]


def test_the_table_has_every_owner_container_and_shape_once() -> None:
    assert len(TEMPLATES) == len(set(TEMPLATES)) == 220
    assert sum(t.startswith("groups/") for t in TEMPLATES) == 4 * 11
    assert not any(t.startswith("groups/") and "calendars/" in t for t in TEMPLATES)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("me/events/E", EventPath(Me(), AnyCalendar(), EventAddress("E"))),
        ("ME/EVENTS/E/Cancel", EventPath(Me(), AnyCalendar(), EventAddress("E"), cancel=True)),
        (
            "users/u/calendar/events/E/microsoft.graph.cancel",
            EventPath(UserMailbox("u"), DefaultCalendar(), EventAddress("E"), cancel=True),
        ),
        (
            "users/u/calendars/C/events/E",
            EventPath(UserMailbox("u"), NamedCalendar("C"), EventAddress("E")),
        ),
        (
            "me/calendarGroup/calendars/C/events/E",
            EventPath(Me(), CalendarInDefaultGroup("C"), EventAddress("E")),
        ),
        (
            "me/calendargroups/G/calendars/C/events/E/instances/O/cancel",
            EventPath(
                Me(), CalendarInGroup("G", "C"), EventAddress("E", "instances", "O"), cancel=True
            ),
        ),
        (
            "groups/g/calendar/calendarView/E/exceptionOccurrences/X",
            EventPath(
                GroupMailbox("g"), DefaultCalendar(), EventAddress("E", "exceptionOccurrences", "X")
            ),
        ),
        ("me/events", ListPath(Me(), AnyCalendar(), "events")),
        ("me/calendarView", ListPath(Me(), AnyCalendar(), "calendarView")),
        (
            "users/u/calendars/C/calendarView",
            ListPath(UserMailbox("u"), NamedCalendar("C"), "calendarView"),
        ),
        (
            "groups/g/events/E/instances",
            ListPath(GroupMailbox("g"), AnyCalendar(), "instances", of="E"),
        ),
    ],
)
def test_paths_read_as_the_resource_they_name(path: str, expected: object) -> None:
    assert parse(path.split("/")) == expected


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_served_template_reads_back(template: str) -> None:
    resource = parse(filled(template))

    owner = template.split("/")[0]
    assert isinstance(
        resource.mailbox, {"me": Me, "users": UserMailbox, "groups": GroupMailbox}[owner]
    )
    if isinstance(resource, EventPath):
        assert resource.cancel == template.endswith("cancel")
        assert allowed_methods(resource) == (("POST",) if resource.cancel else ("GET", "DELETE"))
        assert resource.event.id == VALUES["id"]
        assert resource.event.below == (
            "instances" if "/instances/" in template
            else "exceptionOccurrences" if "/exceptionOccurrences/" in template
            else None
        )  # fmt: skip
    else:
        creates = resource.kind == "events"
        assert allowed_methods(resource) == (("GET", "POST") if creates else ("GET",))
        assert resource.kind == (
            "instances" if template.endswith("/instances")
            else "calendarView" if template.endswith("calendarView")
            else "events"
        )  # fmt: skip


@pytest.mark.parametrize(
    ("path", "segment"),
    [
        ("me/eventz", "eventz"),
        ("me/events/E/foo", "foo"),
        ("me/events/E/cancel/again", "again"),
        ("groups/g/calendars/C/events", "calendars"),
        ("groups/g/calendarGroups/G/calendars/C/events", "calendarGroups"),
        ("me/events/E/instances/O/instances", "instances"),
        ("people/x/events", "people"),
        ("me", "me"),
        ("me/calendars/C", "C"),
        ("", ""),
    ],
)
def test_the_first_segment_the_table_does_not_know_is_named(path: str, segment: str) -> None:
    with pytest.raises(UnknownSegment) as raised:
        parse(path.split("/") if path else [])

    assert raised.value.message == f"Resource not found for the segment '{segment}'."
    assert (raised.value.status, raised.value.code) == (400, "BadRequest")


def _shape(template: str) -> list[str]:
    return ["{}" if s.startswith("{") else s.lower() for s in template.split("/")]


def _open_to_anything(template: str, index: int) -> bool:
    """Whether some served path with the same start takes any value at `index`."""
    start = _shape(template)[:index]
    return any(
        _shape(t)[:index] == start and len(_shape(t)) > index and _shape(t)[index] == "{}"
        for t in TEMPLATES
    )


@settings(max_examples=300, deadline=None)
@given(
    template=st.sampled_from(TEMPLATES),
    at=st.integers(0, 20),
    junk=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12),
)
def test_a_literal_replaced_by_junk_is_the_segment_named(template: str, at: int, junk: str) -> None:
    parts = filled(template)
    literals = [i for i, s in enumerate(template.split("/")) if not s.startswith("{")]
    index = literals[at % len(literals)]
    known = {_shape(t)[index] for t in TEMPLATES if len(_shape(t)) > index}
    if junk.lower() in known or _open_to_anything(template, index):
        return
    parts[index] = junk

    with pytest.raises(UnknownSegment) as raised:
        parse(parts)

    assert raised.value.message == f"Resource not found for the segment '{junk}'."


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "me/events/E", ("GET", "DELETE")),
        ("PATCH", "me/events/E", ("GET", "DELETE")),
        ("GET", "me/events/E/cancel", ("POST",)),
        ("DELETE", "me/events", ("GET", "POST")),
        ("POST", "me/calendarView", ("GET",)),
        ("POST", "me/events/E/instances", ("GET",)),
    ],
)
def test_a_method_a_known_path_does_not_take_is_405_with_allow(
    method: str, path: str, allow: tuple[str, ...]
) -> None:
    with pytest.raises(MethodNotAllowed) as raised:
        route(method, path.split("/"))

    error = raised.value
    assert (error.status, error.code, error.message) == (
        405,
        "ErrorInvalidRequest",
        "The OData request is not supported.",
    )
    assert error.headers == {"Allow": ", ".join(allow)}


def test_methods_match_in_any_letter_case() -> None:
    assert route("post", ["me", "events", "E", "cancel"]) == EventPath(
        Me(), AnyCalendar(), EventAddress("E"), cancel=True
    )
