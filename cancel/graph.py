"""Graph's base URLs as functions: `/v1.0/…`, `/beta/…` and `/api/…` (the first base URL, kept
as an alias) each take the rest of the path as one parameter, read by the path table of
`shared/graph/paths.py`; any other first segment is Graph's 400 `Invalid version.`.

The Functions host tries routes in the order of function names, so the catch-all of every
path, `zz_unknown_version`, sorts after the three base URLs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import azure.functions as func

from cancel.http import authenticate, read_comment, read_new_event, respond, time_window
from shared.calendar.errors import InvalidVersion
from shared.calendar.model import Caller, GroupMailbox, Me, UserMailbox
from shared.graph.paths import EventPath, ListPath, Resource, route, served
from shared.graph.query import list_options, skiptoken
from shared.graph.representation import event_json, events_json, preferred_zone
from shared.runtime import telemetry
from shared.runtime.services import services, utc_now
from shared.runtime.telemetry import NO_INVOCATION
from shared.use_cases import reading
from shared.use_cases.cancellation import CancelEvent, cancel_event

bp = func.Blueprint()


# `context` is the invocation's (the Python worker passes it to a parameter of that name and
# type); a direct call, as the benchmarks make, has none.


@bp.function_name("graph_api")
@bp.route(route="api/{*path}")
def graph_api(req: func.HttpRequest, context: func.Context = NO_INVOCATION) -> func.HttpResponse:
    return serve(req, context, "api")


@bp.function_name("graph_beta")
@bp.route(route="beta/{*path}")
def graph_beta(req: func.HttpRequest, context: func.Context = NO_INVOCATION) -> func.HttpResponse:
    return serve(req, context, "beta")


@bp.function_name("graph_v1")
@bp.route(route="v1.0/{*path}")
def graph_v1(req: func.HttpRequest, context: func.Context = NO_INVOCATION) -> func.HttpResponse:
    return serve(req, context, "v1.0")


@bp.function_name("zz_unknown_version")
@bp.route(route="{*path}")
def unknown_version(
    req: func.HttpRequest, context: func.Context = NO_INVOCATION
) -> func.HttpResponse:
    def refuse() -> func.HttpResponse:
        raise InvalidVersion()

    return respond(req, refuse, context, route="/{*path}")


def serve(req: func.HttpRequest, context: func.Context, version: str) -> func.HttpResponse:
    """One request under a base URL: the path names a resource, the method what to do."""

    def action() -> func.HttpResponse:
        base, segments = split_url(req.url)
        resource = route(req.method, segments)
        telemetry.name_route(lambda: f"/{version}/{path_template(segments)}")
        caller = authenticate(req)
        method = req.method.upper()
        if isinstance(resource, ListPath):
            if method == "POST":
                return create(req, base, resource, caller)
            return list_of(req, base, resource, caller)
        if resource.cancel:
            return cancel(req, resource, caller)
        if method == "DELETE":
            return delete(req, resource, caller)
        return get(req, base, resource, caller)

    return respond(req, action, context, route=f"/{version}/{{*path}}")


def path_template(segments: Sequence[str]) -> str:
    """The template of `served()` a routed path is (`me/events/{id}/cancel`), for telemetry:
    of the templates whose literals match, the one with literals earliest, as the path table
    prefers a literal to a parameter at each segment."""
    matching = [
        (tuple(part is not None for part in parts), template)
        for parts, template in _templates().get(len(segments), {}).items()
        if all(part in (None, s.lower()) for part, s in zip(parts, segments, strict=True))
    ]
    return max(matching, key=lambda found: found[0])[1] if matching else "{*path}"


@cache
def _templates() -> dict[int, dict[tuple[str | None, ...], str]]:
    """Every served template by its number of segments, each segment a lowercase literal or
    None for a parameter; built on the first traced request."""
    by_length: dict[int, dict[tuple[str | None, ...], str]] = {}
    for line in served():
        parts = tuple(
            None if part.startswith("{") else part.lower() for part in line.template.split("/")
        )
        by_length.setdefault(len(parts), {})[parts] = line.template
    return by_length


def split_url(url: str) -> tuple[str, list[str]]:
    """The base URL (scheme, host, version) and the path's segments after it, each decoded."""
    parts = urlsplit(url)
    raw = parts.path.removeprefix("/").removesuffix("/").split("/")
    return f"{parts.scheme}://{parts.netloc}/{raw[0]}", [unquote(s) for s in raw[1:]]


def query_pairs(url: str) -> list[tuple[str, str]]:
    """The query string as sent, repeats included: hosts may keep only one value of a name."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def cancel(req: func.HttpRequest, resource: EventPath, caller: Caller) -> func.HttpResponse:
    """`POST …/cancel`: 202 and an empty body when done."""
    comment = read_comment(req)
    ports = services()
    cancel_event(
        CancelEvent(
            resource.mailbox,
            resource.container,
            resource.event,
            comment,
            if_match=req.headers.get("if-match"),
        ),
        caller,
        directory=ports.directory,
        calendars=ports.calendars,
        queue=telemetry.traced_queue(ports.queue),
        now=utc_now,
    )
    return func.HttpResponse(status_code=202)


def delete(req: func.HttpRequest, resource: EventPath, caller: Caller) -> func.HttpResponse:
    """`DELETE` of an event: 204 and an empty body when done."""
    from shared.use_cases.deletion import DeleteEvent, delete_event  # on the first delete

    ports = services()
    delete_event(
        DeleteEvent(
            resource.mailbox,
            resource.container,
            resource.event,
            if_match=req.headers.get("if-match"),
        ),
        caller,
        directory=ports.directory,
        calendars=ports.calendars,
        queue=telemetry.traced_queue(ports.queue),
        now=utc_now,
    )
    return func.HttpResponse(status_code=204)


def create(
    req: func.HttpRequest, base: str, resource: ListPath, caller: Caller
) -> func.HttpResponse:
    """`POST` of an event to a container's `events`: 201 and the stored event, as `GET`
    answers it (a retry with the same `transactionId`: the first create's event)."""
    from shared.use_cases.creation import CreateEvent, create_event  # on the first create

    new = read_new_event(req)
    ports = services()
    stored = create_event(
        CreateEvent(resource.mailbox, resource.container, new),
        caller,
        directory=ports.directory,
        calendars=ports.calendars,
        queue=telemetry.traced_queue(ports.queue),
        now=utc_now,
    )
    zone = preferred_zone(req.headers.get("prefer"))
    body = {
        "@odata.context": f"{base}/$metadata#{_owner(resource, caller)}/events/$entity",
        **event_json(stored.event, zone_name=zone, select=None),
    }
    headers = {} if zone is None else {"Preference-Applied": f'outlook.timezone="{zone}"'}
    return func.HttpResponse(
        json.dumps(body), status_code=201, mimetype="application/json", headers=headers
    )


def get(req: func.HttpRequest, base: str, resource: EventPath, caller: Caller) -> func.HttpResponse:
    options = list_options(query_pairs(req.url))
    ports = services()
    event = reading.read_event(
        resource.mailbox,
        resource.container,
        resource.event,
        caller,
        directory=ports.directory,
        calendars=ports.calendars,
    )
    zone = preferred_zone(req.headers.get("prefer"))
    body = {
        "@odata.context": f"{base}/$metadata#{_owner(resource, caller)}/events/$entity",
        **event_json(event, zone_name=zone, select=options.select),
    }
    return _json(body, zone)


def list_of(
    req: func.HttpRequest, base: str, resource: ListPath, caller: Caller
) -> func.HttpResponse:
    """`GET` of a list: the events of a container, a calendar view, a series' instances."""
    options = list_options(query_pairs(req.url))
    ports = services()
    directory, calendars = ports.directory, ports.calendars
    mailbox, container = resource.mailbox, resource.container
    if resource.kind == "events":
        events = reading.list_events(
            mailbox, container, caller, directory=directory, calendars=calendars
        )
        context = "events"
    elif resource.kind == "calendarView":
        window = time_window(req)
        events = reading.calendar_view(
            mailbox, container, window, caller, directory=directory, calendars=calendars
        )
        context = "calendarView"
    else:
        assert resource.of is not None
        window = time_window(req)
        events = reading.list_instances(
            mailbox,
            container,
            resource.of,
            window,
            caller,
            directory=directory,
            calendars=calendars,
        )
        context = f"events('{resource.of}')/instances"
    page = reading.page(events, options)
    zone = preferred_zone(req.headers.get("prefer"))
    body: dict[str, Any] = {
        "@odata.context": f"{base}/$metadata#{_owner(resource, caller)}/{context}",
        "value": events_json(page.events, zone_name=zone, select=options.select),
    }
    if page.next_skip is not None:
        body["@odata.nextLink"] = _next_link(req, page.next_skip)
    return _json(body, zone)


def _owner(resource: Resource, caller: Caller) -> str:
    mailbox = resource.mailbox
    if isinstance(mailbox, Me):
        return f"users('{caller.object_id}')"
    if isinstance(mailbox, UserMailbox):
        return f"users('{mailbox.user}')"
    assert isinstance(mailbox, GroupMailbox)
    return f"groups('{mailbox.group}')"


def _next_link(req: func.HttpRequest, skip: int) -> str:
    """The same request with the page's continuation: the path still names the mailbox, so a
    `$skiptoken` (only a position) can never reach another one."""
    parts = urlsplit(req.url)
    kept = [(k, v) for k, v in req.params.items() if k.lower() not in ("$skip", "$skiptoken")]
    query = urlencode([*kept, ("$skiptoken", skiptoken(skip))], safe="$/:'")
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query}"


def _json(body: dict[str, Any], zone: str | None) -> func.HttpResponse:
    headers = {} if zone is None else {"Preference-Applied": f'outlook.timezone="{zone}"'}
    return func.HttpResponse(
        json.dumps(body), status_code=200, mimetype="application/json", headers=headers
    )
