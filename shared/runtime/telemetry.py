"""Telemetry (DESIGN.md 14): OpenTelemetry to Azure Monitor when the app setting
`APPLICATIONINSIGHTS_CONNECTION_STRING` is set, decided once, on the first request or message.

What each invocation carries, always: its ids (`request-id` and `client-request-id` of an HTTP
request, `faas.invocation_id` of any invocation) on every log record made while it runs, through
a LogRecord factory chained to the one before it.

What it carries when tracing (the setting, or a provider handed to `configure`, as tests do):

- an HTTP request is a SERVER span named for its method and route, the route being the path
  template once the path is read (`POST /v1.0/me/events/{id}/cancel`), the function's route
  before that or when the path is refused (`GET /v1.0/{*path}`); never the raw path;
- a queue message is a CONSUMER span `deliver_cancellation`, a timer tick one `sweep_outbox`;
- a queue put is a PRODUCER span `enqueue notification`, whose W3C trace context the message
  carries (`NotificationPointer.traceparent`), so a delivery is a child of the cancel that put
  it: one trace per cancel and its deliveries;
- every span started while an invocation runs, the Azure SDK's own included, has its ids as
  attributes.

Without the setting nothing of OpenTelemetry or azure-monitor is imported.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

import azure.functions as func
from azure.functions._abc import RetryContext, RpcException, TraceContext

from shared.calendar.model import NotificationPointer
from shared.use_cases.ports import NotificationQueue, Redelivery

if TYPE_CHECKING:
    from opentelemetry.context import Context as OtelContext
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger(__name__)

CONNECTION_STRING_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
REQUEST_ID = "request-id"
CLIENT_REQUEST_ID = "client-request-id"
INVOCATION_ID = "faas.invocation_id"
"""The keys of the ids, the same on spans and on log records (customDimensions in App
Insights): Graph's own header names, and OpenTelemetry's name for the Functions invocation."""

TRACER_NAME = "graph-event-cancel"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"})

Ids = tuple[tuple[str, str], ...]
_ids: ContextVar[Ids] = ContextVar("telemetry_ids", default=())
_request: ContextVar[HttpScope | None] = ContextVar("telemetry_request", default=None)


# The invocation context -----------------------------------------------------------------------


class _HostTraceContext(TraceContext):
    def __init__(self, trace_parent: str, trace_state: str) -> None:
        self._parent, self._state = trace_parent, trace_state

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _NoException(RpcException):
    source = stack_trace = message = ""


class _NoRetry(RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> RpcException:
        return _NoException()


class InvocationContext(func.Context):
    """A `func.Context` for callers that are not the Python worker: the dev host, which names
    each invocation, and direct calls (benchmarks, tests), which are none (`NO_INVOCATION`)."""

    def __init__(
        self,
        invocation_id: str = "",
        function_name: str = "",
        function_directory: str = "",
        trace_parent: str = "",
        trace_state: str = "",
    ) -> None:
        self._invocation_id, self._function_name = invocation_id, function_name
        self._function_directory = function_directory
        self._trace_context = _HostTraceContext(trace_parent, trace_state)
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> type[threading.local]:
        # Annotated as a type in azure-functions; the worker hands an instance, as here.
        return cast("type[threading.local]", self._local)

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> RetryContext:
        return _NoRetry()


NO_INVOCATION: func.Context = InvocationContext()
"""The default of the functions' `context` parameter: what a direct call, not a host, passes."""


def invocation_id(context: func.Context | None) -> str | None:
    found = getattr(context, "invocation_id", None)
    return found if isinstance(found, str) and found else None


def _host_trace_context(context: func.Context | None) -> dict[str, str]:
    """The host's W3C trace context of this invocation, if it gave one (older workers spell
    the properties `Traceparent` and `Tracestate`)."""
    trace_context = getattr(context, "trace_context", None)
    carrier: dict[str, str] = {}
    for key, names in (
        ("traceparent", ("trace_parent", "Traceparent")),
        ("tracestate", ("trace_state", "Tracestate")),
    ):
        value = next((getattr(trace_context, n) for n in names if hasattr(trace_context, n)), None)
        if isinstance(value, str) and value:
            carrier[key] = value
    return carrier if "traceparent" in carrier else {}


# Configuration ----------------------------------------------------------------------------------


@dataclass
class _State:
    decided: bool = False
    tracer: Tracer | None = None
    azure_monitor: Tracer | None = None
    log_fields: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _State()


def configure(provider: TracerProvider | None = None) -> None:
    """Trace from now on: into `provider` (tests; it is not made the global provider), or,
    without one, to Azure Monitor with the connection string of the setting."""
    with _state.lock:
        _install_log_fields()
        if provider is not None:
            provider.add_span_processor(_ids_processor())
            _state.tracer = provider.get_tracer(TRACER_NAME)
        else:
            _state.tracer = _azure_monitor(os.environ.get(CONNECTION_STRING_SETTING, ""))
        _state.decided = True


def reset() -> None:
    """Forget the decision (tests): the next invocation decides again from the setting. Azure
    Monitor, once configured in a process, stays configured."""
    with _state.lock:
        _state.decided, _state.tracer = False, None


def tracing() -> bool:
    return _tracer() is not None


def _tracer() -> Tracer | None:
    if not _state.decided:
        with _state.lock:
            if not _state.decided:
                _install_log_fields()
                connection = (os.environ.get(CONNECTION_STRING_SETTING) or "").strip()
                _state.tracer = _azure_monitor(connection) if connection else None
                _state.decided = True
    return _state.tracer


def _azure_monitor(connection: str) -> Tracer | None:
    """OpenTelemetry with Azure Monitor's exporters and instrumentations (the Azure SDK's
    storage calls among them), once per process. A setting it refuses leaves tracing off
    rather than failing every request."""
    if _state.azure_monitor is not None:
        return _state.azure_monitor
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry import trace

        configure_azure_monitor(connection_string=connection, span_processors=[_ids_processor()])
        _state.azure_monitor = trace.get_tracer(TRACER_NAME)
    except Exception:
        log.exception("telemetry: Azure Monitor could not be configured; not tracing")
    return _state.azure_monitor


def _ids_processor() -> SpanProcessor:
    from opentelemetry.sdk.trace import Span as SdkSpan
    from opentelemetry.sdk.trace import SpanProcessor

    class InvocationIds(SpanProcessor):
        """Every span started while an invocation runs gets its ids."""

        def on_start(self, span: SdkSpan, parent_context: OtelContext | None = None) -> None:
            ids = _ids.get()
            if ids:
                span.set_attributes(dict(ids))

    return InvocationIds()


def _install_log_fields() -> None:
    """Every log record made while an invocation runs gets its ids as attributes (which the
    OpenTelemetry log handler exports as they are). Installed once, chained to the factory
    before; a record made outside an invocation is left as it was."""
    if _state.log_fields:
        return
    previous = logging.getLogRecordFactory()

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made = previous(*args, **kwargs)
        for key, value in _ids.get():
            made.__dict__.setdefault(key, value)
        return made

    logging.setLogRecordFactory(record)
    _state.log_fields = True


@contextmanager
def _running(ids: Mapping[str, str | None]) -> Iterator[None]:
    token = _ids.set(tuple((k, v) for k, v in ids.items() if v))
    try:
        yield
    finally:
        _ids.reset(token)


def current_ids() -> dict[str, str]:
    """The ids of the running invocation, as spans and log records carry them."""
    return dict(_ids.get())


# Scopes -----------------------------------------------------------------------------------------


class Scope:
    """The span of the running invocation, or none when not tracing: the same calls either way."""

    def __init__(self, span: Span | None) -> None:
        self.span = span

    def set(self, key: str, value: str | int) -> None:
        if self.span is not None:
            self.span.set_attribute(key, value)

    def failed(self, error: BaseException) -> None:
        if self.span is not None:
            from opentelemetry.trace import Status, StatusCode

            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))


class HttpScope(Scope):
    def __init__(self, span: Span | None, method: str) -> None:
        super().__init__(span)
        self.method = method

    def answered(self, status: int) -> None:
        """The response's status; 5xx marks the span failed (4xx is the caller's error)."""
        if self.span is None:
            return
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            from opentelemetry.trace import Status, StatusCode

            self.span.set_status(Status(StatusCode.ERROR))


def _span_name(method: str, route: str) -> str:
    return f"{'HTTP' if method == '_OTHER' else method} {route}"


@contextmanager
def http_request(
    req: func.HttpRequest,
    *,
    route: str,
    context: func.Context | None,
    request_id: str,
    client_request_id: str,
) -> Iterator[HttpScope]:
    """One HTTP request: its ids on every log record and span, and, when tracing, its SERVER
    span, a child of the host's trace context or else of the request's `traceparent` header."""
    ids = {
        REQUEST_ID: request_id,
        CLIENT_REQUEST_ID: client_request_id,
        INVOCATION_ID: invocation_id(context),
    }
    method = req.method.upper() if req.method.upper() in HTTP_METHODS else "_OTHER"
    with _running(ids):
        tracer = _tracer()
        if tracer is None:
            yield HttpScope(None, method)
            return
        from opentelemetry.trace import SpanKind

        carrier = _host_trace_context(context) or {
            key: value for key in ("traceparent", "tracestate") if (value := req.headers.get(key))
        }
        attributes: dict[str, str] = {
            "http.request.method": method,
            "http.route": route,
            "faas.trigger": "http",
        }
        if method == "_OTHER":
            attributes["http.request.method_original"] = req.method
        with tracer.start_as_current_span(
            _span_name(method, route),
            context=_extract(carrier),
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            scope = HttpScope(span, method)
            token = _request.set(scope)
            try:
                yield scope
            finally:
                _request.reset(token)


def name_route(template: Callable[[], str]) -> None:
    """Name the running request's span for the path template it was found to be (`template` is
    only called when tracing)."""
    scope = _request.get()
    if scope is None or scope.span is None:
        return
    route = template()
    scope.span.update_name(_span_name(scope.method, route))
    scope.span.set_attribute("http.route", route)


@contextmanager
def invocation(
    name: str,
    context: func.Context | None,
    *,
    trigger: Literal["datasource", "timer"],
    message: NotificationPointer | None = None,
    attributes: Mapping[str, str | int | None] | None = None,
) -> Iterator[Scope]:
    """One queue message or timer tick: its invocation id on every log record and span, and,
    when tracing, its CONSUMER span `name`. A message's span is a child of the trace context
    the message carries (linked to the host's); without one, of the host's."""
    with _running({INVOCATION_ID: invocation_id(context)}):
        tracer = _tracer()
        if tracer is None:
            yield Scope(None)
            return
        from opentelemetry.trace import Link, SpanKind

        host = _host_trace_context(context)
        carried = _carrier_of(message)
        links: list[Link] = []
        if carried and host:
            from opentelemetry.trace import get_current_span

            linked = get_current_span(_extract(host)).get_span_context()
            if linked.is_valid:
                links.append(Link(linked, {"link.kind": "host invocation"}))
        span_attributes: dict[str, str | int] = {"faas.trigger": trigger}
        span_attributes.update({k: v for k, v in (attributes or {}).items() if v is not None})
        with tracer.start_as_current_span(
            name,
            context=_extract(carried or host),
            kind=SpanKind.CONSUMER,
            attributes=span_attributes,
            links=links,
        ) as span:
            yield Scope(span)


# Trace context in the queue message ----------------------------------------------------------


def _extract(carrier: Mapping[str, str]) -> OtelContext:
    from opentelemetry.context import Context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(carrier, context=Context())


def _carrier_of(pointer: NotificationPointer | None) -> dict[str, str]:
    if pointer is None or not pointer.traceparent:
        return {}
    carrier = {"traceparent": pointer.traceparent}
    if pointer.tracestate:
        carrier["tracestate"] = pointer.tracestate
    return carrier


def _carrying_current(pointer: NotificationPointer) -> NotificationPointer:
    """The pointer with the W3C trace context of the current span."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return replace(
        pointer,
        traceparent=carrier.get("traceparent"),
        tracestate=carrier.get("tracestate") or None,
    )


@contextmanager
def _producing(tracer: Tracer, pointer: NotificationPointer) -> Iterator[NotificationPointer]:
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(
        "enqueue notification",
        kind=SpanKind.PRODUCER,
        attributes={"messaging.operation.type": "send", "notification.id": pointer.notification_id},
    ):
        yield _carrying_current(pointer)


class _TracedQueue:
    def __init__(self, inner: NotificationQueue, tracer: Tracer) -> None:
        self.inner, self.tracer = inner, tracer

    def enqueue(self, pointer: NotificationPointer) -> None:
        with _producing(self.tracer, pointer) as carrying:
            self.inner.enqueue(carrying)


class _TracedRedelivery:
    def __init__(self, inner: Redelivery, tracer: Tracer) -> None:
        self.inner, self.tracer = inner, tracer

    def redeliver(self, pointer: NotificationPointer, delay: timedelta) -> None:
        with _producing(self.tracer, pointer) as carrying:
            self.inner.redeliver(carrying, delay)


def traced_queue(queue: NotificationQueue) -> NotificationQueue:
    """The queue, each put a PRODUCER span whose trace context the message carries; the queue
    itself when not tracing."""
    tracer = _tracer()
    return queue if tracer is None else _TracedQueue(queue, tracer)


def traced_redelivery(redelivery: Redelivery) -> Redelivery:
    """The same for the sweeper's re-sends: a swept message is a child of the sweep."""
    tracer = _tracer()
    return redelivery if tracer is None else _TracedRedelivery(redelivery, tracer)
