# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The gate the worker threads of a many-user run pass through: how many requests may be in flight at once."""

from __future__ import annotations

import threading
import time
from typing import Callable


class AdaptiveGate:
    """Limits requests in flight across worker threads, and slows everyone down when the service throttles.

    Additive increase, multiplicative decrease: a 429 halves the number of requests allowed at once and
    holds every new request until its Retry-After has passed; each run of successes gives one slot back,
    up to the configured limit. So a throttling tenant is not hammered by the other workers.
    """

    def __init__(self, limit: int, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = max(1, int(limit))
        self.allowed = self.limit
        self.in_flight = 0
        self.not_before = 0.0
        self.successes = 0
        self.sleep = sleep
        self.clock = clock
        self._cond = threading.Condition()

    def acquire(self) -> None:
        """Waits for a free slot, then out any pause a throttled answer asked for."""
        with self._cond:
            while self.in_flight >= self.allowed:
                self._cond.wait()
            self.in_flight += 1
            pause = self.not_before - self.clock()
        if pause > 0:
            self.sleep(pause)

    def release(self, throttled: bool = False, retry_after: float | None = None) -> None:
        """Gives the slot back; throttled (a 429, with its Retry-After in seconds) halves the slots."""
        with self._cond:
            self.in_flight -= 1
            if throttled:
                self.allowed = max(1, self.allowed // 2)
                self.successes = 0
                self.not_before = max(self.not_before, self.clock() + (retry_after or 0.0))
            else:
                self.successes += 1
                if self.allowed < self.limit and self.successes >= self.allowed * 4:
                    self.allowed += 1
                    self.successes = 0
            self._cond.notify_all()
