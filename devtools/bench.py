"""Benchmarks (DESIGN.md section 10): each figure beside its floor, measured in the same run.

These machines are noisy, so nothing here is an absolute number to compare across runs: every
figure is taken interleaved with its floor and reported as a ratio.

- cancel latency: the real HTTP function in-process (`graph_v1`, dev token, Azurite)
  versus the floor, the same storage work done with the raw SDK and nothing else: one point
  read of the event row, one ETag-conditioned transaction (the row's replace plus an outbox
  row), one base64 queue put. Each iteration cancels a different pre-loaded event.
- cold start: `import function_app` in a fresh interpreter versus importing only the
  third-party modules the app imports at module level, and the names it imports from them
  (found by walking its import graph). Timed inside the subprocess, so interpreter start-up is
  excluded from both; byte code is cached (in a temporary PYTHONPYCACHEPREFIX) for both.
  One interpreter's import time here moves by up to a fifth from one run to the next, the
  same code, so each side takes the median of 41 (15 printed 1.10 to 1.23 for one code in
  one hour; 31 printed 1.08 to 1.16).
- create latency: `POST /v1.0/me/events` of a meeting with three external attendees versus
  one transaction (event row, iCalUId index, invitation outbox row) and one queue put with the
  raw SDK (`devtools/bench_create.py`).
- throughput: cancels per second through `graph_v1` from 1, 8 and 32 threads at once, each
  on its own events, versus the floor's storage work from as many threads
  (`devtools/bench_throughput.py`).
- fan-out: the mail worker's queue trigger delivering one cancellation, and one invitation, to
  N attendees (N = 10, 100, 500) with the maildir transport, versus writing the same N messages
  with the transport alone (`devtools/bench_fanout.py`).
- growth: `instances` and `GET` of a daily series without end, over long windows and far from
  its start, versus the point read of its master (`devtools/bench_expansion.py`).
- calendar view: one week of a mailbox of 1,000 events (20 weekly series among them) through
  `graph_v1`, Graph's default page and the whole week, versus the one partition query the
  product makes for it with the raw SDK, interleaved, p50 and p99
  (`devtools/bench_calendar_view.py`).

    python -m devtools.bench [--iterations 300] [--cold-runs 41] [--fanout-rounds 5]
                             [--growth-rounds 10] [--view-rounds 300]
                             [--throughput-rounds 3] [--json PATH]

It starts its own in-memory Azurite on free ports and a throwaway dev signing key, and
asserts nothing about time.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ServiceResponseError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devtools.azurite import AZURITE_VERSION, TOOLS, Azurite
from devtools.bench_calendar_view import VIEW_USER_ID, View, measure_view, view_tenant
from devtools.bench_create import (
    CreateFloor,
    create_request,
    floor_options,
    timed_create,
    timed_floor,
)
from devtools.bench_expansion import Growth, measure_growth, series_event
from devtools.bench_fanout import (
    METHODS,
    SIZES,
    FanOut,
    PeakMemory,
    fanout_line,
    measure_fanout,
    measure_fanout_smtp,
    measure_peak_memory,
    memory_line,
)
from devtools.bench_throughput import (
    CALLERS,
    Throughput,
    measure_throughput,
    per_caller,
    throughput_line,
)
from devtools.load import load
from devtools.tokens import dev_auth_settings, ensure_dev_key, mint
from shared.runtime.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = ("function_app", "cancel", "notify", "shared")
"""The deployed code: what `import function_app` reaches, besides the libraries."""

WARMUP = 20
ATTENDEES = 3
USER_ID = "5e1f3a2b-0c4d-4e6f-8a9b-00000000be4c"
UPN = "bench.organizer@contoso.example"
CALENDAR_TABLE = "benchcalendar"
DIRECTORY_TABLE = "benchdirectory"
QUEUE = "bench-cancellations"
COMMENT_BODY = b'{"Comment":"bench"}'

log = logging.getLogger(__name__)


# --- pure helpers ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolating linearly between closest ranks (numpy's
    default), so p50 of an even count is the mean of the middle two."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ratio(subject: float, floor: float) -> float:
    """How many times the floor the subject costs; NaN when the floor is not positive."""
    return subject / floor if floor > 0 else math.nan


def fmt_ratio(value: float) -> str:
    return "n/a" if math.isnan(value) or math.isinf(value) else f"{value:.2f}"


@dataclass(frozen=True)
class Latency:
    """Cancel latency samples in milliseconds, handler and floor taken interleaved."""

    handler_ms: tuple[float, ...]
    floor_ms: tuple[float, ...]

    def figures(self) -> dict[str, float]:
        h50, h99 = percentile(self.handler_ms, 50), percentile(self.handler_ms, 99)
        f50, f99 = percentile(self.floor_ms, 50), percentile(self.floor_ms, 99)
        return {
            "handler_p50_ms": h50,
            "handler_p99_ms": h99,
            "floor_p50_ms": f50,
            "floor_p99_ms": f99,
            "ratio_p50": ratio(h50, f50),
            "ratio_p99": ratio(h99, f99),
        }


@dataclass(frozen=True)
class ColdStart:
    """Import times in milliseconds, each in a fresh interpreter, app and floor interleaved."""

    app_ms: tuple[float, ...]
    libraries_ms: tuple[float, ...]
    libraries: tuple[str, ...]

    def figures(self) -> dict[str, float]:
        app, libraries = statistics.median(self.app_ms), statistics.median(self.libraries_ms)
        return {
            "app_median_ms": app,
            "libraries_median_ms": libraries,
            "ratio": ratio(app, libraries),
        }


def summary(latency: dict[str, float], cold: dict[str, float]) -> str:
    """The two-line block every run ends with."""
    return (
        f"cancel latency  handler p50 {latency['handler_p50_ms']:.2f} ms  "
        f"p99 {latency['handler_p99_ms']:.2f} ms | "
        f"floor p50 {latency['floor_p50_ms']:.2f} ms  p99 {latency['floor_p99_ms']:.2f} ms | "
        f"ratio p50 {fmt_ratio(latency['ratio_p50'])}  p99 {fmt_ratio(latency['ratio_p99'])}\n"
        f"cold start      app {cold['app_median_ms']:.1f} ms | "
        f"libraries {cold['libraries_median_ms']:.1f} ms | ratio {fmt_ratio(cold['ratio'])}"
    )


def create_line(creation: Latency) -> str:
    f = creation.figures()
    return (
        f"create latency p50 handler {f['handler_p50_ms']:.2f} ms | floor "
        f"{f['floor_p50_ms']:.2f} ms | ratio p50 {fmt_ratio(f['ratio_p50'])}  "
        f"p99 {fmt_ratio(f['ratio_p99'])}"
    )


def view_figures(view: View) -> dict[str, float]:
    """A calendar view's figures: its latencies as the cancel's, and what the answer held."""
    return {
        **Latency(view.handler_ms, view.floor_ms).figures(),
        "events_answered": view.answered,
        "events_in_week": view.in_week,
        "mailbox_events": view.in_mailbox,
        "rows_queried": view.rows,
    }


def view_line(view: View) -> str:
    """A calendar view's summary line, shaped as the cancel latency's."""
    f = view_figures(view)
    held = (
        f"{view.answered} events"
        if view.answered == view.in_week
        else f"{view.answered} of {view.in_week} events"
    )
    return (
        f"calendar view   handler p50 {f['handler_p50_ms']:.2f} ms  "
        f"p99 {f['handler_p99_ms']:.2f} ms | "
        f"floor p50 {f['floor_p50_ms']:.2f} ms  p99 {f['floor_p99_ms']:.2f} ms | "
        f"ratio p50 {fmt_ratio(f['ratio_p50'])}  p99 {fmt_ratio(f['ratio_p99'])}  "
        f"({held} in a week of {view.in_mailbox:,}, {view.label})"
    )


def spread(label: str, values: Sequence[float], unit: str = "ms") -> str:
    """One line of detail: where the samples lie, beyond the headline figures."""
    points = ", ".join(f"p{q} {percentile(values, q):.2f}" for q in (1, 10, 50, 90, 99))
    return f"  {label:<10} {points}, max {max(values):.2f} {unit} ({len(values)} samples)"


# --- what the app imports ------------------------------------------------------------------------


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_statements(body: Iterable[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (not in functions or TYPE_CHECKING)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_time_statements(node.body)
            yield from _import_time_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _import_time_statements(block)


def _library_imports(
    root: Path, entry: str, local: Sequence[str]
) -> Iterator[tuple[ast.Import | ast.ImportFrom, str | None, str]]:
    """Each library module that importing `entry` imports by name, following the app's own
    modules (those under `local`) transitively, with the statement that imports it and, for a
    `from … import`, the module it imports from. Lazy imports inside functions do not count."""
    seen: set[str] = set()
    pending = [entry]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(root, module)
        if path is None:
            continue
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in _import_time_statements(ast.parse(path.read_text("utf-8")).body):
            base: str | None = None
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                # `from pkg import mod` imports the submodule when it is one.
                targets = [base] + [
                    f"{base}.{alias.name}"
                    for alias in node.names
                    if _module_file(root, f"{base}.{alias.name}") is not None
                ]
            for target in targets:
                top = target.partition(".")[0]
                if top in local:
                    pending.append(target)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    yield node, base, target


def library_imports(
    root: Path = ROOT, entry: str = "function_app", local: Sequence[str] = APP_PACKAGES
) -> tuple[str, ...]:
    """The non-stdlib modules that importing `entry` imports by name (`_library_imports`)."""
    libraries = {target for _, _, target in _library_imports(root, entry, local)}
    # `import a.b.c` already imports `a.b` and `a`: keep only the deepest names.
    return tuple(
        sorted(name for name in libraries if not any(o.startswith(name + ".") for o in libraries))
    )


def library_names(
    root: Path = ROOT, entry: str = "function_app", local: Sequence[str] = APP_PACKAGES
) -> tuple[str, ...]:
    """The `from <library> import <names>` statements importing `entry` runs, one per library
    module, as source. A name can be what makes an import cost: `pydantic` loads `BaseModel`'s
    modules and `dateutil` its submodules only when a name is asked for, so the floor asks for
    the names the app asks for. Walks the same modules as `library_imports`."""
    names: dict[str, set[str]] = {}
    for node, base, target in _library_imports(root, entry, local):
        if isinstance(node, ast.ImportFrom) and target == base:
            names.setdefault(base, set()).update(a.name for a in node.names if a.name != "*")
    return tuple(
        f"from {base} import {', '.join(sorted(found))}"
        for base, found in sorted(names.items())
        if found
    )


def import_probe(modules: Sequence[str], statements: Sequence[str] = ()) -> str:
    """Python source timing the import of `modules` (and any further import `statements`)
    from inside the interpreter."""
    return (
        "import time; t = time.perf_counter(); "
        f"import {', '.join(modules)}; "
        + "".join(f"{statement}; " for statement in statements)
        + "print(time.perf_counter() - t)"
    )


# --- cold start ----------------------------------------------------------------------------------


def _import_ms(code: str, env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import probe failed ({done.returncode}): {done.stderr.strip()}")
    return float(done.stdout.strip().splitlines()[-1]) * 1000


def cached_bytecode(env: Mapping[str, str], cache: Path) -> dict[str, str]:
    """`env` with byte-code caching on, into `cache`, for every module either side imports.

    Without it, a machine with PYTHONDONTWRITEBYTECODE compiles the app's modules from source
    on every run while the libraries' caches came with their install."""
    cached = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(cache)
    return cached


def measure_cold_start(runs: int, env: dict[str, str]) -> ColdStart:
    libraries = library_imports()
    app_code = import_probe(["function_app"])
    floor_code = import_probe(libraries, library_names())
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        env = cached_bytecode(env, Path(cache))
        # One untimed run of each: byte-code caches and the page cache are warm for both.
        _import_ms(app_code, env)
        _import_ms(floor_code, env)
        app: list[float] = []
        floor: list[float] = []
        for run in range(runs):
            if run % 2 == 0:
                app.append(_import_ms(app_code, env))
                floor.append(_import_ms(floor_code, env))
            else:
                floor.append(_import_ms(floor_code, env))
                app.append(_import_ms(app_code, env))
    return ColdStart(tuple(app), tuple(floor), libraries)


# --- cancel latency ------------------------------------------------------------------------------


def bench_tenant(count: int) -> dict[str, Any]:
    """One organizer with `count` single-instance meetings of three external attendees each."""
    events = []
    for number in range(count):
        slot = f"2026-12-{1 + number % 28:02d}T{8 + number % 9:02d}"
        events.append(
            {
                "key": f"bench-{number}",
                "owner": UPN,
                "subject": f"Bench meeting {number}",
                "body": {"contentType": "html", "content": f"<p>Agenda item {number}.</p>"},
                "start": {"dateTime": f"{slot}:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": f"{slot}:30:00.0000000", "timeZone": "UTC"},
                "location": {"displayName": "Conf Room Bench"},
                "attendees": [
                    {"type": "required", "emailAddress": {"name": f"Guest {number}-{a}",
                     "address": f"guest{number}.{a}@fabrikam.example"}}
                    for a in range(ATTENDEES)
                ],
            }
        )  # fmt: skip
    return {
        "users": [
            {"id": USER_ID, "userPrincipalName": UPN, "mail": UPN, "displayName": "Bench Organizer"}
        ],
        "events": events,
    }


class Floor:
    """The same storage work as one cancel, with the raw SDK and nothing else."""

    def __init__(self, connection: str, table: str, queue: str) -> None:
        self.table = TableClient.from_connection_string(connection, table, **floor_options())
        self.queue = QueueClient.from_connection_string(
            connection,
            queue,
            message_encode_policy=TextBase64EncodePolicy(),
            **floor_options(),
        )
        with contextlib.suppress(ResourceExistsError):
            self.queue.create_queue()

    def cancel(self, mailbox: str, event_id: str) -> None:
        row = self.table.get_entity(mailbox, f"event|{event_id}")
        moved = dict(row)
        moved["Folder"] = "deleteditems"
        outbox = {
            "PartitionKey": mailbox,
            "RowKey": f"outbox|{event_id}",
            "Kind": "outbox",
            "Status": "pending",
            "CancelledAt": datetime.now(UTC).isoformat(),
            "Notification": row["Event"],  # about the size of the app's notification record
        }
        self.table.submit_transaction(
            [
                ("update", moved, {"mode": UpdateMode.REPLACE, "etag": row.metadata["etag"],
                                   "match_condition": MatchConditions.IfNotModified}),
                ("create", outbox),
            ]
        )  # fmt: skip
        self.queue.send_message(json.dumps({"mailbox": mailbox, "notification": event_id}))

    def close(self) -> None:
        self.table.close()
        self.queue.close()


def cancel_request(event_id: str, token: str) -> func.HttpRequest:
    return func.HttpRequest(
        "POST",
        f"http://localhost:7071/v1.0/me/events/{event_id}/cancel",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        route_params={"path": f"me/events/{event_id}/cancel"},
        body=COMMENT_BODY,
    )


def _timed_handler(handler: Callable[[func.HttpRequest], object], req: func.HttpRequest) -> float:
    start = time.perf_counter_ns()
    response = handler(req)
    elapsed = time.perf_counter_ns() - start
    if not isinstance(response, func.HttpResponse) or response.status_code != 202:
        detail = response.get_body()[:500] if isinstance(response, func.HttpResponse) else response
        status = getattr(response, "status_code", None)
        raise RuntimeError(f"the handler answered {status} instead of 202: {detail!r}")
    return elapsed / 1e6


def _timed_floor(floor: Floor, mailbox: str, event_id: str) -> float:
    start = time.perf_counter_ns()
    floor.cancel(mailbox, event_id)
    return (time.perf_counter_ns() - start) / 1e6


def _check_cancelled(connection: str, mailbox: str, event_ids: Sequence[str]) -> None:
    """Both sides really did their work: every event they were given left the calendar."""
    with TableClient.from_connection_string(connection, CALENDAR_TABLE) as table:
        for event_id in (event_ids[0], event_ids[-1]):
            row = table.get_entity(mailbox, f"event|{event_id}")
            if row["Folder"] != "deleteditems":
                raise RuntimeError(f"event {event_id} was not cancelled")


def measure_latency(connection: str, iterations: int, dev_dir: Path) -> Latency:
    """Handler and floor against one Azurite, interleaved, each on its own pre-loaded events."""
    key = ensure_dev_key(dev_dir)
    os.environ.update(
        {
            "AzureWebJobsStorage": connection,
            "CALENDAR_TABLE": CALENDAR_TABLE,
            "DIRECTORY_TABLE": DIRECTORY_TABLE,
            "NOTIFICATION_QUEUE": QUEUE,
            **dev_auth_settings(key),
        }
    )
    # Only now: the app reads its settings once, on first use, from this environment.
    from cancel.graph import graph_v1

    rounds = WARMUP + iterations
    loaded = load(bench_tenant(2 * rounds), Settings.from_env(os.environ))
    targets = [loaded.events[f"bench-{number}"] for number in range(2 * rounds)]
    mailbox = targets[0][0]
    handler_events = [event for _, event in targets[0::2]]
    floor_events = [event for _, event in targets[1::2]]
    token = mint(key, subject_oid=USER_ID, lifetime_seconds=4 * 3600)

    floor = Floor(connection, CALENDAR_TABLE, QUEUE)
    handler_ms: list[float] = []
    floor_ms: list[float] = []
    try:
        for number in range(rounds):
            req = cancel_request(handler_events[number], token)
            if number % 2 == 0:
                handler = _timed_handler(graph_v1, req)
                floor_time = _timed_floor(floor, mailbox, floor_events[number])
            else:
                floor_time = _timed_floor(floor, mailbox, floor_events[number])
                handler = _timed_handler(graph_v1, req)
            if number >= WARMUP:
                handler_ms.append(handler)
                floor_ms.append(floor_time)
    finally:
        floor.close()
    _check_cancelled(connection, mailbox, handler_events)
    _check_cancelled(connection, mailbox, floor_events)
    return Latency(tuple(handler_ms), tuple(floor_ms))


def measure_create(connection: str, iterations: int, dev_dir: Path) -> Latency:
    """`POST /v1.0/me/events` and its floor, interleaved, in the mailbox `measure_latency`
    loaded (whose settings the app already holds)."""
    from cancel.graph import graph_v1

    token = mint(ensure_dev_key(dev_dir), subject_oid=USER_ID, lifetime_seconds=4 * 3600)
    floor = CreateFloor(connection, CALENDAR_TABLE, QUEUE)
    handler_ms: list[float] = []
    floor_ms: list[float] = []
    try:
        for number in range(WARMUP + iterations):
            req = create_request(number, token)
            if number % 2 == 0:
                handler = timed_create(graph_v1, req)
                floor_time = timed_floor(floor, USER_ID, number)
            else:
                floor_time = timed_floor(floor, USER_ID, number)
                handler = timed_create(graph_v1, req)
            if number >= WARMUP:
                handler_ms.append(handler)
                floor_ms.append(floor_time)
    finally:
        floor.close()
    with TableClient.from_connection_string(connection, CALENDAR_TABLE) as table:
        created = table.query_entities(
            "PartitionKey eq @mailbox and Kind eq 'outbox' and RowKey ge 'outbox|'",
            parameters={"mailbox": USER_ID},
            select=["RowKey"],
        )
        invitations = sum(1 for row in created if row["RowKey"].endswith(".invitation"))
    if invitations < 2 * (WARMUP + iterations):
        raise RuntimeError(f"{invitations} invitation rows: each create should have one")
    return Latency(tuple(handler_ms), tuple(floor_ms))


# --- throughput ----------------------------------------------------------------------------------


SPARE_EVENTS = 256
"""Events beyond the batches' own, for cancels made again after a dropped connection."""


class ConnectionDropped(Exception):
    """Azurite reset the connection a cancel was sent on (the app answers it with 503)."""


def run_throughput(connection: str, dev_dir: Path, rounds: int) -> list[Throughput]:
    """On the storage and settings the latency run set up: cancels from 1, 8 and 32 threads at
    once through `graph_v1` and through the floor, every cancel on an event of its own."""
    from cancel.graph import graph_v1

    needed = sum(2 * (rounds + 1) * count * per_caller(count) for count in CALLERS)
    tenant = bench_tenant(needed + SPARE_EVENTS)
    for event in tenant["events"]:
        event["key"] = f"throughput-{event['key']}"
    loaded = load(tenant, Settings.from_env(os.environ))
    pending = [loaded.events[event["key"]][1] for event in tenant["events"]]
    mailbox = loaded.events[tenant["events"][0]["key"]][0]
    token = mint(ensure_dev_key(dev_dir), subject_oid=USER_ID, lifetime_seconds=4 * 3600)
    done: list[str] = []
    resets: dict[str, int] = {"app": 0, "floor": 0}
    lock = threading.Lock()

    def fresh_events(count: int) -> list[str]:
        with lock:
            taken = pending[:count]
            del pending[:count]
            done.extend(taken)
        return taken

    def app_cancel(event_id: str) -> None:
        response = graph_v1(cancel_request(event_id, token))
        if response.status_code == 503:
            raise ConnectionDropped(response.get_body()[:200].decode("utf-8", "replace"))
        if response.status_code != 202:
            body = response.get_body()[:500]
            raise RuntimeError(f"the handler answered {response.status_code}: {body!r}")

    def floor_cancel(event_id: str) -> None:
        try:
            floor.cancel(mailbox, event_id)
        except ServiceResponseError as error:
            raise ConnectionDropped(str(error)) from error

    def once_more(side: str, cancel: Callable[[str], None]) -> Callable[[str], None]:
        """A cancel whose connection Azurite dropped (a pooled keep-alive connection reset as
        it was reused: the app answers 503, the SDK raises) is counted and made again on a
        fresh event; the event it was on is left out of the check below."""

        def run(event_id: str) -> None:
            try:
                cancel(event_id)
            except ConnectionDropped:
                with lock:
                    resets[side] += 1
                    done.remove(event_id)
                run(fresh_events(1)[0])

        return run

    floor = Floor(connection, CALENDAR_TABLE, QUEUE)
    try:
        results = measure_throughput(
            once_more("app", app_cancel), once_more("floor", floor_cancel), fresh_events, rounds
        )
    finally:
        floor.close()
    _check_cancelled(connection, mailbox, done)
    print(f"  connections dropped and cancels made again: app {resets['app']}, "
          f"floor {resets['floor']}")  # fmt: skip
    return results


# --- fan-out -------------------------------------------------------------------------------------


FANOUT_TABLE = "benchfanout"
"""The fan-out's calendar table: one of its own (see `run_fanout`)."""


def run_fanout(
    connection: str, mail_dir: Path, rounds: int
) -> tuple[list[FanOut], list[PeakMemory]]:
    """The worker in this process, writing to a maildir and then to an SMTP server in this
    process; then its peak memory at N=500, each kind of notification in a fresh interpreter.

    The worker's outbox rows and delivery state go to a calendar table of their own, as on a
    fresh deployment: Azurite's point reads and writes slow down with the rows a table holds
    (an upsert and a read, 9.4 ms on an empty table, 29 ms beside 20,000 rows), which would
    charge the worker, and not its floor (which touches no storage), for the rows the earlier
    runs wrote; Azure's point operations do not grow so. The directory stays the latency run's.
    The calendar table the other runs use is the app's again when it returns."""
    from shared.runtime.services import delivery_services, services
    from shared.runtime.settings import mail_settings, settings

    def configured(calendar_table: str) -> None:
        os.environ["CALENDAR_TABLE"] = calendar_table
        for cached in (settings, mail_settings, services, delivery_services):
            cached.cache_clear()

    with (
        TableServiceClient.from_connection_string(connection) as service,
        contextlib.suppress(ResourceExistsError),
    ):
        service.create_table(FANOUT_TABLE)
    os.environ.update(MAIL_TRANSPORT="maildir", MAIL_MAILDIR=str(mail_dir / "worker"))
    configured(FANOUT_TABLE)
    try:
        with TableClient.from_connection_string(
            connection, FANOUT_TABLE, **floor_options()
        ) as table:
            results = measure_fanout(table, USER_ID, UPN, mail_dir, rounds, methods=METHODS)
            results += measure_fanout_smtp(table, USER_ID, UPN, rounds)
        memory = measure_peak_memory(FANOUT_TABLE, USER_ID, UPN, mail_dir)
    finally:
        configured(CALENDAR_TABLE)
    return results, memory


# --- growth --------------------------------------------------------------------------------------


def run_growth(connection: str, dev_dir: Path, rounds: int) -> list[Growth]:
    """On the storage and settings the latency run set up: one more series, read far and long."""
    key = ensure_dev_key(dev_dir)
    tenant = {"users": bench_tenant(0)["users"], "events": [series_event(UPN)]}
    mailbox, master_id = load(tenant, Settings.from_env(os.environ)).events["bench-daily"]
    token = mint(key, subject_oid=USER_ID, lifetime_seconds=3600)
    with TableClient.from_connection_string(connection, CALENDAR_TABLE, **floor_options()) as table:
        return measure_growth(table, mailbox, master_id, token, rounds)


# --- calendar view -------------------------------------------------------------------------------


def run_view(connection: str, dev_dir: Path, rounds: int) -> list[View]:
    """On the storage and settings the latency run set up: a mailbox of its own, one week read."""
    key = ensure_dev_key(dev_dir)
    loaded = load(view_tenant(), Settings.from_env(os.environ))
    mailbox = next(iter(loaded.events.values()))[0]
    token = mint(key, subject_oid=VIEW_USER_ID, lifetime_seconds=4 * 3600)
    with TableClient.from_connection_string(connection, CALENDAR_TABLE, **floor_options()) as table:
        return measure_view(table, mailbox, token, rounds, WARMUP)


# --- the command ---------------------------------------------------------------------------------


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"


def azurite_version() -> str:
    try:
        manifest = json.loads((TOOLS / "node_modules" / "azurite" / "package.json").read_text())
        return str(manifest["version"])
    except (OSError, ValueError, KeyError):
        return AZURITE_VERSION


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _no_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(item) for item in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--iterations", type=int, default=300, help="timed cancels per side")
    parser.add_argument("--cold-runs", type=int, default=41, help="fresh interpreters per side")
    parser.add_argument("--fanout-rounds", type=int, default=5, help="fan-out rounds per N")
    parser.add_argument("--growth-rounds", type=int, default=10, help="calls per growth case")
    parser.add_argument("--view-rounds", type=int, default=300, help="calendar views per side")
    parser.add_argument(
        "--throughput-rounds", type=int, default=3, help="timed batches per side and caller count"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.throughput_rounds < 1:
        parser.error("--throughput-rounds must be >= 1")
    counts = (args.iterations, args.cold_runs, args.fanout_rounds, args.growth_rounds,
              args.view_rounds)  # fmt: skip
    if min(counts) < 1:
        parser.error(
            "--iterations, --cold-runs, --fanout-rounds, --growth-rounds, --view-rounds "
            "must be >= 1"
        )

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("azure").setLevel(logging.WARNING)
    started = time.monotonic()
    subprocess_env = dict(os.environ)  # before the benchmark's own settings are added
    # The app is imported first, as the Python worker imports it before any invocation, and
    # leaves what it leaves there (what the import made, frozen out of full collections).
    importlib.import_module("function_app")

    with (
        Azurite() as emulator,
        tempfile.TemporaryDirectory(prefix="bench-key-") as dev_dir,
        tempfile.TemporaryDirectory(prefix="bench-mail-") as mail_dir,
    ):
        azurite = azurite_version()
        print(f"cancel latency: {args.iterations} cancels per side, interleaved, "
              f"after {WARMUP} warm-up; Azurite {azurite} in memory", flush=True)  # fmt: skip
        latency = measure_latency(emulator.connection_string, args.iterations, Path(dev_dir))
        print(spread("handler", latency.handler_ms))
        print(spread("floor", latency.floor_ms))

        print(f"create latency: {args.iterations} creates per side, interleaved, "
              f"after {WARMUP} warm-up", flush=True)  # fmt: skip
        creation = measure_create(emulator.connection_string, args.iterations, Path(dev_dir))
        print(spread("handler", creation.handler_ms))
        print(spread("floor", creation.floor_ms))

        print(f"throughput: cancels from {', '.join(map(str, CALLERS))} threads at once, each on "
              f"its own events, {args.throughput_rounds} batches per side after one untimed, "
              "app and floor alternating", flush=True)  # fmt: skip
        throughput = run_throughput(
            emulator.connection_string, Path(dev_dir), args.throughput_rounds
        )
        for level in throughput:
            print(spread(f"app {level.callers}", level.app_rates(), "cancels/s"))
            print(spread(f"floor {level.callers}", level.floor_rates(), "cancels/s"))

        print(f"fan-out: one cancellation and one invitation to N = "
              f"{', '.join(map(str, SIZES))} attendees, "
              f"{args.fanout_rounds} rounds each, worker and transport alone alternating; "
              "maildir transport, then SMTP (aiosmtpd in this process)", flush=True)  # fmt: skip
        fanout, memory = run_fanout(emulator.connection_string, Path(mail_dir), args.fanout_rounds)
        for result in fanout:
            print(spread(f"{result.label}worker {result.attendees}", result.worker_ms))
            print(spread(f"{result.label}alone {result.attendees}", result.transport_ms))

        print(f"growth: a daily series without end, {args.growth_rounds} calls per case",
              flush=True)  # fmt: skip
        growth = run_growth(emulator.connection_string, Path(dev_dir), args.growth_rounds)

        print(f"calendar view: one week of 1,000 events, {args.view_rounds} requests per side "
              f"and per page size, interleaved, after {WARMUP} warm-up", flush=True)  # fmt: skip
        views = run_view(emulator.connection_string, Path(dev_dir), args.view_rounds)
        for view in views:
            print(f"  {view.label}: {view.answered} of {view.in_week} events in the week, "
                  f"the query returns {view.rows} rows")  # fmt: skip
            print(spread("handler", view.handler_ms))
            print(spread("floor", view.floor_ms))

    print(f"cold start: {args.cold_runs} fresh interpreters per side, interleaved", flush=True)
    cold = measure_cold_start(args.cold_runs, subprocess_env)
    print(f"  libraries: {', '.join(cold.libraries)}")
    print(spread("app", cold.app_ms))
    print(spread("libraries", cold.libraries_ms))

    elapsed = time.monotonic() - started
    python = f"{platform.python_implementation()} {platform.python_version()}"
    sdks = ", ".join(
        f"{name} {_version(name)}"
        for name in ("azure-functions", "azure-data-tables", "azure-storage-queue", "pydantic")
    )
    latency_figures, cold_figures = latency.figures(), cold.figures()
    print()
    print(summary(latency_figures, cold_figures))
    print(create_line(creation))
    for level in throughput:
        print(throughput_line(level))
    for result in fanout:
        print(fanout_line(result))
    for peak in memory:
        print(memory_line(peak))
    for case in growth:
        print(case.line())
    for view in views:
        print(view_line(view))
    print(f"iterations {args.iterations} (+{WARMUP} warm-up) | cold runs {args.cold_runs} | "
          f"fan-out rounds {args.fanout_rounds} | view rounds {args.view_rounds} | "
          f"Azurite {azurite} | Python {python} | {sdks} | run {elapsed:.1f} s")  # fmt: skip

    if args.json is not None:
        document = {
            "cancel_latency": latency_figures,
            "cold_start": cold_figures,
            "create_latency": creation.figures(),
            "throughput": {f"{r.callers}_callers": r.figures() for r in throughput},
            "throughput_rounds": args.throughput_rounds,
            "fan_out": {result.key: result.figures() for result in fanout},
            "fan_out_memory": {
                peak.method: {
                    "attendees": peak.attendees,
                    "peak_kb": peak.peak_kb,
                    "warm_kb": peak.warm_kb,
                }
                for peak in memory
            },
            "growth": {
                case.case.label: {
                    "occurrences": case.case.occurrences,
                    "handler_ms": case.handler_ms,
                    "master_read_ms": case.floor_ms,
                }
                for case in growth
            },
            "calendar_view": {view.key: view_figures(view) for view in views},
            "iterations": args.iterations,
            "warmup": WARMUP,
            "cold_runs": args.cold_runs,
            "view_rounds": args.view_rounds,
            "libraries": list(cold.libraries),
            "azurite": azurite,
            "python": python,
            "platform": platform.platform(),
            "seconds": elapsed,
            "samples": {
                "handler_ms": latency.handler_ms,
                "floor_ms": latency.floor_ms,
                "create_handler_ms": creation.handler_ms,
                "create_floor_ms": creation.floor_ms,
                **{f"throughput_{r.callers}_app_seconds": r.app_seconds for r in throughput},
                **{f"throughput_{r.callers}_floor_seconds": r.floor_seconds for r in throughput},
                "app_import_ms": cold.app_ms,
                "libraries_import_ms": cold.libraries_ms,
                **{f"fan_out_{r.key}_worker_ms": r.worker_ms for r in fanout},
                **{f"fan_out_{r.key}_transport_ms": r.transport_ms for r in fanout},
                **{f"calendar_view_{v.key}_handler_ms": v.handler_ms for v in views},
                **{f"calendar_view_{v.key}_floor_ms": v.floor_ms for v in views},
            },
        }
        # A ratio without a positive floor is NaN, which JSON cannot say: it is written as null.
        text = json.dumps(_no_nan(document), indent=2, allow_nan=False)
        args.json.write_text(text + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
