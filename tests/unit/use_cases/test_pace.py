"""How many threads of a delivery send at once (`Pace`): all while sending waits, one while the
process is busy computing; the senders ranked, those over the limit parked."""

from __future__ import annotations

import threading

from shared.use_cases.delivery import Pace


class Meter:
    """A wall clock and a process CPU clock the test moves by hand."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def spend(self, wall: float, cpu: float) -> None:
        self.wall += wall
        self.cpu += cpu


def window(pace: Pace, meter: Meter, wall: float, cpu: float) -> None:
    """One window of sends, one after another, in which the process spent `cpu` of `wall`."""
    for _ in range(Pace.WINDOW):
        pace.wait(0, threading.Event())
        meter.spend(wall / Pace.WINDOW, cpu / Pace.WINDOW)
        pace.sent()


def test_one_thread_sends_while_the_process_is_busy_and_all_again_once_sending_waits() -> None:
    meter = Meter()
    pace = Pace(4, cpu=lambda: meter.cpu, clock=lambda: meter.wall)
    assert pace.limit == 4

    window(pace, meter, wall=0.1, cpu=0.095)  # an SMTP server in the process: a whole core
    assert pace.limit == 1
    window(pace, meter, wall=0.1, cpu=0.07)  # in between: as it was
    assert pace.limit == 1
    window(pace, meter, wall=0.1, cpu=0.02)  # a server far away: sending waits
    assert pace.limit == 4
    window(pace, meter, wall=0.1, cpu=0.07)
    assert pace.limit == 4


def test_one_thread_alone_is_never_held() -> None:
    meter = Meter()
    pace = Pace(1, cpu=lambda: meter.cpu, clock=lambda: meter.wall)
    window(pace, meter, wall=0.1, cpu=0.01)
    assert pace.limit == 1


def test_senders_over_the_limit_are_parked_until_it_grows_and_rank_0_never_is() -> None:
    meter = Meter()
    pace = Pace(4, cpu=lambda: meter.cpu, clock=lambda: meter.wall)
    window(pace, meter, wall=0.1, cpu=0.095)  # busy: one sends
    assert pace.limit == 1
    done = threading.Event()
    pace.wait(0, done)  # rank 0 sends at any limit: returns at once

    through: list[int] = []

    def send(rank: int) -> None:
        pace.wait(rank, done)
        through.append(rank)

    parked = [threading.Thread(target=send, args=(rank,)) for rank in (1, 3)]
    for thread in parked:
        thread.start()
    parked[0].join(timeout=0.2)
    assert through == []  # ranks 1 and 3 wait while one sends

    window(pace, meter, wall=0.1, cpu=0.02)  # sending waits again: all may send
    for thread in parked:
        thread.join(timeout=5)
    assert sorted(through) == [1, 3]


def test_a_parked_sender_leaves_once_the_slice_is_done() -> None:
    meter = Meter()
    pace = Pace(4, cpu=lambda: meter.cpu, clock=lambda: meter.wall)
    pace.limit = 1
    done = threading.Event()
    waiting = threading.Thread(target=pace.wait, args=(2, done))
    waiting.start()
    waiting.join(timeout=0.2)
    assert waiting.is_alive()

    done.set()
    pace.release()
    waiting.join(timeout=5)
    assert not waiting.is_alive()
