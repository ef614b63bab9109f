"""How many threads of a delivery send at once (`Pace`): all while sending waits, one while the
process is busy computing."""

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
        with pace.turn():
            meter.spend(wall / Pace.WINDOW, cpu / Pace.WINDOW)


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


def test_no_more_than_the_limit_send_at_once() -> None:
    meter = Meter()
    pace = Pace(4, cpu=lambda: meter.cpu, clock=lambda: meter.wall)
    pace.limit = 2
    release = threading.Event()
    both_in = threading.Barrier(3)
    entered: list[int] = []

    def send(number: int) -> None:
        with pace.turn():
            entered.append(number)
            if number < 2:
                both_in.wait()
                release.wait()

    senders = [threading.Thread(target=send, args=(n,)) for n in range(2)]
    for sender in senders:
        sender.start()
    both_in.wait()  # two are sending
    third = threading.Thread(target=send, args=(2,))
    third.start()
    third.join(timeout=0.2)
    assert third.is_alive()  # held: two send already
    assert sorted(entered) == [0, 1]
    assert pace.active == 2

    release.set()
    for thread in (*senders, third):
        thread.join()
    assert sorted(entered) == [0, 1, 2]
    assert pace.active == 0
