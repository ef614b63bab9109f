"""A thin local host for the Functions app, serving it as `func start` would.

It reads the app's own function metadata (HTTP, queue and timer triggers), checks it as the
real host does at startup, and calls the user functions; it implements none of them.

    python -m devtools.host [--port 7071] [--host 127.0.0.1] [--app function_app]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from devtools.host_routes import (
    HostConfigurationError,
    HttpRoute,
    check_function_names,
    check_routes,
    split_path,
)
from devtools.host_triggers import (
    STOP_TIMEOUT,
    BackgroundTrigger,
    FunctionSpec,
    Invoker,
    QueueClientFactory,
    QueuePoller,
    QueueSettings,
    TimerRunner,
    check_context_parameter,
    default_queue_client,
    local_timezone,
    parse_schedule,
    resolve_settings,
)
from shared.runtime.settings import host_setting, with_overrides
from shared.runtime.storage_connection import (
    HOST_STORAGE,
    StorageConfigurationError,
    storage_connection,
)

log = logging.getLogger("devhost")

MAX_REQUEST_BODY = 100 * 1024 * 1024
LISTEN_BACKLOG = 512  # Kestrel's default; the kernel caps it at net.core.somaxconn
_QUEUE_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r?\n")
_MAX_TRAILER_LINES = 100
_LINGER_SECONDS = 2.0

# What the host answers itself, in Graph's envelope; the app's own answers pass through as they are.
_ERROR_CODES = {
    404: "ResourceNotFound",
    413: "RequestEntityTooLarge",
    500: "generalException",
    501: "notSupported",
    505: "notSupported",
}
# http.server's own refusals, one plain sentence per status: its messages quote the request.
_SERVER_ERRORS = {
    400: "The request line is not valid HTTP.",
    414: "The request line is longer than 65536 bytes.",
    431: "The request's header fields are too long or too many.",
    501: "The request's method is not supported.",
    505: "The request's HTTP version is not supported.",
}
INTERNAL_ERROR = "An internal server error occurred while processing the request."
NO_FUNCTION = "No function serves this path."
SHORT_BODY = "The request body is shorter than its Content-Length."
INVALID_LENGTH = "The request's Content-Length is not valid."
BOTH_FRAMINGS = "The request has both a Content-Length and a Transfer-Encoding."
INVALID_ENCODING = "The request's Transfer-Encoding is not chunked."
INVALID_CHUNK = "The request's chunked body is not valid."
SHORT_CHUNKED_BODY = "The request's chunked body is cut short."
TOO_LARGE = f"The request body is larger than {MAX_REQUEST_BODY} bytes."


class RequestRefused(Exception):
    """A request the host answers itself, without calling any function."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error_envelope(status: int, message: str) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of Graph's error envelope, with a new request id."""
    request_id = str(uuid.uuid4())
    fallback = "BadRequest" if status < 500 else "generalException"
    envelope = {
        "error": {
            "code": _ERROR_CODES.get(status, fallback),
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": request_id,
            },
        }
    }
    headers = [
        ("Content-Type", "application/json"),
        ("request-id", request_id),
        ("client-request-id", request_id),
    ]
    return headers, json.dumps(envelope).encode()


def route_prefix(host_json: Mapping[str, Any]) -> str:
    prefix = host_setting(host_json, "extensions", "http", "routePrefix")
    return "api" if prefix is None else str(prefix).strip("/")


def load_functions(app: func.FunctionApp) -> list[FunctionSpec]:
    """The app's functions, refused where the real host (or this dev host) cannot run them."""
    specs: list[FunctionSpec] = []
    app.functions_bindings = None  # get_functions() refuses names it saw in an earlier call
    for function in app.get_functions():
        name, trigger = function.get_function_name(), function.get_trigger()
        if name is None or trigger is None:
            raise HostConfigurationError(f"function {name!r} has no name or no trigger")
        spec = FunctionSpec(name, trigger.get_dict_repr(), function.get_user_function())
        if spec.trigger_type not in ("httpTrigger", "queueTrigger", "timerTrigger"):
            raise HostConfigurationError(f"{name}: the dev host cannot run a {spec.trigger_type}")
        for binding in function.get_bindings_dict()["bindings"]:
            if binding.get("name") == spec.argument or binding.get("type") == "http":
                continue
            raise HostConfigurationError(
                f"{name}: the dev host does not run {binding.get('type')} bindings"
            )
        extra = set(inspect.signature(spec.user_function).parameters) - {spec.argument}
        if "context" in extra:
            check_context_parameter(name, spec.user_function)
            extra.discard("context")
        if extra:
            raise HostConfigurationError(
                f"{name}: parameters {sorted(extra)} are not bindings the dev host provides"
            )
        specs.append(spec)
    check_function_names(spec.name for spec in specs)
    return sorted(specs, key=lambda spec: spec.name.lower())


def http_response_parts(result: object) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of what an HTTP function returned, as the worker encodes it."""
    if isinstance(result, str):
        return 200, [("Content-Type", "text/plain; charset=utf-8")], result.encode()
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function returned {type(result).__name__}, not HttpResponse")
    headers = [(str(key), str(value)) for key, value in result.headers.items()]
    if not any(key.lower() == "content-type" for key, _ in headers):
        mimetype, charset = str(result.mimetype), str(result.charset)
        content_type = (
            f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype
        )
        headers.append(("Content-Type", content_type))
    return int(result.status_code), headers, bytes(result.get_body() or b"")


def body_length(headers: Message) -> int | None:
    """Content-Length of the body to come, or None for a chunked body; refuses any other framing."""
    encodings = headers.get_all("Transfer-Encoding") or []
    lengths = headers.get_all("Content-Length") or []
    if encodings and lengths:
        raise RequestRefused(400, BOTH_FRAMINGS)
    if encodings:
        codings = [c.strip().lower() for value in encodings for c in value.split(",")]
        if codings[-1] != "chunked":
            raise RequestRefused(400, INVALID_ENCODING)
        return None
    if not lengths:
        return 0
    if any(not re.fullmatch(r"[0-9]+", value) for value in lengths) or len(set(lengths)) > 1:
        raise RequestRefused(400, INVALID_LENGTH)
    digits = lengths[0].lstrip("0") or "0"
    if len(digits) > len(str(MAX_REQUEST_BODY)) or int(digits) > MAX_REQUEST_BODY:
        raise RequestRefused(413, TOO_LARGE)
    return int(digits)


def read_body(headers: Message, stream: BufferedIOBase) -> bytes:
    """Exactly the request body: Content-Length bytes, or the chunks of a chunked body."""
    length = body_length(headers)
    if length is None:
        return _read_chunked(stream)
    body = stream.read(length) if length else b""
    if len(body) < length:
        raise RequestRefused(400, SHORT_BODY)
    return body


def _read_chunked(stream: BufferedIOBase) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        line = stream.readline(1024)
        if not line.endswith(b"\n"):
            raise RequestRefused(400, SHORT_CHUNKED_BODY if len(line) < 1024 else INVALID_CHUNK)
        match = _CHUNK_SIZE_LINE.fullmatch(line)
        if match is None:
            raise RequestRefused(400, INVALID_CHUNK)
        digits = match[1].lstrip(b"0") or b"0"
        if len(digits) > 8 or total + int(digits, 16) > MAX_REQUEST_BODY:
            raise RequestRefused(413, TOO_LARGE)
        size = int(digits, 16)
        if size == 0:
            break
        total += size
        chunk = stream.read(size)
        end = stream.readline(2)
        if len(chunk) < size or not end:
            raise RequestRefused(400, SHORT_CHUNKED_BODY)
        if end not in (b"\r\n", b"\n"):
            raise RequestRefused(400, INVALID_CHUNK)
        chunks.append(chunk)
    for _ in range(_MAX_TRAILER_LINES + 1):
        line = stream.readline(8192)
        if not line.endswith(b"\n"):
            raise RequestRefused(400, SHORT_CHUNKED_BODY if len(line) < 8192 else INVALID_CHUNK)
        if line in (b"\r\n", b"\n"):
            return b"".join(chunks)
    raise RequestRefused(400, INVALID_CHUNK)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: connections of a burst beyond it wait for SYN
    # retries (or are reset) before the accept loop, one thread per connection, sees them.
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], host: DevHost) -> None:
        self.dev_host = host
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "devhost"
    # A refusal before the version is read still gets a status line and headers (not HTTP/0.9).
    default_request_version = "HTTP/1.1"
    timeout = 120
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the
    # second until the client's delayed ACK, ~40 ms on every request after a connection's first.
    disable_nagle_algorithm = True
    server: _Server
    _linger = False

    def _dispatch(self) -> None:
        started = time.perf_counter()
        status = self._serve()
        elapsed = (time.perf_counter() - started) * 1000
        log.info("%s %s %d %.1f ms", self.command, self.path, status, elapsed)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _serve(self) -> int:
        try:
            body = read_body(self.headers, self.rfile)
        except RequestRefused as refused:
            return self._refuse(refused.status, refused.message)
        target = urlsplit(self.path)
        host = self.server.dev_host
        found = host.find_route(self.command, split_path(target.path))
        if found is None:
            return self._respond(404, *error_envelope(404, NO_FUNCTION))
        spec, route_params = found
        params: dict[str, str] = {}
        for key, value in parse_qsl(target.query, keep_blank_values=True):
            params.setdefault(key, value)
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            name = key.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        authority = self.headers.get("Host") or f"{host.host}:{host.port}"
        request = func.HttpRequest(
            self.command,
            f"http://{authority}{target.path}" + (f"?{target.query}" if target.query else ""),
            headers=headers,
            params=params,
            route_params=route_params,
            body=body,
        )
        try:
            result = host.invoker.call(spec.user_function, spec.argument, request, name=spec.name)
            status, response_headers, response_body = http_response_parts(result)
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed)", spec.name)
            return self._respond(500, *error_envelope(500, INTERNAL_ERROR))
        return self._respond(status, response_headers, response_body)

    def _refuse(self, status: int, message: str) -> int:
        """Answer in Graph's envelope and close: what is left of the request cannot be framed."""
        self.close_connection = True
        self._linger = True
        headers, body = error_envelope(status, message)
        return self._respond(status, headers, body, close=True)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (request line, headers, method), in Graph's envelope."""
        log.info("refused %r: %d %s", self.requestline, code, message or "")
        fallback = INTERNAL_ERROR if code >= 500 else "The request cannot be served."
        self._refuse(code, _SERVER_ERRORS.get(code, fallback))

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if len(self.requestline.split()) == 2:  # HTTP/0.9 `GET /`: no version, no headers
            self.send_error(400)
            return False
        return True

    def handle_expect_100(self) -> bool:
        """No 100 Continue for a body that will be refused: the client need not send it."""
        try:
            body_length(self.headers)
        except RequestRefused:
            return True
        return super().handle_expect_100()

    def _respond(
        self, status: int, headers: Sequence[tuple[str, str]], body: bytes, *, close: bool = False
    ) -> int:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        if close or self.close_connection:
            # Said whenever this answer ends the connection (also when the client asked for it
            # with `Connection: close`), so a client never sends its next request into it.
            self.send_header("Connection", "close")
        bodiless = status < 200 or status in (204, 304)
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not bodiless and self.command != "HEAD":
            self.wfile.write(body)
        return status

    def finish(self) -> None:
        super().finish()
        if self._linger:
            self._discard_unread()

    def _discard_unread(self) -> None:
        """Read what the client still sends before closing: closing on unread data resets the
        connection, and the client could lose the answer it has not read yet."""
        deadline = time.monotonic() + _LINGER_SECONDS
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            while (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                if not self.connection.recv(65536):
                    break

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


class DevHost:
    """Serves a FunctionApp's HTTP, queue and timer triggers in this process."""

    def __init__(
        self,
        app: func.FunctionApp,
        host_json: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 7071,
        run_background_triggers: bool = True,
        queue_client_factory: QueueClientFactory = default_queue_client,
    ) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.host_json: Mapping[str, Any] = with_overrides(host_json or {}, self.env)
        self.host, self._requested_port = host, port
        self.functions = load_functions(app)
        self.prefix = route_prefix(self.host_json)
        self.routes = [
            (
                HttpRoute.create(
                    spec.name,
                    str(spec.trigger.get("route") or spec.name),
                    spec.trigger.get("methods"),
                    self.prefix,
                ),
                spec,
            )
            for spec in self.functions
            if spec.trigger_type == "httpTrigger"
        ]
        check_routes([route for route, _ in self.routes])
        self.queue_settings = QueueSettings.from_host_json(self.host_json)
        self.invoker = Invoker()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._server_thread: threading.Thread | None = None
        self.background: list[BackgroundTrigger] = []
        for spec in self.functions if run_background_triggers else []:
            if spec.trigger_type == "queueTrigger":
                self.background.append(self._queue_poller(spec, queue_client_factory))
            elif spec.trigger_type == "timerTrigger":
                schedule = resolve_settings(str(spec.trigger["schedule"]), self.env)
                self.background.append(
                    TimerRunner(
                        spec,
                        parse_schedule(schedule),
                        bool(spec.trigger.get("runOnStartup")),
                        local_timezone(self.env),
                        self.invoker,
                        self._stopping,
                    )
                )

    def _queue_poller(self, spec: FunctionSpec, factory: QueueClientFactory) -> QueuePoller:
        name = resolve_settings(str(spec.trigger["queueName"]), self.env).lower()
        if not _QUEUE_NAME.match(name):
            raise HostConfigurationError(f"{spec.name}: {name!r} is not a valid queue name")
        setting = resolve_settings(str(spec.trigger.get("connection") or HOST_STORAGE), self.env)
        try:  # a connection string or identity-based settings, read as the app itself reads them
            connection = storage_connection(self.env, setting)
        except StorageConfigurationError as error:
            raise HostConfigurationError(f"{spec.name}: {error}") from None
        return QueuePoller(
            spec, connection, name, self.queue_settings, self.invoker, self._stopping, factory
        )

    def find_route(
        self, method: str, raw_segments: Sequence[str]
    ) -> tuple[FunctionSpec, dict[str, str]] | None:
        """The function and route parameters for a request, in function-name order."""
        for route, spec in self.routes:
            if route.accepts(method):
                params = route.template.match(raw_segments)
                if params is not None:
                    return spec, params
        return None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the dev host is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}" + (f"/{self.prefix}" if self.prefix else "")

    def describe(self) -> list[str]:
        """One line per function, as `func start` lists them."""
        lines = []
        for spec in self.functions:
            route = next((r for r, s in self.routes if s is spec), None)
            if route is None:
                lines.append(f"{spec.name}: {spec.trigger_type}")
                continue
            methods = f"[{','.join(sorted(route.methods))}] " if route.methods else ""
            port = self.port if self._server is not None else self._requested_port
            root = f"http://{self.host}:{port}"
            lines.append(f"{spec.name}: {methods}{root}/{route.template.template}")
        return lines

    def start(self) -> DevHost:
        if self._server is not None:
            raise RuntimeError("the dev host is already started")
        self._stopping.clear()
        self._server = _Server((self.host, self._requested_port), self)
        self._server_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="devhost-http",
            daemon=True,
        )
        self._server_thread.start()
        for trigger in self.background:
            trigger.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        deadline = time.monotonic() + STOP_TIMEOUT
        if self._server_thread is not None:
            self._server_thread.join(STOP_TIMEOUT)
        for trigger in self.background:
            trigger.join(max(0.0, deadline - time.monotonic()))
        self.invoker.close()

    def __enter__(self) -> DevHost:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def load_local_settings(path: Path, environ: MutableMapping[str, str]) -> None:
    """Put local.settings.json `Values` into the environment, never overriding what is set."""
    if not path.exists():
        return
    settings = json.loads(path.read_text(encoding="utf-8"))
    if settings.get("IsEncrypted"):
        raise HostConfigurationError(f"{path} is encrypted; the dev host reads plain settings")
    for key, value in (settings.get("Values") or {}).items():
        environ.setdefault(str(key), "" if value is None else str(value))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.host", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--app", default="function_app", help="module[:attribute], default :app")
    parser.add_argument("--app-dir", type=Path, default=Path.cwd(), help="folder of host.json")
    parser.add_argument("--settings", type=Path, default=None, help="local.settings.json path")
    parser.add_argument("--http-only", action="store_true", help="run no queue or timer trigger")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDKs log every HTTP call at INFO

    app_dir: Path = args.app_dir.resolve()
    load_local_settings(args.settings or app_dir / "local.settings.json", os.environ)
    sys.path.insert(0, str(app_dir))
    module_name, _, attribute = args.app.partition(":")
    app = getattr(importlib.import_module(module_name), attribute or "app")
    host_json_path = app_dir / "host.json"
    host_json = (
        json.loads(host_json_path.read_text(encoding="utf-8")) if host_json_path.exists() else {}
    )

    try:
        host = DevHost(
            app,
            host_json,
            os.environ,
            host=args.host,
            port=args.port,
            run_background_triggers=not args.http_only,
        )
    except HostConfigurationError as error:
        print(f"devhost: the app cannot be served: {error}", file=sys.stderr)
        return 1
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    with host:
        print("\nFunctions:\n")
        for line in host.describe():
            print(f"\t{line}")
        print(flush=True)
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
