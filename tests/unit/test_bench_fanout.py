"""The fan-out benchmark's pure parts: its summary line, its figures, its notification."""

from __future__ import annotations

import math

from devtools.bench import library_imports
from devtools.bench_fanout import FanOut, fanout_line, fanout_notification
from shared.cancellation_mail import recipients


def test_the_summary_line_gives_medians_and_their_ratio() -> None:
    result = FanOut(10, worker_ms=(30.0, 10.0, 20.0), transport_ms=(2.0, 4.0, 3.0))
    assert result.figures() == {"worker_ms": 20.0, "transport_ms": 3.0, "ratio": 20.0 / 3.0}
    assert fanout_line(result) == ("fan-out N=10   worker 20.0 ms | transport 3.0 ms | ratio 6.67")
    assert fanout_line(FanOut(500, (1.0,), (2.0,))).startswith("fan-out N=500  worker 1.0 ms")


def test_a_floor_of_zero_gives_no_ratio() -> None:
    result = FanOut(100, worker_ms=(5.0,), transport_ms=(0.0,))
    assert math.isnan(result.figures()["ratio"])
    assert fanout_line(result).endswith("ratio n/a")


def test_the_notification_has_n_distinct_external_attendees() -> None:
    item = fanout_notification("mailbox", "bench@contoso.example", 100, "7x0")
    assert len(recipients(item)) == 100
    assert item.id == "AAMkFanOut7x0"


def test_the_cold_start_floor_follows_the_mail_worker_blueprint_too() -> None:
    tops = {name.partition(".")[0] for name in library_imports()}
    assert "notify" not in tops
    assert "icalendar" not in tops  # the worker loads it with its first message, not at import
    assert "msal" not in tops
