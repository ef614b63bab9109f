"""How the dev host runs functions: the invoker, and the queue and timer trigger loops."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import inspect
import logging
import re
import threading
import typing
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient, QueueMessage
from croniter import croniter

from devtools.host_routes import HostConfigurationError
from shared.runtime.settings import host_setting
from shared.runtime.storage_connection import StorageConnection
from shared.runtime.telemetry import InvocationContext

log = logging.getLogger("devhost")

RECEIVE_VISIBILITY_SECONDS = 600
MIN_POLLING_INTERVAL = 0.1
STOP_TIMEOUT = 5.0
_SETTING = re.compile(r"%([^%]+)%")
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(\.\d+)?)?$")

QueueClientFactory = Callable[[StorageConnection, str], QueueClient]


def parse_timespan(value: str | float) -> float:
    """Seconds in a .NET TimeSpan (`[d.]hh:mm[:ss[.fff]]`) or a number of milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000
    found = _TIMESPAN.match(str(value).strip())
    if found is None:
        raise HostConfigurationError(f"{value!r} is not a TimeSpan such as '00:00:05'")
    days, hours, minutes, seconds, fraction = found.groups()
    return timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds or 0) + float(fraction or 0),
    ).total_seconds()


def resolve_settings(value: str, env: Mapping[str, str]) -> str:
    """Replace `%Name%` binding expressions by app settings, as the host does."""

    def lookup(found: re.Match[str]) -> str:
        if found[1] not in env:
            raise HostConfigurationError(f"app setting {found[1]!r} (used as {value!r}) is not set")
        return env[found[1]]

    return _SETTING.sub(lookup, value)


@dataclass(frozen=True)
class QueueSettings:
    """host.json `extensions.queues`, with the dev host's 2 s polling ceiling by default."""

    max_polling_interval: float = 2.0
    visibility_timeout: float = 0.0
    batch_size: int = 16
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, host_json: Mapping[str, Any]) -> QueueSettings:
        def get(key: str) -> Any:
            return host_setting(host_json, "extensions", "queues", key)

        defaults = cls()
        encoding = str(get("messageEncoding") or defaults.message_encoding).lower()
        if encoding not in ("base64", "none"):
            raise HostConfigurationError(f"unknown queues.messageEncoding {encoding!r}")
        polling, visibility = get("maxPollingInterval"), get("visibilityTimeout")
        return cls(
            max_polling_interval=max(
                MIN_POLLING_INTERVAL,
                defaults.max_polling_interval if polling is None else parse_timespan(polling),
            ),
            visibility_timeout=0.0 if visibility is None else parse_timespan(visibility),
            batch_size=min(32, max(1, int(get("batchSize") or defaults.batch_size))),
            max_dequeue_count=max(1, int(get("maxDequeueCount") or defaults.max_dequeue_count)),
            message_encoding=encoding,
        )


@dataclass(frozen=True)
class IntervalSchedule:
    interval: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.interval


@dataclass(frozen=True)
class CronSchedule:
    """A 6-field NCRONTAB (`sec min hour day month day-of-week`); both day fields must match."""

    expression: str

    def next_after(self, moment: datetime) -> datetime:
        iterator = croniter(self.expression, moment, second_at_beginning=True, day_or=False)
        return iterator.get_next(datetime)


Schedule = IntervalSchedule | CronSchedule


def parse_schedule(expression: str) -> Schedule:
    """A timer trigger schedule: an NCRONTAB expression or a TimeSpan such as `00:00:05`."""
    text = expression.strip()
    if " " not in text and ":" in text:
        seconds = parse_timespan(text)
        if seconds <= 0:
            raise HostConfigurationError(f"timer interval {expression!r} must be positive")
        return IntervalSchedule(timedelta(seconds=seconds))
    if len(text.split()) != 6 or not croniter.is_valid(text, second_at_beginning=True):
        raise HostConfigurationError(f"{expression!r} is not a valid 6-field NCRONTAB expression")
    return CronSchedule(text)


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    trigger: Mapping[str, Any]
    user_function: Callable[..., Any]

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @property
    def argument(self) -> str:
        return str(self.trigger["name"])


@functools.cache
def _parameters(function: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(function).parameters)


def check_context_parameter(name: str, function: Callable[..., Any]) -> None:
    """A parameter `context` is the invocation's, as the Python worker has it: annotated, if
    at all, `azure.functions.Context`."""
    annotation = typing.get_type_hints(function).get("context")
    if annotation is not None and not (
        isinstance(annotation, type) and issubclass(annotation, func.Context)
    ):
        raise HostConfigurationError(
            f"{name}: the 'context' parameter is expected to be of type azure.functions.Context"
        )


class Invoker:
    """Calls user functions; coroutines share one event loop, as in the Python worker."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(
        self,
        function: Callable[..., Any],
        argument: str,
        value: object,
        *,
        name: str = "",
        invocation_id: str | None = None,
    ) -> Any:
        """Call with the trigger's value, and a `context` when the function takes one."""
        arguments: dict[str, object] = {argument: value}
        if "context" in _parameters(function):
            arguments["context"] = InvocationContext(
                invocation_id=invocation_id or str(uuid.uuid4()), function_name=name
            )
        result = function(**arguments)
        if inspect.isawaitable(result):
            return asyncio.run_coroutine_threadsafe(_awaited(result), self._running()).result()
        return result

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="devhost-asyncio", daemon=True
                )
                self._thread.start()
            return self._loop

    def close(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT)
        if not thread.is_alive():
            loop.close()


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def default_queue_client(connection: StorageConnection, queue_name: str) -> QueueClient:
    """A raw client (the poller decodes base64 itself), from a connection string or an identity."""
    return connection.queue(queue_name)


class BackgroundTrigger:
    """A trigger loop on its own daemon thread, ended by the host's `stopping` event."""

    def __init__(self, spec: FunctionSpec, invoker: Invoker, stopping: threading.Event) -> None:
        self.spec, self._invoker, self._stopping = spec, invoker, stopping
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"devhost-{self.spec.name}", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError


class QueuePoller(BackgroundTrigger):
    """Runs one queue trigger: receive, decode, call, then delete, retry or poison."""

    def __init__(
        self,
        spec: FunctionSpec,
        connection: StorageConnection,
        queue_name: str,
        settings: QueueSettings,
        invoker: Invoker,
        stopping: threading.Event,
        client_factory: QueueClientFactory = default_queue_client,
    ) -> None:
        super().__init__(spec, invoker, stopping)
        self.queue_name, self.poison_name = queue_name, f"{queue_name}-poison"
        self.settings, self.connection, self._factory = settings, connection, client_factory

    def _run(self) -> None:
        queue = self._factory(self.connection, self.queue_name)
        poison = self._factory(self.connection, self.poison_name)
        pool = ThreadPoolExecutor(self.settings.batch_size, f"devhost-{self.spec.name}")
        try:
            self._poll(queue, poison, pool)
        finally:
            pool.shutdown()
            queue.close()
            poison.close()

    def _poll(self, queue: QueueClient, poison: QueueClient, pool: ThreadPoolExecutor) -> None:
        delay, created = MIN_POLLING_INTERVAL, False
        while not self._stopping.is_set():
            messages: list[QueueMessage] = []
            try:
                created = created or _create(queue)
                messages = list(
                    queue.receive_messages(
                        messages_per_page=self.settings.batch_size,
                        max_messages=self.settings.batch_size,
                        visibility_timeout=RECEIVE_VISIBILITY_SECONDS,
                    )
                )
            except Exception as error:
                log.warning("%s: cannot poll queue %s: %s", self.spec.name, self.queue_name, error)
            if messages:
                delay = MIN_POLLING_INTERVAL
                list(pool.map(lambda message: self._settle(queue, poison, message), messages))
            else:
                self._stopping.wait(delay)
                delay = min(delay * 2, self.settings.max_polling_interval)

    def _settle(self, queue: QueueClient, poison: QueueClient, message: QueueMessage) -> None:
        try:
            self.process(queue, poison, message)
        except Exception:
            log.exception("%s: storage failed on message %s", self.spec.name, message.id)

    def process(self, queue: QueueClient, poison: QueueClient, message: QueueMessage) -> None:
        """Call the function with one received message, then settle the message."""
        count = int(message.dequeue_count or 1)
        if count > self.settings.max_dequeue_count:
            self._to_poison(queue, poison, message, "dequeue count over maxDequeueCount")
            return
        try:
            body = self._decode(str(message.content))
        except ValueError:
            self._to_poison(queue, poison, message, "message is not valid base64")
            return
        invocation = uuid.uuid4()
        log.info(
            "Executing 'Functions.%s' (Reason='New queue message', Id=%s)",
            self.spec.name,
            invocation,
        )
        argument = FunctionQueueMessage(
            id=message.id,
            body=body,
            dequeue_count=count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        try:
            self._invoker.call(
                self.spec.user_function,
                self.spec.argument,
                argument,
                name=self.spec.name,
                invocation_id=str(invocation),
            )
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed, Id=%s)", self.spec.name, invocation)
            if count >= self.settings.max_dequeue_count:
                self._to_poison(queue, poison, message, f"failed {count} times")
            else:
                timeout = int(self.settings.visibility_timeout)
                queue.update_message(message, visibility_timeout=timeout)
            return
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s)", self.spec.name, invocation)
        queue.delete_message(message)

    def _decode(self, raw: str) -> bytes:
        if self.settings.message_encoding == "none":
            return raw.encode("utf-8")
        try:
            return base64.b64decode("".join(raw.split()), validate=True)
        except binascii.Error as error:
            raise ValueError(str(error)) from error

    def _to_poison(
        self, queue: QueueClient, poison: QueueClient, message: QueueMessage, reason: str
    ) -> None:
        log.warning(
            "%s: moving message %s to %s (%s)", self.spec.name, message.id, self.poison_name, reason
        )
        _create(poison)
        poison.send_message(message.content)
        queue.delete_message(message)


def _create(queue: QueueClient) -> bool:
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    return True


class TimerRunner(BackgroundTrigger):
    """Runs one timer trigger on its schedule, one invocation at a time."""

    def __init__(
        self,
        spec: FunctionSpec,
        schedule: Schedule,
        run_on_startup: bool,
        timezone: tzinfo,
        invoker: Invoker,
        stopping: threading.Event,
    ) -> None:
        super().__init__(spec, invoker, stopping)
        self.schedule, self.run_on_startup, self._timezone = schedule, run_on_startup, timezone

    def _run(self) -> None:
        last: datetime | None = None
        if self.run_on_startup:
            last = self._fire(self._now(), last, "This function was programmatically called")
        due = self.schedule.next_after(self._now())
        while not self._stopping.wait(max(0.0, (due - self._now()).total_seconds())):
            last = self._fire(due, last, "Timer fired")
            due = self.schedule.next_after(max(due, self._now()))

    def _now(self) -> datetime:
        return datetime.now(self._timezone)

    def _fire(self, due: datetime, last: datetime | None, reason: str) -> datetime:
        now = self._now()
        status = {
            "Last": (last or due).isoformat(),
            "Next": self.schedule.next_after(due).isoformat(),
            "LastUpdated": now.isoformat(),
        }
        request = TimerRequest(
            past_due=(now - due).total_seconds() > 1,
            schedule_status=status,
            schedule={"AdjustForDST": True},
        )
        log.info("Executing 'Functions.%s' (Reason='%s')", self.spec.name, reason)
        try:
            self._invoker.call(
                self.spec.user_function, self.spec.argument, request, name=self.spec.name
            )
            log.info("Executed 'Functions.%s' (Succeeded)", self.spec.name)
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed)", self.spec.name)
        return due


def local_timezone(env: Mapping[str, str]) -> tzinfo:
    name = env.get("WEBSITE_TIME_ZONE")
    local = datetime.now().astimezone().tzinfo
    return ZoneInfo(name) if name else local or ZoneInfo("UTC")
