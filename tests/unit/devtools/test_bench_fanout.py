"""The fan-out and growth benchmarks' pure parts: summary lines, figures, what they ask."""

from __future__ import annotations

import math

from devtools.bench import library_imports
from devtools.bench_expansion import Case as GrowthCase
from devtools.bench_expansion import Growth
from devtools.bench_expansion import cases as growth_cases
from devtools.bench_fanout import FanOut, fanout_line, fanout_notification
from shared.messages.imip import recipients


def test_the_summary_line_gives_medians_their_ratio_and_the_rounds_own_ratios_median() -> None:
    result = FanOut(10, worker_ms=(30.0, 10.0, 20.0), transport_ms=(2.0, 4.0, 3.0))
    assert result.figures() == {
        "worker_ms": 20.0,
        "transport_ms": 3.0,
        "ratio": 20.0 / 3.0,
        "paired_ratio": 20.0 / 3.0,  # of 15, 2.5 and 6.67
    }
    assert fanout_line(result) == (
        "fan-out N=10   worker 20.0 ms | transport 3.0 ms | ratio 6.67 (paired 6.67)"
    )
    # A disk that slows down between rounds: each round's two sides were measured together.
    drifting = FanOut(10, worker_ms=(12.0, 13.0, 60.0), transport_ms=(10.0, 50.0, 55.0))
    assert drifting.figures()["ratio"] == 13.0 / 50.0
    assert drifting.figures()["paired_ratio"] == 60.0 / 55.0
    assert fanout_line(FanOut(500, (1.0,), (2.0,))).startswith("fan-out N=500  worker 1.0 ms")


def test_the_storage_a_delivery_waits_for_is_added_to_the_transport_for_a_second_ratio() -> None:
    result = FanOut(100, (120.0, 100.0, 140.0), (60.0, 50.0, 70.0), storage_ms=(14.0, 10.0, 12.0))
    figures = result.figures()
    assert figures["ratio"] == 2.0
    assert figures["storage_ms"] == 12.0
    assert figures["ratio_to_transport_and_storage"] == 120.0 / 72.0
    assert fanout_line(result) == (
        "fan-out N=100  worker 120.0 ms | transport 60.0 ms | ratio 2.00 (paired 2.00)"
        " | + storage it waits for 12.0 ms: 1.67"
    )


def test_a_floor_of_zero_gives_no_ratio() -> None:
    result = FanOut(100, worker_ms=(5.0,), transport_ms=(0.0,))
    assert math.isnan(result.figures()["ratio"])
    assert fanout_line(result).endswith("ratio n/a (paired n/a)")


def test_the_notification_has_n_distinct_external_attendees() -> None:
    item = fanout_notification("mailbox", "bench@contoso.example", 100, "7x0")
    assert len(recipients(item)) == 100
    assert item.id == "AAMkFanOut7x0"


def test_the_cold_start_floor_follows_the_mail_worker_blueprint_too() -> None:
    tops = {name.partition(".")[0] for name in library_imports()}
    assert "notify" not in tops
    assert "icalendar" not in tops  # the worker loads it with its first message, not at import
    assert "msal" not in tops


def test_growth_cases_clamp_long_windows_to_the_cap_and_reach_the_calendar_s_end() -> None:
    found = {case.label: case for case in growth_cases("AAMkSeries")}

    capped = found["instances 100 years (capped)"]
    assert capped.occurrences == 1825
    assert "endDateTime=2126-12-08T00:00:00Z" in capped.path
    assert found["instances 1 year"].occurrences == 365
    assert found["GET occurrence 9999-12-30"].path == "me/events/OID.AAMkSeries.9999-12-30"
    assert "endDateTime=9999-12-30T00:00:00Z" in found["one week at the calendar's end"].path


def test_a_growth_line_gives_the_cost_per_occurrence_beyond_the_master_read() -> None:
    line = Growth(GrowthCase("instances 1 year", "p", 100), 12.0, 2.0).line()
    assert line.endswith("ratio    6.00 | 100.0 µs per occurrence")
