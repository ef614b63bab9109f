"""Telemetry with OpenTelemetry's in-memory exporter in place of Azure Monitor: the request's
SERVER span and its ids, log records, the trace context in the queue message, the worker's
CONSUMER spans, the dev host's `context`, and nothing of it loaded without the setting."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cancel.graph import path_template, unknown_version
from cancel.http import respond
from devtools.host import load_functions
from devtools.host_routes import HostConfigurationError
from devtools.host_triggers import Invoker
from notify.functions import deliver_cancellation
from shared.calendar.errors import ItemNotFound
from shared.calendar.model import NotificationPointer
from shared.runtime import telemetry
from shared.runtime.telemetry import (
    CLIENT_REQUEST_ID,
    INVOCATION_ID,
    REQUEST_ID,
    InvocationContext,
)
from shared.storage.queue import decode, encode

REPO = Path(__file__).resolve().parents[3]
HOST_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CLIENT_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    provider = TracerProvider()
    yield provider
    provider.shutdown()


@pytest.fixture
def spans(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InMemorySpanExporter]:
    """Tracing into memory: `configure(provider)` traces there instead of to Azure Monitor."""
    monkeypatch.delenv(telemetry.CONNECTION_STRING_SETTING, raising=False)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.configure(provider)
    yield exporter
    telemetry.reset()


@pytest.fixture
def untraced(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(telemetry.CONNECTION_STRING_SETTING, raising=False)
    telemetry.reset()
    yield
    telemetry.reset()


def request(
    method: str = "POST",
    path: str = "/v1.0/me/events/AAMk1/cancel",
    headers: dict[str, str] | None = None,
) -> func.HttpRequest:
    return func.HttpRequest(method, f"http://localhost:7071{path}", headers=headers or {}, body=b"")


def ok() -> func.HttpResponse:
    return func.HttpResponse(status_code=202)


def only(exporter: InMemorySpanExporter, name: str | None = None) -> ReadableSpan:
    found = [s for s in exporter.get_finished_spans() if name is None or s.name == name]
    assert len(found) == 1, [s.name for s in exporter.get_finished_spans()]
    return found[0]


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


# The HTTP request's span -------------------------------------------------------------------------


def test_a_request_is_a_server_span_with_its_ids(spans: InMemorySpanExporter) -> None:
    context = InvocationContext("7c1f3b5e-0000-4000-8000-000000000001", "graph_v1")
    sent = {"client-request-id": "d0c1e2f3-a4b5-4c6d-8e7f-901234567890"}
    response = respond(request(headers=sent), ok, context, route="/v1.0/{*path}")

    span = only(spans)
    assert span.kind is SpanKind.SERVER
    assert span.name == "POST /v1.0/{*path}"
    assert attributes(span) == {
        "http.request.method": "POST",
        "http.route": "/v1.0/{*path}",
        "http.response.status_code": 202,
        "faas.trigger": "http",
        REQUEST_ID: response.headers["request-id"],
        CLIENT_REQUEST_ID: "d0c1e2f3-a4b5-4c6d-8e7f-901234567890",
        INVOCATION_ID: "7c1f3b5e-0000-4000-8000-000000000001",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None


def test_the_span_is_named_for_the_path_template_once_the_path_is_read(
    spans: InMemorySpanExporter,
) -> None:
    def routed() -> func.HttpResponse:
        telemetry.name_route(lambda: "/v1.0/me/events/{id}/cancel")
        return ok()

    respond(request(), routed, None, route="/v1.0/{*path}")

    span = only(spans)
    assert span.name == "POST /v1.0/me/events/{id}/cancel"
    assert attributes(span)["http.route"] == "/v1.0/me/events/{id}/cancel"
    assert INVOCATION_ID not in attributes(span)  # a direct call has no invocation


@pytest.mark.parametrize(
    ("segments", "template"),
    [
        (["me", "events", "AAMk1", "cancel"], "me/events/{id}/cancel"),
        (
            ["ME", "Events", "AAMk1", "Microsoft.Graph.Cancel"],
            "me/events/{id}/microsoft.graph.cancel",
        ),
        (
            ["users", "adele@contoso.example", "calendars", "AAMkC", "events", "AAMk1"],
            "users/{user}/calendars/{calendar}/events/{id}",
        ),
        (
            ["me", "events", "OID.AAMk1.2026-12-01", "instances", "OID.AAMk1.2026-12-08", "cancel"],
            "me/events/{id}/instances/{occurrence}/cancel",
        ),
        # A literal wins over a parameter, as in the path table: `instances` after an id is
        # the list, and an event whose id is `events` is still `{id}`.
        (["me", "events", "AAMk1", "instances"], "me/events/{id}/instances"),
        (["me", "events", "events"], "me/events/{id}"),
        (["groups", "g1", "calendarView"], "groups/{group}/calendarView"),
    ],
)
def test_path_templates_name_no_ids(segments: list[str], template: str) -> None:
    assert path_template(segments) == template


def test_the_route_of_a_refused_path_stays_the_functions(spans: InMemorySpanExporter) -> None:
    req = request("GET", "/v2/me/events")
    response = unknown_version(req, InvocationContext("inv-1", "zz_unknown_version"))

    assert response.status_code == 400
    span = only(spans)
    assert span.name == "GET /{*path}"
    assert attributes(span)["http.response.status_code"] == 400
    assert span.status.status_code is StatusCode.UNSET  # a 4xx is the caller's error


def test_an_unknown_method_does_not_name_the_span(spans: InMemorySpanExporter) -> None:
    respond(request("BREW"), ok, None, route="/v1.0/{*path}")
    span = only(spans)
    assert span.name == "HTTP /v1.0/{*path}"
    assert attributes(span)["http.request.method"] == "_OTHER"
    assert attributes(span)["http.request.method_original"] == "BREW"


def test_a_failure_is_a_failed_span_and_a_500(spans: InMemorySpanExporter) -> None:
    def broken() -> func.HttpResponse:
        raise RuntimeError("storage fell over")

    response = respond(request(), broken, None, route="/v1.0/{*path}")

    assert response.status_code == 500
    span = only(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)["http.response.status_code"] == 500
    assert [event.name for event in span.events] == ["exception"]


def test_a_graph_error_is_an_answer_not_a_failure(spans: InMemorySpanExporter) -> None:
    def missing() -> func.HttpResponse:
        raise ItemNotFound()

    assert respond(request(), missing, None).status_code == 404
    assert only(spans).status.status_code is StatusCode.UNSET


def test_the_hosts_trace_context_is_the_parent(spans: InMemorySpanExporter) -> None:
    context = InvocationContext("inv-1", "graph_v1", trace_parent=HOST_PARENT, trace_state="a=1")
    respond(request(headers={"traceparent": CLIENT_PARENT}), ok, context)

    span = only(spans)
    assert span.parent is not None
    assert span.parent.is_remote
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
    assert span.context.trace_state.to_header() == "a=1"


def test_without_the_hosts_the_requests_traceparent_is_the_parent(
    spans: InMemorySpanExporter,
) -> None:
    respond(request(headers={"traceparent": CLIENT_PARENT}), ok, InvocationContext("inv-1"))
    span = only(spans)
    assert f"{span.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"

    spans.clear()
    respond(request(headers={"traceparent": "garbage"}), ok, None)
    assert only(spans).parent is None


def test_older_workers_trace_context_spelling_is_read(spans: InMemorySpanExporter) -> None:
    class OldTraceContext:
        Traceparent = HOST_PARENT
        Tracestate = ""

    class OldContext:
        invocation_id = "inv-old"
        trace_context = OldTraceContext()

    respond(request(), ok, OldContext())  # type: ignore[arg-type]  # duck-typed, as old workers
    span = only(spans)
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert attributes(span)[INVOCATION_ID] == "inv-old"


def test_every_span_and_log_record_of_a_request_carries_its_ids(
    spans: InMemorySpanExporter, provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    sdk = provider.get_tracer("azure.core")  # a span of another tracer, as the Azure SDK's are
    seen: list[dict[str, str]] = []

    def action() -> func.HttpResponse:
        logging.getLogger("shared.storage.somewhere").warning("a storage call was slow")
        with sdk.start_as_current_span("PUT", kind=SpanKind.CLIENT):
            seen.append(telemetry.current_ids())
        return ok()

    caplog.set_level(logging.INFO)
    response = respond(
        request(headers={"client-request-id": "mine"}), action, InvocationContext("inv-9")
    )
    logging.getLogger("after").warning("outside any request")

    expected = {
        REQUEST_ID: response.headers["request-id"],
        CLIENT_REQUEST_ID: "mine",
        INVOCATION_ID: "inv-9",
    }
    assert seen == [expected]
    for span in spans.get_finished_spans():
        assert {k: attributes(span).get(k) for k in expected} == expected, span.name
    inside, outside = (
        [r for r in caplog.records if r.name == "shared.storage.somewhere"],
        [r for r in caplog.records if r.name == "after"],
    )
    assert [{k: r.__dict__.get(k) for k in expected} for r in inside] == [expected]
    assert not any(k in outside[0].__dict__ for k in expected)
    assert len(spans.get_finished_spans()) == 2


def test_log_records_carry_the_ids_without_tracing(
    untraced: None, caplog: pytest.LogCaptureFixture
) -> None:
    def action() -> func.HttpResponse:
        logging.getLogger("cancel.somewhere").warning("refused")
        return ok()

    response = respond(request(), action, InvocationContext("inv-2"))
    (record,) = [r for r in caplog.records if r.name == "cancel.somewhere"]
    assert record.__dict__[REQUEST_ID] == response.headers["request-id"]
    assert record.__dict__[CLIENT_REQUEST_ID] == response.headers["request-id"]  # none sent
    assert record.__dict__[INVOCATION_ID] == "inv-2"
    assert not telemetry.tracing()


# The queue message ------------------------------------------------------------------------------


class RecordingQueue:
    def __init__(self) -> None:
        self.put: list[NotificationPointer] = []

    def enqueue(self, pointer: NotificationPointer) -> None:
        self.put.append(pointer)

    def redeliver(self, pointer: NotificationPointer, delay: timedelta) -> None:
        self.put.append(pointer)


def test_a_put_is_a_producer_span_whose_context_the_message_carries(
    spans: InMemorySpanExporter,
) -> None:
    queue = RecordingQueue()

    def cancel() -> func.HttpResponse:
        telemetry.traced_queue(queue).enqueue(NotificationPointer("mbx", "AAMkN"))
        return ok()

    respond(request(), cancel, InvocationContext("inv-1"))

    server, producer = only(spans, "POST /{*path}"), only(spans, "enqueue notification")
    assert producer.kind is SpanKind.PRODUCER
    assert producer.parent is not None
    assert producer.parent.span_id == server.context.span_id
    assert attributes(producer)["notification.id"] == "AAMkN"
    (put,) = queue.put
    assert put == NotificationPointer("mbx", "AAMkN")
    assert put.traceparent is not None
    assert put.traceparent.split("-")[:3] == [
        "00",
        f"{producer.context.trace_id:032x}",
        f"{producer.context.span_id:016x}",
    ]


def test_the_message_carries_trace_context_and_old_messages_still_decode() -> None:
    pointer = NotificationPointer("mbx", "AAMkN", CLIENT_PARENT, "congo=t61rcWkgMzE")
    body = json.loads(encode(pointer))
    assert body == {
        "mailbox": "mbx",
        "notification": "AAMkN",
        "traceparent": CLIENT_PARENT,
        "tracestate": "congo=t61rcWkgMzE",
    }
    decoded = decode(encode(pointer))
    assert decoded is not None
    assert (decoded.traceparent, decoded.tracestate) == (CLIENT_PARENT, "congo=t61rcWkgMzE")

    assert json.loads(encode(NotificationPointer("mbx", "AAMkN"))) == {
        "mailbox": "mbx",
        "notification": "AAMkN",
    }
    old = decode('{"mailbox": "mbx", "notification": "AAMkN"}')
    assert old == NotificationPointer("mbx", "AAMkN")
    assert old is not None
    assert old.traceparent is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '"a string"',
        '{"mailbox": "mbx"}',
        '{"mailbox": 1, "notification": "n"}',
        '{"traceparent": "' + CLIENT_PARENT + '"}',
        '{"mailbox": "mbx", "notification": null, "traceparent": "' + CLIENT_PARENT + '"}',
    ],
)
def test_decode_still_refuses_what_is_not_a_pointer(text: str) -> None:
    assert decode(text) is None


@pytest.mark.parametrize(
    ("extra", "traceparent", "tracestate"),
    [
        ({"traceparent": 42}, None, None),
        ({"traceparent": "00-xyz"}, None, None),
        ({"traceparent": CLIENT_PARENT.upper()}, None, None),
        ({"traceparent": CLIENT_PARENT + "\n"}, None, None),
        ({"traceparent": CLIENT_PARENT, "tracestate": ["a=1"]}, CLIENT_PARENT, None),
        ({"traceparent": CLIENT_PARENT, "tracestate": "a=1\r\nb=2"}, CLIENT_PARENT, None),
        ({"tracestate": "a=1"}, None, None),
    ],
)
def test_a_trace_context_that_is_not_one_is_left_out_and_the_pointer_kept(
    extra: dict[str, object], traceparent: str | None, tracestate: str | None
) -> None:
    decoded = decode(json.dumps({"mailbox": "mbx", "notification": "n", **extra}))
    assert decoded == NotificationPointer("mbx", "n")
    assert decoded is not None
    assert (decoded.traceparent, decoded.tracestate) == (traceparent, tracestate)


# The worker's spans -----------------------------------------------------------------------------


def test_a_delivery_is_a_consumer_span_child_of_the_message_linked_to_the_host(
    spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    pointer = NotificationPointer("mbx", "AAMkN", CLIENT_PARENT)
    host = InvocationContext("inv-q", "deliver_cancellation", trace_parent=HOST_PARENT)
    caplog.set_level(logging.INFO)
    with telemetry.invocation(
        "deliver_cancellation", host, trigger="datasource", message=pointer
    ) as scope:
        logging.getLogger("notify.functions").info("delivering")
        scope.set("delivery.outcome", "delivered")

    span = only(spans)
    assert span.kind is SpanKind.CONSUMER
    assert f"{span.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    (link,) = span.links
    assert f"{link.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert attributes(span) == {
        "faas.trigger": "datasource",
        INVOCATION_ID: "inv-q",
        "delivery.outcome": "delivered",
    }
    (record,) = [r for r in caplog.records if r.getMessage() == "delivering"]
    assert record.__dict__[INVOCATION_ID] == "inv-q"


def test_a_message_without_trace_context_is_a_child_of_the_host(
    spans: InMemorySpanExporter,
) -> None:
    host = InvocationContext("inv-q", trace_parent=HOST_PARENT)
    with telemetry.invocation("deliver_cancellation", host, trigger="datasource", message=None):
        pass
    span = only(spans)
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert span.links == ()


def test_a_failed_delivery_fails_its_span_and_still_raises(spans: InMemorySpanExporter) -> None:
    with (
        pytest.raises(RuntimeError),
        telemetry.invocation("deliver_cancellation", None, trigger="datasource"),
    ):
        raise RuntimeError("smtp: 451")
    assert only(spans).status.status_code is StatusCode.ERROR


def test_a_message_that_is_no_pointer_is_dropped_in_a_span_of_its_own(
    spans: InMemorySpanExporter,
) -> None:
    message = QueueMessage(id="m1", body=b"\xff not ours", dequeue_count=1)
    deliver_cancellation(message, InvocationContext("inv-d", "deliver_cancellation"))
    span = only(spans, "deliver_cancellation")
    assert attributes(span)["delivery.outcome"] == "dropped"
    assert attributes(span)["messaging.message.id"] == "m1"
    assert span.parent is None


def test_a_sweeps_re_send_carries_the_sweeps_context(spans: InMemorySpanExporter) -> None:
    queue = RecordingQueue()
    with telemetry.invocation("sweep_outbox", InvocationContext("inv-s"), trigger="timer"):
        telemetry.traced_redelivery(queue).redeliver(NotificationPointer("mbx", "n"), timedelta(0))
    sweep, producer = only(spans, "sweep_outbox"), only(spans, "enqueue notification")
    assert producer.parent is not None
    assert producer.parent.span_id == sweep.context.span_id
    (put,) = queue.put
    assert put.traceparent is not None
    assert put.traceparent.split("-")[1:3] == [
        f"{producer.context.trace_id:032x}",
        f"{producer.context.span_id:016x}",
    ]
    assert attributes(producer)[INVOCATION_ID] == "inv-s"


# Configuration ----------------------------------------------------------------------------------


def test_without_the_setting_nothing_is_traced_and_ports_are_left_alone(untraced: None) -> None:
    queue = RecordingQueue()
    assert telemetry.traced_queue(queue) is queue
    assert telemetry.traced_redelivery(queue) is queue
    assert not telemetry.tracing()


def test_azure_monitor_is_configured_once_on_first_use(
    monkeypatch: pytest.MonkeyPatch, untraced: None
) -> None:
    import azure.monitor.opentelemetry

    monkeypatch.setattr(telemetry._state, "azure_monitor", None)

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        azure.monitor.opentelemetry, "configure_azure_monitor", lambda **kw: calls.append(kw)
    )
    connection = "InstrumentationKey=00000000-0000-0000-0000-000000000000"
    monkeypatch.setenv(telemetry.CONNECTION_STRING_SETTING, connection)

    assert calls == []  # not at import, not before the first invocation
    respond(request(), ok, None)
    respond(request(), ok, None)
    assert telemetry.tracing()
    telemetry.reset()
    respond(request(), ok, None)  # decided again: still once per process
    assert telemetry.tracing()

    (call,) = calls
    assert call["connection_string"] == connection
    assert [type(p).__name__ for p in call["span_processors"]] == ["InvocationIds"]


def test_a_setting_azure_monitor_refuses_leaves_tracing_off(
    monkeypatch: pytest.MonkeyPatch, untraced: None, caplog: pytest.LogCaptureFixture
) -> None:
    import azure.monitor.opentelemetry

    def refuse(**_: object) -> None:
        raise ValueError("Invalid instrumentation key")

    monkeypatch.setattr(azure.monitor.opentelemetry, "configure_azure_monitor", refuse)
    monkeypatch.setenv(telemetry.CONNECTION_STRING_SETTING, "nonsense")
    assert respond(request(), ok, None).status_code == 202
    assert not telemetry.tracing()
    assert "Azure Monitor could not be configured" in caplog.text


def run_probe(script: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_without_the_setting_the_http_path_loads_no_opentelemetry() -> None:
    env = {k: v for k, v in os.environ.items() if k != telemetry.CONNECTION_STRING_SETTING}
    # A connection string of a storage that is not there: a request without a token is
    # answered 401 after the adapters are built, before any storage call.
    env["AzureWebJobsStorage"] = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    probe = """
        import json, sys
        import azure.functions as func
        import function_app
        from cancel.graph import graph_v1, unknown_version

        def req(method, path, body=b""):
            headers = {"Content-Type": "application/json", "client-request-id": "c1"}
            return func.HttpRequest(method, "http://h" + path, headers=headers, body=body)

        statuses = [
            graph_v1(req("POST", "/v1.0/me/events/AAMk1/cancel", b"{}")).status_code,
            graph_v1(req("GET", "/v1.0/me/nothing")).status_code,
            unknown_version(req("GET", "/v2/me")).status_code,
        ]
        loaded = sorted(
            m for m in sys.modules if m.split(".")[0] == "opentelemetry"
            or m.startswith("azure.monitor")
        )
        print(json.dumps({"statuses": statuses, "loaded": loaded}))
    """
    assert run_probe(probe, env) == {"statuses": [401, 400, 400], "loaded": []}


def test_with_the_setting_the_first_request_configures_azure_monitor(tmp_path: Path) -> None:
    """The real `configure_azure_monitor` with what `telemetry` hands it: the global provider
    traces the request, ids on its span. Nothing leaves the machine: the endpoints are a
    closed local port, statsbeat is off, and what the exporter keeps for retry stays in
    `tmp_path`."""
    env = {k: v for k, v in os.environ.items() if k != telemetry.CONNECTION_STRING_SETTING}
    closed = "http://127.0.0.1:9/"
    env |= {
        telemetry.CONNECTION_STRING_SETTING: (
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            f"IngestionEndpoint={closed};LiveEndpoint={closed}"
        ),
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "OTEL_TRACES_SAMPLER": "always_on",  # the default samples to a rate
        "TMPDIR": str(tmp_path),
    }
    probe = """
        import json, sys
        import azure.functions as func
        import function_app
        from cancel.graph import unknown_version
        from shared.runtime.telemetry import InvocationContext

        before = "azure.monitor.opentelemetry" in sys.modules
        unknown_version(func.HttpRequest("GET", "http://h/v2/me", body=b""))

        from opentelemetry import trace
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        exporter = InMemorySpanExporter()
        trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
        req = func.HttpRequest("GET", "http://h/v2/me", body=b"")
        answer = unknown_version(req, InvocationContext("inv-ai"))
        (span,) = exporter.get_finished_spans()
        print(json.dumps({
            "before": before,
            "name": span.name,
            "ids": [span.attributes.get(k) for k in ("request-id", "faas.invocation_id")],
            "request_id": answer.headers["request-id"],
        }))
    """
    result = run_probe(probe, env)
    assert result["before"] is False
    assert result["name"] == "GET /{*path}"
    assert result["ids"] == [result["request_id"], "inv-ai"]


# The dev host's `context` ----------------------------------------------------------------------


def test_the_dev_host_binds_context_and_names_the_invocation() -> None:
    from function_app import app

    specs = {spec.name: spec for spec in load_functions(app)}
    received: list[func.Context] = []

    def worker(msg: func.QueueMessage, context: func.Context) -> None:
        received.append(context)

    invoker = Invoker()
    try:
        invoker.call(worker, "msg", func.QueueMessage(body=b"x"), name="w", invocation_id="inv-7")
        invoker.call(worker, "msg", func.QueueMessage(body=b"x"), name="w")
        response = invoker.call(
            specs["zz_unknown_version"].user_function,
            "req",
            request("GET", "/v2/x"),
            name="zz_unknown_version",
        )
    finally:
        invoker.close()
    assert next((c.invocation_id, c.function_name) for c in received) == ("inv-7", "w")
    assert uuid.UUID(received[1].invocation_id)
    assert received[1].trace_context.trace_parent == ""
    assert response.status_code == 400


def test_the_dev_host_refuses_a_context_of_another_type() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="x")
    def wrong(req: func.HttpRequest, context: str) -> func.HttpResponse:
        return func.HttpResponse()

    with pytest.raises(HostConfigurationError, match=r"azure\.functions\.Context"):
        load_functions(app)


def test_direct_calls_still_work(untraced: None) -> None:
    call: Callable[[func.HttpRequest], func.HttpResponse] = unknown_version
    assert call(request("GET", "/v9/me")).status_code == 400
