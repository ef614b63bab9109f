"""The README's table of served paths, made from the path table itself
(`shared/graph/paths.py: served`), so the two cannot drift apart.

    python -m devtools.paths        # prints the markdown the README's Routes section holds
"""

from __future__ import annotations

from collections import defaultdict

from shared.graph.paths import allowed_methods, parse, served

OWNERS = ("me", "users/{user}", "groups/{group}")
SHAPES = {
    "": (
        "the events of the container, and POST creates one there; calendarView: GET only, "
        "events and occurrences in a window"
    ),
    "/{id}": "one event, series master, occurrence or exception (`OID.{master}.{date}`)",
    "/{id}/cancel": "cancel it (`microsoft.graph.cancel` is the same action)",
    "/{id}/microsoft.graph.cancel": "",
    "/{id}/instances": "a series' occurrences in a window (a single event: itself)",
    "/{id}/instances/{occurrence}": "one occurrence of that series",
    "/{id}/instances/{occurrence}/cancel": "cancel that occurrence",
    "/{id}/instances/{occurrence}/microsoft.graph.cancel": "",
    "/{id}/exceptionOccurrences/{exception}": "one modified occurrence of that series",
    "/{id}/exceptionOccurrences/{exception}/cancel": "cancel that occurrence",
    "/{id}/exceptionOccurrences/{exception}/microsoft.graph.cancel": "",
}


def split(template: str) -> tuple[str, str, str]:
    """Owner, container and what follows it, of one served template."""
    owner = next(o for o in OWNERS if template == o or template.startswith(f"{o}/"))
    rest = template[len(owner) + 1 :].split("/")
    end = next(i for i, s in enumerate(rest) if s in ("events", "calendarView")) + 1
    return owner, "/".join(rest[:end]), "".join(f"/{s}" for s in rest[end:])


def markdown() -> str:
    containers: dict[str, set[str]] = defaultdict(set)
    shapes: dict[str, set[str]] = defaultdict(set)
    for line in served():
        owner, container, shape = split(line.template)
        containers[container].add(owner)
        shapes[shape].update(allowed_methods(parse(line.template.split("/"))))
    rows = ["| `{owner}/…` | " + " | ".join(f"`{o}`" for o in OWNERS) + " |"]
    rows.append("|---|" + "---|" * len(OWNERS))
    for container, owners in containers.items():
        marks = " | ".join("yes" if o in owners else "—" for o in OWNERS)
        rows.append(f"| `{container}` | {marks} |")
    rows += ["", "| after the container | methods | names |", "|---|---|---|"]
    for shape, methods in shapes.items():
        rows.append(
            f"| `{shape or '(nothing)'}` | {', '.join(sorted(methods))} | {SHAPES[shape]} |"
        )
    count = sum(1 for _ in served())
    rows += ["", f"{len(containers)} containers, {len(shapes)} shapes: {count} path templates."]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
