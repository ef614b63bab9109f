"""The throughput benchmark (DESIGN.md section 10): cancels per second through the real HTTP
function in-process (`graph_v1`, dev token, Azurite) with 1, 8 and 32 callers at once, versus
the floor: the same storage work with the raw SDK (`devtools.bench.Floor.cancel`: one point
read, one transaction, one queue put) from as many callers.

Each caller is a thread, as the Python worker runs a sync function on its thread pool, and
cancels its own pre-loaded events one after another, so no two callers touch one event. The
app's callers share its `services()` (one table service client, one queue client); the floor's
share one `Floor` (one table client, one queue client): the same clients, with the SDK's same
connection pools, on both sides. A batch is every caller's events, timed from the moment all
callers are released together until the last one is done; batches of the app and of the floor
alternate, round after round, after one untimed round. Each side's figure is its median rate
over the rounds; the ratio is the app's over the floor's, and beside it the median of each
round's own ratio (the two batches of a round run back to back, so a machine busier for a
while weighs on both).

The measurement itself (`measure_throughput`) is handed the two ways to cancel one event and a
source of fresh event ids; `devtools/bench.py` wires it to `graph_v1`, `Floor` and Azurite.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CALLERS = (1, 8, 32)
"""Callers at once: one alone, a few, and the Python worker's default thread pool (32)."""
BATCH = 64
"""Cancels a batch aims at, shared among its callers."""
MIN_PER_CALLER = 4
"""Cancels each caller makes at least, so that starting and finishing are a small part of it."""


def per_caller(callers: int, batch: int = BATCH, minimum: int = MIN_PER_CALLER) -> int:
    """How many events each of `callers` cancels: the batch shared out, at least `minimum`."""
    if callers < 1:
        raise ValueError(f"{callers} callers: at least one is needed")
    return max(minimum, math.ceil(batch / callers))


def share(events: Sequence[str], callers: int) -> list[list[str]]:
    """`events` dealt to `callers` in equal runs (the first run to the first caller, …)."""
    if callers < 1 or len(events) % callers:
        raise ValueError(f"{len(events)} events cannot be shared equally by {callers} callers")
    size = len(events) // callers
    return [list(events[start : start + size]) for start in range(0, len(events), size)]


def run_callers(work: Sequence[Sequence[str]], cancel: Callable[[str], None]) -> float:
    """Seconds from releasing one thread per list in `work`, together, until every thread has
    called `cancel` on each event of its list in order. The first error a caller meets is
    raised once all have finished (a caller stops at its first error)."""
    start = threading.Barrier(len(work) + 1)
    errors: list[BaseException] = []

    def caller(events: Sequence[str]) -> None:
        start.wait()
        try:
            for event in events:
                cancel(event)
        except BaseException as error:  # reported by the main thread, after the others
            errors.append(error)

    threads = [threading.Thread(target=caller, args=(events,), daemon=True) for events in work]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return elapsed


@dataclass(frozen=True)
class Throughput:
    """One number of callers: each round's batch time for the app and for the floor."""

    callers: int
    cancels: int
    """Cancels in one batch (every caller's), the same for both sides."""
    app_seconds: tuple[float, ...]
    floor_seconds: tuple[float, ...]

    def app_rates(self) -> list[float]:
        """Cancels per second, batch by batch."""
        return [self.cancels / seconds for seconds in self.app_seconds]

    def floor_rates(self) -> list[float]:
        return [self.cancels / seconds for seconds in self.floor_seconds]

    def paired_ratios(self) -> list[float]:
        """Each round's app rate over the floor's rate of the same round (taken side by side,
        so a machine busier for a while weighs on both)."""
        return [
            floor / app for app, floor in zip(self.app_seconds, self.floor_seconds, strict=True)
        ]

    def figures(self) -> dict[str, float]:
        app, floor = statistics.median(self.app_rates()), statistics.median(self.floor_rates())
        return {
            "callers": self.callers,
            "cancels_per_batch": self.cancels,
            "app_per_second": app,
            "floor_per_second": floor,
            "ratio": app / floor if floor > 0 else math.nan,
            "ratio_paired_median": statistics.median(self.paired_ratios()),
        }


def throughput_line(result: Throughput) -> str:
    """One summary line: the median rates side by side, and the app's share of the floor's."""
    f = result.figures()
    ratio = "n/a" if math.isnan(f["ratio"]) else f"{f['ratio']:.2f}"
    return (
        f"throughput {result.callers:>2} caller{'s' if result.callers != 1 else ' '} "
        f"app {f['app_per_second']:7.1f} cancels/s | floor {f['floor_per_second']:7.1f} "
        f"cancels/s | ratio {ratio}  paired p50 {f['ratio_paired_median']:.2f}  "
        f"({result.cancels} cancels a batch, {len(result.app_seconds)} rounds)"
    )


def measure_throughput(
    app: Callable[[str], None],
    floor: Callable[[str], None],
    fresh_events: Callable[[int], list[str]],
    rounds: int,
    callers: Sequence[int] = CALLERS,
) -> list[Throughput]:
    """For each number of callers: `rounds` timed batches of the app and of the floor,
    alternating which goes first, after one untimed batch of each. `fresh_events(n)` answers
    `n` events neither side has cancelled yet (it is called outside the timing)."""
    results = []
    for count in callers:
        size = count * per_caller(count)
        app_seconds: list[float] = []
        floor_seconds: list[float] = []
        for number in range(rounds + 1):
            sides = [(app, app_seconds), (floor, floor_seconds)]
            for cancel, seconds in sides if number % 2 == 0 else sides[::-1]:
                elapsed = run_callers(share(fresh_events(size), count), cancel)
                if number > 0:
                    seconds.append(elapsed)
        results.append(Throughput(count, size, tuple(app_seconds), tuple(floor_seconds)))
    return results
