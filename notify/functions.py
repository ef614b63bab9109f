"""The mail worker: a queue trigger on the notification queue and a timer that sweeps the outbox.

Both are thin: decode, call the use case with adapters built once per process, log the
outcome. `deliver_cancellation` delivers every notification the queue points at, invitations
(`REQUEST`) as well as cancellations; it keeps the name it was registered under, which
telemetry, tests and the README use. Poison handling is the use case's: the attempt numbered
`maxDequeueCount` ends the outbox row `failed` with its reason before the host moves the
message to `<queue>-poison`, where it stays for inspection or replay (a replayed message is
delivered like any other).

Each invocation is traced (`shared/runtime/telemetry.py`): a delivery is a child of the trace
context its message carries, so it joins the trace of the cancel (or create) that put it; a
sweep's re-sends carry the sweep's. `context` is the invocation's (the worker passes it to a
parameter of that name and type); a direct call, as the fan-out benchmark makes, has none.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.runtime import telemetry
from shared.runtime.services import delivery_services, utc_now
from shared.runtime.telemetry import NO_INVOCATION
from shared.storage.queue import decode

log = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.function_name("deliver_cancellation")
@bp.queue_trigger(
    arg_name="message", queue_name="%NOTIFICATION_QUEUE%", connection="AzureWebJobsStorage"
)
def deliver_cancellation(message: func.QueueMessage, context: func.Context = NO_INVOCATION) -> None:
    # The mail modules load with the first message, so HTTP cold starts never pay for them.
    from shared.use_cases.delivery import deliver

    try:
        pointer = decode(message.get_body().decode("utf-8"))
    except UnicodeDecodeError:
        pointer = None
    attempt = message.dequeue_count or 1
    with telemetry.invocation(
        "deliver_cancellation",
        context,
        trigger="datasource",
        message=pointer,
        attributes={
            "messaging.operation.type": "process",
            "messaging.message.id": message.id,
            "delivery.attempt": attempt,
            "notification.id": pointer.notification_id if pointer else None,
        },
    ) as scope:
        if pointer is None:
            log.warning("queue message %s does not point at an outbox row: dropped", message.id)
            scope.set("delivery.outcome", "dropped")
            return
        wired = delivery_services()
        outcome = deliver(  # what it raises fails the span as well as the attempt
            pointer,
            attempt,
            outbox=wired.outbox,
            transport=wired.transport,
            copies=wired.copies,
            redelivery=wired.redelivery,
            policy=wired.policy,
            now=utc_now,
        )
        scope.set("delivery.outcome", outcome.value)
        log.info(
            "notification %s of %s: %s", pointer.notification_id, pointer.mailbox, outcome.value
        )


@bp.function_name("sweep_outbox")
@bp.timer_trigger(arg_name="timer", schedule="%SWEEP_SCHEDULE%", run_on_startup=False)
def sweep_outbox(timer: func.TimerRequest, context: func.Context = NO_INVOCATION) -> None:
    from shared.use_cases.outbox_sweep import sweep_outbox as sweep

    with telemetry.invocation("sweep_outbox", context, trigger="timer") as scope:
        wired = delivery_services()
        report = sweep(
            outbox=wired.outbox,
            redelivery=telemetry.traced_redelivery(wired.redelivery),
            now=utc_now(),
            after=wired.sweep_after,
            lease=wired.policy.lease,
        )
        scope.set("sweep.resent", report.resent)
        scope.set("sweep.given_up", report.given_up)
        if report.resent or report.given_up:
            log.info("outbox sweep: %d re-sent, %d given up", report.resent, report.given_up)
