"""The throughput benchmark's helpers: how callers share events, the threaded batch, figures."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable

import pytest

from devtools.bench_throughput import (
    Throughput,
    measure_throughput,
    per_caller,
    run_callers,
    share,
    throughput_line,
)


def test_each_caller_cancels_the_batch_shared_out_and_never_fewer_than_the_minimum() -> None:
    assert per_caller(1, batch=64, minimum=4) == 64
    assert per_caller(8, batch=64, minimum=4) == 8
    assert per_caller(32, batch=64, minimum=4) == 4
    assert per_caller(3, batch=64, minimum=4) == 22
    with pytest.raises(ValueError, match="at least one"):
        per_caller(0)


def test_events_are_dealt_in_equal_runs_one_per_caller() -> None:
    assert share(["a", "b", "c", "d", "e", "f"], 3) == [["a", "b"], ["c", "d"], ["e", "f"]]
    assert share(["a"], 1) == [["a"]]
    with pytest.raises(ValueError, match="equally"):
        share(["a", "b", "c"], 2)


def test_a_batch_runs_every_callers_events_in_order_on_threads_of_their_own() -> None:
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def cancel(event: str) -> None:
        with lock:
            seen.append((event, threading.get_ident()))

    elapsed = run_callers([["a1", "a2", "a3"], ["b1", "b2", "b3"]], cancel)
    assert elapsed >= 0
    assert sorted(event for event, _ in seen) == ["a1", "a2", "a3", "b1", "b2", "b3"]
    by_thread = {event[0]: thread for event, thread in seen}
    assert by_thread["a"] != by_thread["b"] != threading.get_ident()
    assert [e for e, _ in seen if e.startswith("a")] == ["a1", "a2", "a3"]


def test_a_callers_error_is_raised_once_every_caller_has_finished() -> None:
    done: list[str] = []

    def cancel(event: str) -> None:
        if event == "a2":
            raise RuntimeError("the handler answered 500")
        done.append(event)

    with pytest.raises(RuntimeError, match="500"):
        run_callers([["a1", "a2", "a3"], ["b1", "b2"]], cancel)
    assert sorted(done) == ["a1", "b1", "b2"]  # a caller stops at its error; the others finish


def test_figures_are_median_rates_and_the_apps_share_of_the_floors() -> None:
    result = Throughput(8, 64, app_seconds=(2.0, 4.0, 1.0), floor_seconds=(1.0, 2.0, 1.0))
    assert result.app_rates() == [32.0, 16.0, 64.0]
    assert result.figures() == {
        "callers": 8,
        "cancels_per_batch": 64,
        "app_per_second": 32.0,
        "floor_per_second": 64.0,
        "ratio": 0.5,
        "ratio_paired_median": 0.5,
    }
    assert result.paired_ratios() == [0.5, 0.5, 1.0]
    assert throughput_line(result) == (
        "throughput  8 callers app    32.0 cancels/s | floor    64.0 cancels/s | ratio 0.50  "
        "paired p50 0.50  (64 cancels a batch, 3 rounds)"
    )
    assert throughput_line(Throughput(1, 64, (1.0,), (1.0,))).startswith(
        "throughput  1 caller  app    64.0 cancels/s"
    )


def test_a_floor_that_takes_no_time_has_no_ratio() -> None:
    result = Throughput(1, 4, app_seconds=(1.0,), floor_seconds=(math.inf,))
    assert math.isnan(result.figures()["ratio"])
    assert result.paired_ratios() == [math.inf]
    assert "ratio n/a" in throughput_line(result)


def test_the_measurement_alternates_sides_on_fresh_events_and_drops_the_first_round() -> None:
    counter = itertools.count()
    handed: list[list[str]] = []
    calls: dict[str, list[str]] = {"app": [], "floor": []}
    lock = threading.Lock()

    def fresh_events(count: int) -> list[str]:
        batch = [f"e{next(counter)}" for _ in range(count)]
        handed.append(batch)
        return batch

    def side(name: str) -> Callable[[str], None]:
        def cancel(event: str) -> None:
            with lock:
                calls[name].append(event)

        return cancel

    results = measure_throughput(side("app"), side("floor"), fresh_events, rounds=2, callers=(1, 8))
    assert [(r.callers, r.cancels, len(r.app_seconds), len(r.floor_seconds)) for r in results] == [
        (1, 64, 2, 2),
        (8, 64, 2, 2),
    ]
    every = [event for batch in handed for event in batch]
    assert len(every) == len(set(every)) == 2 * 2 * 3 * 64  # two levels, two sides, 1 + 2 rounds
    assert sorted(calls["app"] + calls["floor"]) == sorted(every)
    # Round 0: app first; round 1: floor first; round 2: app first.
    first_level = handed[:6]
    owners = ["app" if batch[0] in calls["app"] else "floor" for batch in first_level]
    assert owners == ["app", "floor", "floor", "app", "app", "floor"]
