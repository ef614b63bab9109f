"""Rows that rarely change, kept in memory for a while so a request need not read them again.

The directory's users and groups and a mailbox's calendars are read on most requests (who is
`users/{upn}`, who organizes a new event, where the default calendar is) and change seldom.
Each is kept for `DIRECTORY_CACHE_SECONDS` (60 by default; 0 keeps nothing), at most `size`
of them, the oldest dropped first. Only what was found is kept: a miss is read again next time,
so a user or calendar added is seen at once; a change or removal is seen within the period,
as Entra ID's own directory changes reach Graph after a delay.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Remembered(Generic[K, V]):
    def __init__(
        self, seconds: float, size: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds, self.size, self.clock = seconds, size, clock
        self._kept: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, read: Callable[[], V | None]) -> V | None:
        """The value kept for `key` if still fresh, else `read()` (kept unless None)."""
        if self.seconds <= 0:
            return read()
        now = self.clock()
        kept = self._kept.get(key)
        if kept is not None and now < kept[0]:
            return kept[1]
        value = read()
        if value is not None:
            with self._lock:
                if key not in self._kept and len(self._kept) >= self.size:
                    del self._kept[next(iter(self._kept))]
                self._kept[key] = (now + self.seconds, value)
        return value
