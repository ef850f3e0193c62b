# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The gate the worker threads of a many-user run pass through: how many requests may be in flight at once."""

from __future__ import annotations

import threading
import time
from typing import Callable

# How the window moves (docs/docsite/rst/guide_bulk.rst, "How many requests at once"; measured in tests/bench):
GROWTH = 1.5  # at first, each full round grows the window by half, while the throughput grows with it
# After the first sign of a limit (a 429, slower answers, or a round that gained nothing), one more per full round.
THROTTLE_DECREASE = 0.8  # a 429 takes a fifth off, once per round, so one burst of 429s is one step back
LATENCY_DECREASE = 0.9  # answers slowing down (the service queues) take a tenth off
LATENCY_RISE = 1.5  # "slowing down": a round's mean latency of one method over 1.5x the fastest round's
RATE_GAIN = 1.05  # growing by half pays while a round's throughput beats the last one's by 5%
MIN_ROUND = 4  # completions that make a round, at least; otherwise as many as the window allows
# More 429s than this share of the window in one round: everyone waits out the Retry-After, not only the throttled.
HOLD_SHARE = 0.05


class AdaptiveGate:
    """Limits requests in flight across worker threads, and finds how many the service takes.

    The window starts at `start` and moves once per round (about one window's worth of completed requests):
    - it grows, up to `ceiling`, after a round in which the window was full (the gate, not the work, was the limit),
      no request was throttled and no method slowed down: by half while each such round's throughput beats the last
      one's by 5%, then by one per round (additive increase, as TCP does after its slow start);
    - it shrinks on the first 429 of a round (and everyone waits out the Retry-After when many come at once), and
      when a method's answers slow down, so a service that queues instead of throttling is not pushed further.
    With ceiling == start the window never grows: the fixed concurrency of before (only 429s lower it, for a while).
    """

    def __init__(self, start: int, ceiling: int | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.start = max(1, int(start))
        self.ceiling = max(self.start, int(ceiling or self.start))
        self.window = float(self.start)
        self.in_flight = 0
        self.not_before = 0.0
        self.peak = self.start
        self.sleep = sleep
        self.clock = clock
        self._cond = threading.Condition()
        self._fastest: dict[str, float] = {}  # method -> the lowest round-mean latency seen
        self._last_rate: float | None = None
        self._fast = True  # growing by half, until the first sign of a limit
        self._new_round(clock())

    @property
    def allowed(self) -> int:
        return max(1, int(self.window))

    def stats(self) -> dict:
        """concurrency_start, concurrency_peak and concurrency_final, for the module's stats."""
        with self._cond:
            return dict(concurrency_start=self.start, concurrency_peak=self.peak, concurrency_final=self.allowed)

    def acquire(self) -> float:
        """Waits for a free slot, then out any pause a throttled answer asked for; returns the start time."""
        with self._cond:
            while self.in_flight >= self.allowed:
                self._cond.wait()
            self.in_flight += 1
            if self.in_flight >= self.allowed:
                self._round_full = True
            pause = self.not_before - self.clock()
        if pause > 0:
            self.sleep(pause)
        return self.clock()

    def release(self, throttled: bool = False, retry_after: float | None = None, started: float | None = None,
                method: str = "") -> None:
        """Gives the slot back. throttled: the answer was a 429 (retry_after: its Retry-After in seconds). started
        (what acquire returned) and method let the gate watch each method's latency."""
        with self._cond:
            self.in_flight -= 1
            now = self.clock()
            if throttled:
                self._on_throttled(now, retry_after)
            else:
                self._round_done += 1
                if started is not None:
                    total, count = self._round_latency.get(method, (0.0, 0))
                    self._round_latency[method] = (total + max(0.0, now - started), count + 1)
                if self._round_done >= max(MIN_ROUND, self.allowed):
                    self._end_round(now)
            self._cond.notify_all()

    # ----------------------------------------------------------------- one round

    def _new_round(self, now: float) -> None:
        self._round_started = now
        self._round_done = 0
        self._round_throttled = 0
        self._round_full = self.in_flight >= self.allowed
        self._round_latency: dict[str, tuple[float, int]] = {}

    def _on_throttled(self, now: float, retry_after: float | None) -> None:
        self._round_throttled += 1
        if self._round_throttled > max(1, HOLD_SHARE * self.allowed):
            self.not_before = max(self.not_before, now + (retry_after or 0.0))
        if self._round_throttled == 1:
            self._set_window(self.window * THROTTLE_DECREASE)
            self._fast = False
            self._new_round(now)
            self._round_throttled = 1  # later 429s of this burst count against the same step

    def _end_round(self, now: float) -> None:
        elapsed = now - self._round_started
        rate = self._round_done / elapsed if elapsed > 0 else None
        slowed = self._slowed_down()
        if slowed:
            self._set_window(self.window * LATENCY_DECREASE)
            self._fast = False
        elif self._round_full and self._round_throttled == 0 and rate is not None:
            if self._fast and self._last_rate is not None and rate <= self._last_rate * RATE_GAIN:
                self._fast = False  # growing by half gained nothing: probe one at a time from here
            elif self._fast:
                self._set_window(max(self.window * GROWTH, self.window + 1))
            else:
                self._set_window(self.window + 1)
            self._last_rate = rate
        self._new_round(now)

    def _slowed_down(self) -> bool:
        """True when a method's mean latency this round is over LATENCY_RISE x its fastest round (3 answers at least)."""
        slowed = False
        for method, (total, count) in self._round_latency.items():
            if count < 3:
                continue
            mean = total / count
            fastest = self._fastest.get(method)
            if fastest is None or mean < fastest:
                self._fastest[method] = mean
            elif mean > fastest * LATENCY_RISE:
                slowed = True
        return slowed

    def _set_window(self, value: float) -> None:
        self.window = min(float(self.ceiling), max(1.0, value))
        self.peak = max(self.peak, self.allowed)
