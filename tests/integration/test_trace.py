"""One cancel and its deliveries are one trace: the real HTTP function and the real queue-trigger
function in this process, against Azurite and the demo tenant, traced into OpenTelemetry's
in-memory exporter; then the same through the dev host, whose invocation ids the spans carry;
and a cancel without the setting loads nothing of OpenTelemetry."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import azure.functions as func
import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.storage.queue import QueueClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devtools.azurite import Azurite
from devtools.load import DEMO_TENANT, load
from devtools.tokens import DevKey, dev_auth_settings, mint
from shared.runtime import services as services_module
from shared.runtime import settings as settings_module
from shared.runtime import telemetry
from shared.runtime.settings import Settings
from shared.runtime.telemetry import CLIENT_REQUEST_ID, INVOCATION_ID, REQUEST_ID

REPO = Path(__file__).resolve().parents[2]
ADELE = "6e7b768e-07e2-4810-8459-485f84f8f204"
ATTENDEES = 3  # Alex, Megan, Pat: one message each
CLIENT_ID = "5e1d2c3b-4a59-4687-8a9b-0c1d2e3f4a5b"


def _clear_caches() -> None:
    """The app reads its settings and builds its adapters once per process: again, for this."""
    for cached in (
        settings_module.settings,
        settings_module.mail_settings,
        services_module.services,
        services_module.delivery_services,
    ):
        cached.cache_clear()


@dataclass
class App:
    env: dict[str, str]
    settings: Settings
    event_id: str
    token: str
    maildir: Path

    def raw_messages(self) -> list[str]:
        """The queue as the Functions host reads it, base64 decoded."""
        with (
            QueueClient.from_connection_string(
                self.settings.storage_connection, self.settings.notification_queue
            ) as client,
            suppress(ResourceNotFoundError),
        ):
            received = list(client.receive_messages(max_messages=32, visibility_timeout=60))
            for message in received:
                client.delete_message(message)
            return [base64.b64decode(str(m.content)).decode() for m in received]
        return []


@pytest.fixture
def app(
    azurite: Azurite,
    dev_key: DevKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[App]:
    """The app's settings in this process's environment, fresh tables and queue, the demo
    tenant loaded, the maildir transport."""
    suffix = uuid4().hex[:10]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "CALENDAR_TABLE": f"calendar{suffix}",
        "DIRECTORY_TABLE": f"directory{suffix}",
        "NOTIFICATION_QUEUE": f"cancellations-{suffix}",
        "MAIL_TRANSPORT": "maildir",
        "MAIL_MAILDIR": str(tmp_path / "maildir"),
        "SWEEP_SCHEDULE": "0 0 0 1 1 *",
        **dev_auth_settings(dev_key),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(telemetry.CONNECTION_STRING_SETTING, raising=False)
    settings = Settings.from_env(env)
    loaded = load(json.loads(DEMO_TENANT.read_text()), settings)
    _, event_id = loaded.events["planning"]
    _clear_caches()
    try:
        yield App(env, settings, event_id, mint(dev_key, subject_oid=ADELE), tmp_path / "maildir")
    finally:
        _clear_caches()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.configure(provider)
    yield exporter
    telemetry.reset()
    provider.shutdown()


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def ancestors(span: ReadableSpan, every: list[ReadableSpan]) -> list[str]:
    """The names of the span's parents, nearest first, as far as recorded spans go."""
    by_id = {s.context.span_id: s for s in every}
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


CANCEL_SPAN = "POST /v1.0/me/events/{id}/cancel"


def test_a_cancel_and_its_delivery_are_one_trace(
    app: App, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    from cancel.graph import graph_v1
    from notify.functions import deliver_cancellation

    caplog.set_level(logging.INFO)
    # The dev host's `main` (run in-process by its tests) quiets the SDKs' logger: set here.
    caplog.set_level(logging.INFO, logger="azure")
    req = func.HttpRequest(
        "POST",
        f"http://localhost:7071/v1.0/me/events/{app.event_id}/cancel",
        headers={
            "Authorization": f"Bearer {app.token}",
            "Content-Type": "application/json",
            "client-request-id": CLIENT_ID,
        },
        body=b'{"Comment": "Traced"}',
    )
    cancel_context = telemetry.InvocationContext("11111111-0000-4000-8000-000000000001", "graph_v1")
    response = graph_v1(req, cancel_context)
    assert response.status_code == 202, response.get_body()
    request_id = response.headers["request-id"]
    cancel_records = list(caplog.records)

    (text,) = app.raw_messages()
    assert set(json.loads(text)) == {"mailbox", "notification", "traceparent"}
    message = FunctionQueueMessage(id="q-1", body=text.encode(), dequeue_count=1)
    deliver_context = telemetry.InvocationContext(
        "22222222-0000-4000-8000-000000000002", "deliver_cancellation"
    )
    deliver_cancellation(message, deliver_context)

    assert len(list((app.maildir / "new").glob("*.eml"))) == ATTENDEES
    every = list(spans.get_finished_spans())
    (server,) = named(spans, CANCEL_SPAN)
    (producer,) = named(spans, "enqueue notification")
    (delivery,) = named(spans, "deliver_cancellation")

    # One trace: the delivery's parent chain reaches the cancel's server span.
    assert {s.context.trace_id for s in every} == {server.context.trace_id}
    assert (server.kind, producer.kind, delivery.kind) == (
        SpanKind.SERVER,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
    )
    assert server.parent is None
    assert ancestors(delivery, every) == ["enqueue notification", CANCEL_SPAN]
    assert json.loads(text)["traceparent"].split("-")[1:3] == [
        f"{producer.context.trace_id:032x}",
        f"{producer.context.span_id:016x}",
    ]

    # The ids: the request's on its spans and log records, the worker's on its own.
    request_ids = {
        REQUEST_ID: request_id,
        CLIENT_REQUEST_ID: CLIENT_ID,
        INVOCATION_ID: "11111111-0000-4000-8000-000000000001",
    }
    for span in (server, producer):
        assert {k: attributes(span).get(k) for k in request_ids} == request_ids
    assert attributes(server)["http.route"] == "/v1.0/me/events/{id}/cancel"
    assert attributes(server)["http.response.status_code"] == 202
    assert app.event_id not in json.dumps([s.name for s in every] + [attributes(server)])
    assert attributes(delivery)[INVOCATION_ID] == "22222222-0000-4000-8000-000000000002"
    assert attributes(delivery)["delivery.outcome"] == "delivered"
    assert REQUEST_ID not in attributes(delivery)

    assert cancel_records, "the storage SDK logs each call at INFO"
    for record in cancel_records:
        assert {k: record.__dict__.get(k) for k in request_ids} == request_ids, record.name
    (outcome,) = [r for r in caplog.records if "delivered" in r.getMessage()]
    assert outcome.__dict__[INVOCATION_ID] == "22222222-0000-4000-8000-000000000002"


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_through_the_dev_host_the_spans_carry_its_invocation_ids(
    app: App, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    from devtools.host import DevHost
    from function_app import app as function_app

    caplog.set_level(logging.INFO, logger="devhost")
    host_json = json.loads((REPO / "host.json").read_text())
    http = requests.Session()
    http.trust_env = False
    with DevHost(function_app, host_json, port=0) as host, http:
        answer = http.post(
            f"{host.base_url}/v1.0/me/events/{app.event_id}/cancel",
            headers={"Authorization": f"Bearer {app.token}", "Content-Type": "application/json"},
            data=b"{}",
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        wait_for(lambda: bool(named(spans, "deliver_cancellation")), "the delivery")

    every = list(spans.get_finished_spans())
    (server,) = named(spans, CANCEL_SPAN)
    (delivery,) = named(spans, "deliver_cancellation")
    assert delivery.context.trace_id == server.context.trace_id
    assert ancestors(delivery, every) == ["enqueue notification", CANCEL_SPAN]
    assert attributes(server)[REQUEST_ID] == answer.headers["request-id"]
    http_invocation = UUID(attributes(server)[INVOCATION_ID])
    queue_invocation = attributes(delivery)[INVOCATION_ID]
    assert str(http_invocation) != queue_invocation
    assert f"'Functions.deliver_cancellation' (Succeeded, Id={queue_invocation})" in caplog.text
    assert len(list((app.maildir / "new").glob("*.eml"))) == ATTENDEES


def test_without_the_setting_a_cancel_loads_no_opentelemetry(app: App) -> None:
    env = {k: v for k, v in os.environ.items() if k != telemetry.CONNECTION_STRING_SETTING}
    probe = f"""
        import json, sys
        import azure.functions as func
        import function_app
        from cancel.graph import graph_v1

        req = func.HttpRequest(
            "POST",
            "http://localhost:7071/v1.0/me/events/{app.event_id}/cancel",
            headers={{"Authorization": "Bearer {app.token}", "Content-Type": "application/json"}},
            body=b"{{}}",
        )
        status = graph_v1(req).status_code
        loaded = sorted(
            m for m in sys.modules
            if m.split(".")[0] == "opentelemetry" or m.startswith("azure.monitor")
        )
        print(json.dumps({{"status": status, "loaded": loaded}}))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(probe)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"status": 202, "loaded": []}
    (text,) = app.raw_messages()
    assert set(json.loads(text)) == {"mailbox", "notification"}  # nothing to carry untraced
