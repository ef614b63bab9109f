"""The README's routes section is the path table, made by `python -m devtools.paths`."""

from __future__ import annotations

from pathlib import Path

from devtools.paths import markdown, split

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_shows_the_path_table_as_the_code_serves_it() -> None:
    text = README.read_text("utf-8")
    shown = text.split("<!-- paths:begin -->\n", 1)[1].split("<!-- paths:end -->", 1)[0]
    assert shown == markdown()


def test_a_template_splits_into_owner_container_and_shape() -> None:
    assert split(
        "users/{user}/calendarGroups/{calendarGroup}/calendars/{calendar}/events/{id}/cancel"
    ) == (
        "users/{user}",
        "calendarGroups/{calendarGroup}/calendars/{calendar}/events",
        "/{id}/cancel",
    )
    assert split("me/calendarView") == ("me", "calendarView", "")
