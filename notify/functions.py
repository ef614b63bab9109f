"""The mail worker: a queue trigger on the notification queue and a timer that sweeps the outbox.

Both are thin: decode, call the use case with adapters built once per process, log the
outcome. Poison handling is the use case's: the attempt numbered `maxDequeueCount` ends the
outbox row `failed` with its reason before the host moves the message to `<queue>-poison`,
where it stays for inspection or replay (a replayed message is delivered like any other).
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.runtime.services import delivery_services, utc_now
from shared.storage.queue import decode

log = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.function_name("deliver_cancellation")
@bp.queue_trigger(
    arg_name="message", queue_name="%NOTIFICATION_QUEUE%", connection="AzureWebJobsStorage"
)
def deliver_cancellation(message: func.QueueMessage) -> None:
    # The mail modules load with the first message, so HTTP cold starts never pay for them.
    from shared.use_cases.delivery import deliver

    try:
        pointer = decode(message.get_body().decode("utf-8"))
    except UnicodeDecodeError:
        pointer = None
    if pointer is None:
        log.warning("queue message %s does not point at an outbox row: dropped", message.id)
        return
    wired = delivery_services()
    outcome = deliver(
        pointer,
        message.dequeue_count or 1,
        outbox=wired.outbox,
        transport=wired.transport,
        copies=wired.copies,
        redelivery=wired.redelivery,
        policy=wired.policy,
        now=utc_now,
    )
    log.info("cancellation %s of %s: %s", pointer.notification_id, pointer.mailbox, outcome.value)


@bp.function_name("sweep_outbox")
@bp.timer_trigger(arg_name="timer", schedule="%SWEEP_SCHEDULE%", run_on_startup=False)
def sweep_outbox(timer: func.TimerRequest) -> None:
    from shared.use_cases.outbox_sweep import sweep_outbox as sweep

    wired = delivery_services()
    report = sweep(
        outbox=wired.outbox, redelivery=wired.redelivery, now=utc_now(), after=wired.sweep_after
    )
    if report.resent or report.given_up:
        log.info("outbox sweep: %d re-sent, %d given up", report.resent, report.given_up)
