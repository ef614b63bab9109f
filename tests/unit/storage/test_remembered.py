"""What was read is kept for its period, misses never are, and the oldest goes first."""

from __future__ import annotations

from shared.storage.remembered import Remembered


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Reads:
    def __init__(self, value: str | None) -> None:
        self.value, self.count = value, 0

    def __call__(self) -> str | None:
        self.count += 1
        return self.value


def test_a_found_value_is_read_once_within_its_period_and_again_after() -> None:
    clock, reads = Clock(), Reads("Adele")
    kept: Remembered[str, str] = Remembered(60, clock=clock)

    assert [kept.get("adele", reads) for _ in range(3)] == ["Adele"] * 3
    assert reads.count == 1
    clock.now += 59.9
    assert kept.get("adele", reads) == "Adele"
    assert reads.count == 1
    clock.now += 0.1
    reads.value = "Adele Vance"
    assert kept.get("adele", reads) == "Adele Vance"
    assert reads.count == 2


def test_a_miss_is_read_every_time() -> None:
    reads = Reads(None)
    kept: Remembered[str, str] = Remembered(60, clock=Clock())

    assert kept.get("nobody", reads) is None
    assert kept.get("nobody", reads) is None
    assert reads.count == 2


def test_no_period_keeps_nothing() -> None:
    reads = Reads("Adele")
    kept: Remembered[str, str] = Remembered(0, clock=Clock())

    kept.get("adele", reads)
    kept.get("adele", reads)
    assert reads.count == 2


def test_at_most_size_values_are_kept_the_oldest_dropped_first() -> None:
    kept: Remembered[int, str] = Remembered(60, size=2, clock=Clock())
    first, second, third = Reads("1"), Reads("2"), Reads("3")

    kept.get(1, first)
    kept.get(2, second)
    kept.get(3, third)
    kept.get(2, second)
    kept.get(1, first)

    assert (first.count, second.count, third.count) == (2, 1, 1)
