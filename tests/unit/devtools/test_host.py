"""The local dev host serves a FunctionApp as `func start` would."""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from devtools.host import (
    MAX_REQUEST_BODY,
    DevHost,
    RequestRefused,
    http_response_parts,
    load_local_settings,
    main,
    read_body,
)
from devtools.host_routes import (
    HostConfigurationError,
    HttpRoute,
    RouteTemplate,
    check_function_names,
    check_routes,
    find_overlaps,
    split_path,
)
from devtools.host_triggers import (
    CronSchedule,
    IntervalSchedule,
    QueueSettings,
    parse_schedule,
    parse_timespan,
    resolve_settings,
)

REPO = Path(__file__).resolve().parents[3]

GRAPH_CANCEL_ROUTES = [
    "me/events/{id}/cancel",
    "users/{user}/events/{id}/cancel",
    "groups/{group}/events/{id}/cancel",
    "me/calendar/events/{id}/cancel",
    "users/{user}/calendar/events/{id}/cancel",
    "groups/{group}/calendar/events/{id}/cancel",
    "me/calendars/{cal}/events/{id}/cancel",
    "users/{user}/calendars/{cal}/events/{id}/cancel",
    "me/calendargroup/calendars/{cal}/events/{id}/cancel",
    "users/{user}/calendargroup/calendars/{cal}/events/{id}/cancel",
    "me/calendargroups/{grp}/calendars/{cal}/events/{id}/cancel",
    "users/{user}/calendargroups/{grp}/calendars/{cal}/events/{id}/cancel",
]
GRAPH_READ_ROUTES = ["me/events/{id}", "users/{user}/events/{id}"]


def echo(req: func.HttpRequest, status: int = 200) -> func.HttpResponse:
    payload = {
        "method": req.method,
        "url": req.url,
        "route": dict(req.route_params),
        "params": dict(req.params),
        "body": base64.b64encode(req.get_body()).decode(),
        "headers": {key: req.headers[key] for key in req.headers if key.startswith("x-")},
    }
    return func.HttpResponse(json.dumps(payload), status_code=status, mimetype="application/json")


def build_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    blueprint = func.Blueprint()

    @blueprint.route(route="me/events/{id}/cancel", methods=["POST"])
    def cancel_me(req: func.HttpRequest) -> func.HttpResponse:
        return echo(req, 202)

    @blueprint.route(
        route="users/{user}/calendarGroups/{grp}/calendars/{cal}/events/{id:minlength(1)}/cancel",
        methods=["POST"],
    )
    def cancel_user_group_calendar(req: func.HttpRequest) -> func.HttpResponse:
        return echo(req, 202)

    @app.route(route="me/events/{id}", methods=["GET"])
    def get_me_event(req: func.HttpRequest) -> func.HttpResponse:
        return echo(req)

    @app.route(route="made", methods=["GET"])
    def made(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(
            "<p>made</p>", status_code=201, headers={"X-Made": "yes"}, mimetype="text/html"
        )

    @app.route(route="plain", methods=["GET"])
    def plain(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(b"\x00\xff")

    @app.route(route="fail")
    def fail(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("secret detail")

    @app.route(route="nothing")
    def nothing(req: func.HttpRequest) -> None:
        return None

    @app.route(route="later/{x}", methods=["PUT"])
    async def later(req: func.HttpRequest) -> func.HttpResponse:
        return echo(req)

    app.register_functions(blueprint)
    return app


def call(
    host: DevHost,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


INTERNAL_ERROR = "An internal server error occurred while processing the request."


def exchange(port: int, request: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes and read until the host closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), headers, body


def assert_envelope(
    status: int,
    headers: dict[str, str],
    body: bytes,
    expected_status: int,
    code: str,
    message: str | None = None,
) -> None:
    """The host's own answer: Graph's error envelope, a new request id, readable JSON."""
    assert status == expected_status, body
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(body))
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert error["code"] == code
    if message is not None:
        assert error["message"] == message
    assert isinstance(error["message"], str)
    assert error["message"].endswith(".")
    inner = error["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", inner["date"])
    assert uuid.UUID(inner["request-id"]).version == 4
    assert inner["client-request-id"] == inner["request-id"]
    assert headers["request-id"] == headers["client-request-id"] == inner["request-id"]


@pytest.fixture
def counted() -> Iterator[tuple[DevHost, list[bytes]]]:
    """A host whose one function, `POST /api/count`, records each body it is called with."""
    calls: list[bytes] = []
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="count", methods=["POST", "GET"])
    def count(req: func.HttpRequest) -> func.HttpResponse:
        calls.append(req.get_body())
        return func.HttpResponse(status_code=202)

    with DevHost(app, {}, {}, port=0) as served:
        yield served, calls


@pytest.fixture(scope="module")
def host() -> Iterator[DevHost]:
    with DevHost(build_app(), {}, {}, port=0) as served:
        yield served


def test_literals_match_case_insensitively_and_params_reach_the_function(host: DevHost) -> None:
    status, _, body = call(host, "POST", "/API/Me/EVENTS/AAMk-1/Cancel", b"{}")
    assert status == 202
    assert json.loads(body)["route"] == {"id": "AAMk-1"}

    path = "/api/users/u%40contoso.com/calendargroups/g/CALENDARS/c/events/e/cancel"
    status, _, body = call(host, "POST", path, b"{}")
    assert status == 202
    assert json.loads(body)["route"] == {"user": "u@contoso.com", "grp": "g", "cal": "c", "id": "e"}


def test_encoded_slash_stays_inside_its_segment(host: DevHost) -> None:
    status, _, body = call(host, "POST", "/api/me/events/a%2Fb%20c/cancel", b"")
    assert status == 202
    assert json.loads(body)["route"] == {"id": "a/b c"}
    assert call(host, "POST", "/api/me/events/a/b/cancel", b"")[0] == 404


def test_trailing_slash_is_tolerated(host: DevHost) -> None:
    assert call(host, "POST", "/api/me/events/x/cancel/", b"")[0] == 202
    assert call(host, "POST", "/api/me/events/x/cancel//", b"")[0] == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/me/events/x/cancel"),
        ("DELETE", "/api/me/events/x"),
        ("POST", "/api/me/events/x/cancel/more"),
        ("POST", "/me/events/x/cancel"),
        ("GET", "/api/unknown"),
        ("GET", "/api/me/events//"),
        ("GET", "/"),
    ],
)
def test_no_match_is_404_in_graph_envelope(host: DevHost, method: str, path: str) -> None:
    status, headers, body = call(host, method, path)
    assert_envelope(status, headers, body, 404, "ResourceNotFound", "No function serves this path.")


def test_body_headers_and_query_reach_the_function(host: DevHost) -> None:
    raw = b'\x00{"Comment": "\xc3\xa9"}\xff'
    status, _, body = call(
        host,
        "POST",
        "/api/me/events/e1/cancel?a=1&a=2&b=&c=x%20y",
        raw,
        {"X-Client": "one", "Content-Type": "application/json"},
    )
    assert status == 202
    seen = json.loads(body)
    assert base64.b64decode(seen["body"]) == raw
    assert seen["params"] == {"a": "1", "b": "", "c": "x y"}
    assert seen["headers"] == {"x-client": "one"}
    assert seen["method"] == "POST"
    assert seen["url"].endswith("/api/me/events/e1/cancel?a=1&a=2&b=&c=x%20y")


def test_chunked_request_body_is_read(host: DevHost) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    try:
        connection.request(
            "POST", "/api/me/events/e/cancel", body=iter([b"ab", b"cde"]), encode_chunked=True
        )
        response = connection.getresponse()
        assert response.status == 202
        assert base64.b64decode(json.loads(response.read())["body"]) == b"abcde"
    finally:
        connection.close()


def test_keep_alive_connection_serves_several_requests(host: DevHost) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("POST", "/api/me/events/e/cancel", body=b"{}")
            response = connection.getresponse()
            assert response.status == 202
            response.read()
    finally:
        connection.close()


def test_response_status_headers_and_body_are_returned(host: DevHost) -> None:
    status, headers, body = call(host, "GET", "/api/made")
    assert (status, body) == (201, b"<p>made</p>")
    assert headers["x-made"] == "yes"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-length"] == str(len(body))

    status, headers, body = call(host, "GET", "/api/plain")
    assert (status, body, headers["content-type"]) == (
        200,
        b"\x00\xff",
        "text/plain; charset=utf-8",
    )


def test_async_function_is_awaited(host: DevHost) -> None:
    status, _, body = call(host, "PUT", "/api/later/%C3%A9")
    assert status == 200
    assert json.loads(body)["route"] == {"x": "é"}


def test_exception_is_500_in_graph_envelope_and_logged(
    host: DevHost, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="devhost"):
        status, headers, body = call(host, "POST", "/api/fail")
    assert_envelope(status, headers, body, 500, "generalException", INTERNAL_ERROR)
    assert b"secret" not in body
    assert any(r.exc_info and "secret detail" in str(r.exc_info[1]) for r in caplog.records)
    assert call(host, "GET", "/api/made")[0] == 201


def test_returning_no_response_is_a_failure(host: DevHost) -> None:
    status, headers, body = call(host, "GET", "/api/nothing")
    assert_envelope(status, headers, body, 500, "generalException", INTERNAL_ERROR)


def test_one_log_line_per_request(host: DevHost, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="devhost"):
        call(host, "GET", "/api/made?q=1")

        def logged() -> bool:
            lines = [r.getMessage() for r in caplog.records if r.name == "devhost"]
            return any(line.startswith("GET /api/made?q=1 201 ") for line in lines)

        wait_for(logged, timeout=5)


def test_body_shorter_than_content_length_is_refused_and_runs_nothing(
    counted: tuple[DevHost, list[bytes]],
) -> None:
    host, calls = counted
    request = b"POST /api/count HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{}"
    status, headers, body = parse_response(exchange(host.port, request, half_close=True))
    message = "The request body is shorter than its Content-Length."
    assert_envelope(status, headers, body, 400, "BadRequest", message)
    assert calls == []


@pytest.mark.parametrize(
    ("chunked", "message"),
    [
        (b"2\r\n{}\r\n", "The request's chunked body is cut short."),
        (b"5\r\n{}", "The request's chunked body is cut short."),
        (b"2\r\n{}\r\n0\r\n", "The request's chunked body is cut short."),
        (b"2\r\n{}\r\n0\r\nTrailer: x\r\n", "The request's chunked body is cut short."),
        (b"2\r\n{}\r\n0", "The request's chunked body is cut short."),
        (b"zz\r\n{}\r\n0\r\n\r\n", "The request's chunked body is not valid."),
        (b"0x2\r\n{}\r\n0\r\n\r\n", "The request's chunked body is not valid."),
        (b"-2\r\n{}\r\n0\r\n\r\n", "The request's chunked body is not valid."),
        (b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n", "The request's chunked body is not valid."),
        (b"\r\n{}\r\n0\r\n\r\n", "The request's chunked body is not valid."),
        (b"2\r\n{}XY0\r\n\r\n", "The request's chunked body is not valid."),
    ],
)
def test_cut_short_or_malformed_chunked_body_is_refused_and_runs_nothing(
    counted: tuple[DevHost, list[bytes]], chunked: bytes, message: str
) -> None:
    host, calls = counted
    head = b"POST /api/count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, headers, body = parse_response(exchange(host.port, head + chunked, half_close=True))
    assert_envelope(status, headers, body, 400, "BadRequest", message)
    assert calls == []


@pytest.mark.parametrize(
    ("framing", "message"),
    [
        (b"Content-Length: abc", "The request's Content-Length is not valid."),
        (b"Content-Length: -1", "The request's Content-Length is not valid."),
        (b"Content-Length: +2", "The request's Content-Length is not valid."),
        (b"Content-Length: 2.0", "The request's Content-Length is not valid."),
        (b"Content-Length: ", "The request's Content-Length is not valid."),
        (b"Content-Length: 2, 2", "The request's Content-Length is not valid."),
        (b"Content-Length: 2\r\nContent-Length: 3", "The request's Content-Length is not valid."),
        (
            b"Content-Length: 2\r\nTransfer-Encoding: chunked",
            "The request has both a Content-Length and a Transfer-Encoding.",
        ),
        (b"Transfer-Encoding: gzip", "The request's Transfer-Encoding is not chunked."),
        (b"Transfer-Encoding: chunked, gzip", "The request's Transfer-Encoding is not chunked."),
    ],
)
def test_unframable_body_is_400_and_closes_the_connection(
    counted: tuple[DevHost, list[bytes]], framing: bytes, message: str
) -> None:
    host, calls = counted
    request = b"POST /api/count HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n\r\n{}"
    # Not half-closed: reading to the end returns only if the host closes the connection.
    status, headers, body = parse_response(exchange(host.port, request))
    assert_envelope(status, headers, body, 400, "BadRequest", message)
    assert headers["connection"] == "close"
    assert calls == []


@pytest.mark.parametrize(
    "framing",
    [
        f"Content-Length: {MAX_REQUEST_BODY + 1}".encode(),
        b"Content-Length: " + b"9" * 30,
        b"Transfer-Encoding: chunked\r\n\r\n" + f"{MAX_REQUEST_BODY + 1:x}".encode(),
        b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 30,
    ],
)
def test_body_over_the_limit_is_413_and_closes_the_connection(
    counted: tuple[DevHost, list[bytes]], framing: bytes
) -> None:
    host, calls = counted
    request = b"POST /api/count HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n\r\n"
    status, headers, body = parse_response(exchange(host.port, request))
    message = f"The request body is larger than {MAX_REQUEST_BODY} bytes."
    assert_envelope(status, headers, body, 413, "RequestEntityTooLarge", message)
    assert headers["connection"] == "close"
    assert calls == []


def test_refusal_reaches_a_client_that_sends_its_whole_body_first(
    counted: tuple[DevHost, list[bytes]],
) -> None:
    host, calls = counted
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    try:
        # More than the socket buffers hold: without the host reading it, the send is reset.
        connection.request(
            "POST",
            "/api/count",
            body=b"x" * (32 * 1024 * 1024),
            headers={"Content-Length": str(MAX_REQUEST_BODY + 1)},
        )
        response = connection.getresponse()
        answer = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()
    assert_envelope(*answer, 413, "RequestEntityTooLarge")
    assert calls == []


def test_a_body_that_will_be_refused_gets_no_100_continue(
    counted: tuple[DevHost, list[bytes]],
) -> None:
    host, calls = counted
    request = (
        b"POST /api/count HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        + f"Content-Length: {MAX_REQUEST_BODY + 1}\r\n\r\n".encode()
    )
    raw = exchange(host.port, request)
    assert raw.startswith(b"HTTP/1.1 413 ")
    assert calls == []
    accepted = exchange(
        host.port,
        b"POST /api/count HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n{}",
    )
    assert accepted.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 ")
    assert calls == [b"{}"]


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"garbage\r\n\r\n", 400, "BadRequest"),
        (b'"}<b> {"x": 1} \\" HTTP/1.1\r\n\r\n', 400, "BadRequest"),
        (b"GET / HTTP/x.y\r\n\r\n", 400, "BadRequest"),
        (b"POST /api/count\r\n\r\n", 400, "BadRequest"),
        (b"GET /api/count\r\n\r\n", 400, "BadRequest"),
        (b"GET / HTTP/2.0\r\n\r\n", 505, "notSupported"),
        (b"BREW /api/count HTTP/1.1\r\nHost: x\r\n\r\n", 501, "notSupported"),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "BadRequest"),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431, "BadRequest"),
        (b"GET / HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 101 + b"\r\n", 431, "BadRequest"),
    ],
)
def test_http_servers_own_errors_are_in_graph_envelope(
    counted: tuple[DevHost, list[bytes]], request_bytes: bytes, status: int, code: str
) -> None:
    host, calls = counted
    answer = parse_response(exchange(host.port, request_bytes))
    assert_envelope(*answer, status, code)
    assert answer[1]["connection"] == "close"
    assert b"<" not in answer[2]
    assert calls == []


def test_128_simultaneous_connections_are_all_answered() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="ping", methods=["GET"])
    def ping(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("pong")

    connections: list[socket.socket] = []
    with DevHost(app, {}, {}, port=0) as served:
        try:
            # A connection beyond the listen backlog waits for a SYN retry (1 s) or is reset.
            for _ in range(128):
                connections.append(socket.create_connection(("127.0.0.1", served.port), 0.5))
            for connection in connections:
                connection.settimeout(10)
                connection.sendall(
                    b"GET /api/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
            for connection in connections:
                received = b""
                while chunk := connection.recv(65536):
                    received += chunk
                assert received.startswith(b"HTTP/1.1 200 ")
                assert received.endswith(b"\r\n\r\npong")
        finally:
            for connection in connections:
                connection.close()


def test_an_answer_that_ends_the_connection_says_so() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="ping", methods=["GET"])
    def ping(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("pong")

    with DevHost(app, {}, {}, port=0) as served:
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
        try:
            connection.request("GET", "/api/ping")
            kept = connection.getresponse()
            kept.read()
            connection.request("GET", "/api/ping", headers={"Connection": "close"})
            closing = connection.getresponse()
            closing.read()
        finally:
            connection.close()

    assert kept.getheader("Connection") is None
    assert closing.getheader("Connection") == "close"


@pytest.mark.parametrize(
    ("host_json", "prefix"),
    [
        ({"extensions": {"http": {"routePrefix": "v1"}}}, "/v1"),
        ({"Extensions": {"HTTP": {"RoutePrefix": "/graph/v1.0/"}}}, "/graph/v1.0"),
        ({"extensions": {"http": {"routePrefix": ""}}}, ""),
        ({"version": "2.0"}, "/api"),
    ],
)
def test_route_prefix_comes_from_host_json(host_json: dict[str, Any], prefix: str) -> None:
    with DevHost(build_app(), host_json, {}, port=0) as served:
        assert served.base_url == f"http://127.0.0.1:{served.port}{prefix}"
        assert call(served, "POST", f"{prefix}/me/events/e/cancel", b"")[0] == 202
        if prefix != "/api":
            assert call(served, "POST", "/api/me/events/e/cancel", b"")[0] == 404


def test_describe_lists_routes_like_func_start(host: DevHost) -> None:
    lines = host.describe()
    root = f"http://127.0.0.1:{host.port}/api"
    assert f"cancel_me: [POST] {root}/me/events/{{id}}/cancel" in lines
    assert f"fail: {root}/fail" in lines


def test_stop_closes_idle_keep_alive_connections_quickly() -> None:
    served = DevHost(build_app(), {}, {}, port=0).start()
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    connection.request("GET", "/api/made")
    connection.getresponse().read()
    started = time.monotonic()
    served.stop()
    assert time.monotonic() - started < 5
    connection.close()
    served.start()
    try:
        assert call(served, "GET", "/api/made")[0] == 201
    finally:
        served.stop()


def test_graph_routes_do_not_overlap_and_each_path_finds_its_own() -> None:
    routes = [
        HttpRoute.create(f"cancel{i}", r, ["POST"]) for i, r in enumerate(GRAPH_CANCEL_ROUTES)
    ]
    routes += [HttpRoute.create(f"get{i}", r, ["GET"]) for i, r in enumerate(GRAPH_READ_ROUTES)]
    check_routes(routes)
    assert find_overlaps(routes) == []
    for route in routes:
        sample = [
            s.text.upper() if not s.is_parameter else "p%2F1" for s in route.template.segments
        ]
        matching = [r for r in routes if r.template.match(sample) is not None]
        assert matching == [route]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("me/events/{id}/cancel", "me/{container}/{id}/cancel"),
        ("me/events/{id}/cancel", "ME/Events/{eventId}/CANCEL"),
        ("users/{user}/events/{id}/cancel", "users/me/events/{id}/cancel"),
        ("me/calendar/events/{id}/cancel", "me/{x:alpha}/events/{id}/cancel"),
    ],
)
def test_overlapping_templates_are_refused(first: str, second: str) -> None:
    with pytest.raises(HostConfigurationError, match="overlapping"):
        check_routes([HttpRoute.create("a", first, ["POST"]), HttpRoute.create("b", second, None)])
    check_routes([HttpRoute.create("a", first, ["POST"]), HttpRoute.create("b", second, ["GET"])])


def test_host_refuses_an_app_with_overlapping_routes() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="me/events/{id}/cancel", methods=["POST"])
    def one(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()

    @app.route(route="me/{folder}/{id}/cancel", methods=["POST", "GET"])
    def two(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()

    with pytest.raises(HostConfigurationError, match=r"one .* two"):
        DevHost(app, {}, {}, port=0)


def test_templates_parse_constraints_and_refuse_unsupported_syntax() -> None:
    template = RouteTemplate.parse("users/{user:regex(^[a-z]+$)}/events/{id:minlength(2)}")
    assert [s.text for s in template.segments if s.is_parameter] == ["user", "id"]
    assert template.match(split_path("/Users/ab/EVENTS/x%20y/")) == {"user": "ab", "id": "x y"}
    for bad in [
        "a/{id?}",
        "a/{*rest}/b",
        "a/file.{ext}",
        "a/{id=1}",
        "a//b",
        "{x}/{X}",
    ]:
        with pytest.raises(HostConfigurationError):
            RouteTemplate.parse(bad)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1.0", {"path": ""}),
        ("/V1.0/me/events/a%2Fb/cancel/", {"path": "me/events/a/b/cancel"}),
        ("/v1.0/me/x%20y", {"path": "me/x y"}),
        ("/beta/me", None),
    ],
)
def test_a_catch_all_takes_the_rest_of_the_path(path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate.parse("v1.0/{*path}").match(split_path(path)) == expected
    assert RouteTemplate.parse("v1.0/{**path}").match(split_path(path)) == expected


def test_a_catch_all_sorted_after_the_routes_it_overlaps_is_a_fallback() -> None:
    specific = HttpRoute.create("a_events", "me/events/{id}", ["GET"], prefix="v1.0")
    version = HttpRoute.create("b_graph", "v1.0/{*path}", None, prefix="")
    anything = HttpRoute.create("zz_any", "{*path}", None, prefix="")

    check_routes([specific, version, anything])
    for shadowing in ([version, specific], [anything, version], [anything, specific]):
        with pytest.raises(HostConfigurationError, match="overlapping"):
            check_routes(shadowing)


def test_the_dev_host_tries_a_fallback_last() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.function_name("graph")
    @app.route(route="v1.0/{*path}")
    def graph(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(f"graph {req.route_params['path']}")

    @app.function_name("unknown_version")
    @app.route(route="{*path}")
    def unknown(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(f"unknown {req.route_params['path']}")

    host = DevHost(app, {"extensions": {"http": {"routePrefix": ""}}}, {}, port=0)
    found = host.find_route("GET", split_path("/v1.0/me/events"))
    assert found is not None
    assert (found[0].name, found[1]) == ("graph", {"path": "me/events"})
    other = host.find_route("DELETE", split_path("/v2/me"))
    assert other is not None
    assert (other[0].name, other[1]) == ("unknown_version", {"path": "v2/me"})


@pytest.mark.parametrize("name", ["1cancel", "has space", "a.b", "x" * 129, "host", "_x", ""])
def test_bad_function_names_are_refused(name: str) -> None:
    with pytest.raises(HostConfigurationError):
        check_function_names([name])


def test_function_names_are_unique_ignoring_case() -> None:
    check_function_names(["cancel_me", "Cancel-Me", "x" * 128])
    with pytest.raises(HostConfigurationError, match="not unique"):
        check_function_names(["cancel_me", "Cancel_Me"])


def test_host_refuses_an_app_with_a_bad_function_name() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.function_name("bad.name")
    @app.route(route="ok")
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()

    with pytest.raises(HostConfigurationError, match=r"bad\.name"):
        DevHost(app, {}, {}, port=0)


@pytest.mark.parametrize("route", ["admin/x", "Runtime/webhooks", "administrator", "/admin"])
def test_reserved_route_prefixes_are_refused(route: str) -> None:
    with pytest.raises(HostConfigurationError, match="built-in routes"):
        check_routes([HttpRoute.create("f", route, ["GET"])])


def test_host_refuses_reserved_route_and_unsupported_bindings() -> None:
    admin_app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @admin_app.route(route="admin/stuff")
    def stuff(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()

    with pytest.raises(HostConfigurationError, match="built-in routes"):
        DevHost(admin_app, {}, {}, port=0)

    output_app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @output_app.route(route="out")
    @output_app.queue_output(arg_name="out", queue_name="q", connection="AzureWebJobsStorage")
    def with_output(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
        return func.HttpResponse()

    with pytest.raises(HostConfigurationError, match="queue"):
        DevHost(output_app, {}, {}, port=0)


def test_read_body_reads_exactly_content_length_or_chunks() -> None:
    headers = Message()
    headers["Content-Length"] = "3"
    assert read_body(headers, io.BytesIO(b"abcdef")) == b"abc"
    chunked = Message()
    chunked["Transfer-Encoding"] = "chunked"
    stream = io.BytesIO(b"2;ext=1\r\nab\r\n1\r\nc\r\n0\r\nTrailer: x\r\n\r\nNEXT")
    assert read_body(chunked, stream) == b"abc"
    assert stream.read() == b"NEXT"
    with pytest.raises(RequestRefused, match="chunked body is not valid"):
        read_body(chunked, io.BytesIO(b"zz\r\n"))
    with pytest.raises(RequestRefused, match="shorter than its Content-Length"):
        read_body(headers, io.BytesIO(b"ab"))


def test_http_response_parts_follow_the_worker_encoding() -> None:
    response = func.HttpResponse(b"{}", status_code=202, mimetype="application/json")
    assert http_response_parts(response) == (202, [("Content-Type", "application/json")], b"{}")
    explicit = func.HttpResponse("x", headers={"Content-Type": "application/problem+json"})
    assert http_response_parts(explicit)[1] == [("Content-Type", "application/problem+json")]
    assert http_response_parts("hi") == (
        200,
        [("Content-Type", "text/plain; charset=utf-8")],
        b"hi",
    )
    with pytest.raises(TypeError):
        http_response_parts({"not": "a response"})


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("00:00:05", 5.0),
        ("00:01", 60.0),
        ("1.02:03:04", 93784.0),
        ("00:00:00.25", 0.25),
        (1500, 1.5),
    ],
)
def test_parse_timespan(value: str | int, seconds: float) -> None:
    assert parse_timespan(value) == seconds


def test_parse_timespan_refuses_garbage() -> None:
    with pytest.raises(HostConfigurationError):
        parse_timespan("5 seconds")


def test_timespan_schedule_repeats_at_its_interval() -> None:
    schedule = parse_schedule("00:00:05")
    assert isinstance(schedule, IntervalSchedule)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule.next_after(start) == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 */5 * * * *", datetime(2026, 1, 1, 0, 1, 2), datetime(2026, 1, 1, 0, 5)),
        ("*/10 * * * * *", datetime(2026, 1, 1, 0, 1, 2), datetime(2026, 1, 1, 0, 1, 10)),
        ("0 30 9 * * MON-FRI", datetime(2026, 1, 2, 10), datetime(2026, 1, 5, 9, 30)),
        ("0 0 0 13 * 5", datetime(2026, 1, 1), datetime(2026, 2, 13)),
    ],
)
def test_ncrontab_schedule_has_seconds_first_and_ands_day_fields(
    expression: str, after: datetime, expected: datetime
) -> None:
    schedule = parse_schedule(expression)
    assert isinstance(schedule, CronSchedule)
    assert schedule.next_after(after.replace(tzinfo=UTC)) == expected.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "expression", ["*/5 * * * *", "0 0 0 * * * *", "0 61 * * * *", "soon", "00:00:00"]
)
def test_invalid_schedules_are_refused(expression: str) -> None:
    with pytest.raises(HostConfigurationError):
        parse_schedule(expression)


def test_timer_runs_on_startup_and_on_schedule() -> None:
    app = func.FunctionApp()
    fired: list[TimerRequest] = []
    enough = threading.Event()

    @app.timer_trigger(schedule="%TICK%", arg_name="timer", run_on_startup=True)
    def tick(timer: TimerRequest) -> None:
        fired.append(timer)
        if len(fired) >= 2:
            enough.set()

    started = time.monotonic()
    with DevHost(app, {}, {"TICK": "00:00:01"}, port=0):
        assert enough.wait(5)
    assert 0.8 < time.monotonic() - started < 3
    assert all(isinstance(t, TimerRequest) and not t.past_due for t in fired)
    assert set(fired[1].schedule_status) == {"Last", "Next", "LastUpdated"}


def test_queue_settings_from_host_json() -> None:
    assert QueueSettings.from_host_json({}) == QueueSettings()
    settings = QueueSettings.from_host_json(
        {
            "extensions": {
                "Queues": {
                    "maxPollingInterval": 500,
                    "VisibilityTimeout": "00:00:10",
                    "batchSize": 64,
                    "maxDequeueCount": 2,
                    "messageEncoding": "None",
                }
            }
        }
    )
    assert settings == QueueSettings(0.5, 10.0, 32, 2, "none")
    with pytest.raises(HostConfigurationError):
        QueueSettings.from_host_json({"extensions": {"queues": {"messageEncoding": "utf8"}}})


def test_settings_expressions_are_resolved_from_env() -> None:
    assert resolve_settings("%Queue%-x", {"Queue": "cancellations"}) == "cancellations-x"
    with pytest.raises(HostConfigurationError, match="Missing"):
        resolve_settings("%Missing%", {})


def test_queue_trigger_needs_its_connection_setting() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="Storage")
    def worker(msg: func.QueueMessage) -> None:
        return None

    with pytest.raises(HostConfigurationError, match="Storage"):
        DevHost(app, {}, {}, port=0)
    DevHost(app, {}, {}, port=0, run_background_triggers=False)
    DevHost(app, {}, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, port=0)


def test_local_settings_do_not_override_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {"A": "file", "B": "file"}}))
    environ = {"A": "env"}
    load_local_settings(path, environ)
    assert environ == {"A": "env", "B": "file"}
    load_local_settings(tmp_path / "missing.json", environ)


def test_cli_loads_settings_before_import_and_serves(tmp_path: Path) -> None:
    (tmp_path / "tiny_app.py").write_text(
        textwrap.dedent(
            """
            import os
            import azure.functions as func

            GREETING = os.environ["GREETING"]
            app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

            @app.route(route="hello/{name}", methods=["GET"])
            def hello(req: func.HttpRequest) -> func.HttpResponse:
                return func.HttpResponse(f"{GREETING} {req.route_params['name']}")
            """
        )
    )
    (tmp_path / "host.json").write_text('{"extensions": {"http": {"routePrefix": "p"}}}')
    (tmp_path / "local.settings.json").write_text('{"Values": {"GREETING": "hi"}}')
    env = {k: v for k, v in os.environ.items() if k != "GREETING"}
    command = [sys.executable, "-m", "devtools.host", "--port", "0", "--app", "tiny_app"]
    process = subprocess.Popen(
        [*command, "--app-dir", str(tmp_path), "--http-only"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = ""
        while "hello:" not in line:
            line = process.stdout.readline()
            assert line, "the dev host exited before listing its functions"
        assert "[GET] http://127.0.0.1:" in line
        url = line.split("] ", 1)[1].strip()
        port = int(url.split(":")[2].split("/")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/p/hello/bob")
        assert connection.getresponse().read() == b"hi bob"
        connection.close()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()


def test_cli_refuses_an_app_the_host_would_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "clashing_app.py").write_text(
        textwrap.dedent(
            """
            import azure.functions as func

            app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

            @app.route(route="me/events/{id}")
            def one(req: func.HttpRequest) -> func.HttpResponse:
                return func.HttpResponse()

            @app.route(route="me/{folder}/{id}", methods=["GET"])
            def two(req: func.HttpRequest) -> func.HttpResponse:
                return func.HttpResponse()
            """
        )
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    arguments = ["--app", "clashing_app", "--app-dir", str(tmp_path), "--port", "0"]
    assert main(arguments) == 1
    assert "overlapping HTTP routes" in capsys.readouterr().err


def wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)
