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
from collections.abc import Mapping, MutableMapping, Sequence
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
    default_queue_client,
    local_timezone,
    parse_schedule,
    resolve_settings,
)
from shared.settings import host_setting, with_overrides

log = logging.getLogger("devhost")

MAX_REQUEST_BODY = 100 * 1024 * 1024
_QUEUE_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


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


def read_body(headers: Message, stream: BufferedIOBase) -> bytes:
    """Exactly the request body: Content-Length bytes, or the chunks of a chunked body."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return _read_chunked(stream)
    length = int(headers.get("Content-Length") or 0)
    if length < 0 or length > MAX_REQUEST_BODY:
        raise ValueError(f"unacceptable Content-Length {length}")
    return stream.read(length) if length else b""


def _read_chunked(stream: BufferedIOBase) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size = int(stream.readline(1024).split(b";")[0].strip(), 16)
        if size == 0:
            break
        total += size
        if size < 0 or total > MAX_REQUEST_BODY:
            raise ValueError("unacceptable chunk size")
        chunks.append(stream.read(size))
        stream.readline(16)
    while stream.readline(8192).strip():
        pass
    return b"".join(chunks)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

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
    timeout = 120
    server: _Server

    def _dispatch(self) -> None:
        started = time.perf_counter()
        status = self._serve()
        elapsed = (time.perf_counter() - started) * 1000
        log.info("%s %s %d %.1f ms", self.command, self.path, status, elapsed)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _serve(self) -> int:
        try:
            body = read_body(self.headers, self.rfile)
        except ValueError:
            self.close_connection = True
            return self._respond(400, [], b"")
        target = urlsplit(self.path)
        host = self.server.dev_host
        found = host.find_route(self.command, split_path(target.path))
        if found is None:
            return self._respond(404, [], b"")
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
            result = host.invoker.call(spec.user_function, spec.argument, request)
            status, response_headers, response_body = http_response_parts(result)
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed)", spec.name)
            return self._respond(500, [], b"")
        return self._respond(status, response_headers, response_body)

    def _respond(self, status: int, headers: Sequence[tuple[str, str]], body: bytes) -> int:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        bodiless = status < 200 or status in (204, 304)
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not bodiless and self.command != "HEAD":
            self.wfile.write(body)
        return status

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
        setting = resolve_settings(
            str(spec.trigger.get("connection") or "AzureWebJobsStorage"), self.env
        )
        connection = self.env.get(setting) or self.env.get(f"AzureWebJobs{setting}")
        if not connection:
            raise HostConfigurationError(f"{spec.name}: connection setting {setting!r} is not set")
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
