# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The gate the worker threads of a many-user run pass through: how many requests may be in flight at once."""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Callable

# How the window moves (docs/docsite/rst/guide_bulk.rst, "How many requests at once"; measured in tests/bench):
# - slow start: half a request more for each answer that found the gate full, so the window grows by half every
#   round trip, until the first sign of a limit (a 429, a throttle header at USAGE_HOLD, answers slowing down);
#   doubling overshot too far when 4 runs shared one limit (4 x 100 users: 5.7% of writes throttled, all in the
#   second the bucket emptied; 2.4% at half);
# - then AI_STEP more per round trip (each answer adds AI_STEP/window), as TCP does after its slow start.
# After slow start, the window grows by 0.3 of a request per round trip: runs that share one limit without talking
# (AWX slices on different nodes) each probe, so their sum grows by several per round trip (tests/bench, gate part:
# 4 x 400 users, 2.4% of writes throttled at 0.5, 1.6% at 0.3).
AI_STEP = 0.3
SLOW_START_STEP = 0.5  # in slow start, each answer that found the gate full adds this much
SLOW_START_EXIT = 0.5  # the first sign of a limit, in slow start, halves the window
THROTTLE_DECREASE = 0.7  # a 429 takes 30% off, once per round trip (later 429s of requests sent before are old news)
USAGE_HOLD = 0.8  # x-ms-throttle-limit-percentage at or above this: no growth
USAGE_CUT = 0.95  # ... at or above this: USAGE_DECREASE, once per round trip
USAGE_DECREASE = 0.9
LATENCY_RISE = 1.5  # "slowing down": a round's mean latency of one method over 1.5x its baseline
LATENCY_DECREASE = 0.9  # answers slowing down (the service queues) take a tenth off
BASELINE_ROUNDS = 8  # a method's latency baseline is its lowest round mean of the last 8 rounds, so it ages
MIN_ROUND = 4  # answers that make a round, at least; otherwise as many as the window allows
# More 429s than this share of the window in one round: everyone waits out the Retry-After, not only the throttled.
HOLD_SHARE = 0.05
WRITES = frozenset(("PUT", "PATCH", "DELETE"))


def throttle_usage(headers) -> float | None:
    """The answer's x-ms-throttle-limit-percentage: the app's use of its limit as a fraction (0.8 to 1.8 in Graph's
    docs, sent only above 0.8). A value over 2 is read as per cent (85 is 0.85); anything unreadable is None."""
    value = headers.get("x-ms-throttle-limit-percentage") if headers else None
    if value is None:
        return None
    try:
        usage = float(str(value).strip().rstrip("%"))
    except ValueError:
        return None
    if not math.isfinite(usage) or usage < 0 or usage > 1000:
        return None
    return usage / 100.0 if usage > 2 else usage


class Slot:
    """One request's place in the gate, held from its first attempt to its last: a request that waits out a
    Retry-After or a backoff keeps it, so a throttled request does not hand its place to one more request that the
    service would refuse too."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = -1  # the sequence number of its latest exchange


class AdaptiveGate:
    """Limits requests in flight across worker threads, and finds how many the service takes.

    The window starts at `start` and grows, up to `ceiling`, only on answers that found it full (the gate, not the
    work, was the limit). Growth is counted on writes once the run has written (reads mixed in neither count nor
    stop it); before the first write, on every answer. Every sign of a limit is heard: a 429 (direct, or an item of
    a $batch answer), Graph's x-ms-throttle-limit-percentage header, and a method's answers slowing down against a
    baseline that ages, so that a service lastingly slower but not throttling is probed again. Each decrease is
    taken once per round trip. With ceiling == start the window never grows (only 429s lower it, for a while).
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
        self._waiting = 0
        self._full_at = None  # when the window was last full: an answer to a request in flight since then may grow it
        self._sent = 0  # exchanges started so far: their sequence numbers
        self._cut_at = 0  # signals of exchanges sent before this one were answered by the last decrease already
        self._slow_start = True
        self._written = False
        self._baseline: dict[str, collections.deque] = {}  # method -> recent round means
        self._rounds = 0
        self._latency_cut_round = -BASELINE_ROUNDS
        self._new_round()

    @property
    def allowed(self) -> int:
        return max(1, int(self.window))

    def stats(self) -> dict:
        """concurrency_start, concurrency_peak and concurrency_final, for the module's stats."""
        with self._cond:
            return dict(concurrency_start=self.start, concurrency_peak=self.peak, concurrency_final=self.allowed)

    # ----------------------------------------------------------------- a request's slot

    def acquire(self) -> Slot:
        """Waits for a free slot, then out any pause a throttled answer asked for."""
        with self._cond:
            self._waiting += 1
            while self.in_flight >= self.allowed:
                self._cond.wait()
            self._waiting -= 1
            self.in_flight += 1
            if self.in_flight >= self.allowed:
                self._full_at = self.clock()
            pause = self.not_before - self.clock()
        if pause > 0:
            self.sleep(pause)
        return Slot()

    def release(self, slot: Slot) -> None:
        """The request is over: answered, given up or failed."""
        with self._cond:
            del slot
            self.in_flight -= 1
            self._cond.notify_all()

    def sending(self, slot: Slot) -> float:
        """An exchange of slot's request starts now; returns the time, for answered()."""
        with self._cond:
            slot.sent = self._sent
            self._sent += 1
        return self.clock()

    def answered(self, slot: Slot, method: str, started: float | None, status: int | None, hold: float | None = None,
                 usage: float | None = None) -> None:
        """An exchange's answer: status None when none came (a dropped connection). hold: the Retry-After of a 429 that
        the request itself will wait out (None when it gives up: a wait it does not honour holds no one). usage: the
        answer's x-ms-throttle-limit-percentage."""
        with self._cond:
            now = self.clock()
            if status == 429:
                self._throttled(slot.sent, 1, now, hold)
            elif status is not None:
                self._round_done += 1
                if started is not None and status < 500:
                    total, count = self._round_latency.get(method, (0.0, 0))
                    self._round_latency[method] = (total + max(0.0, now - started), count + 1)
                # The gate, not the work, was the limit while this request was out.
                full = self._waiting > 0 or self.in_flight >= self.allowed or (
                    started is not None and self._full_at is not None and self._full_at >= started)
                write = method in WRITES
                self._written = self._written or (write and status < 400)
                if not self._usage(slot.sent, usage) and full and status < 400 and (write or not self._written):
                    self._grow()
                if self._round_done >= max(MIN_ROUND, self.allowed):
                    self._end_round()
            self._cond.notify_all()

    def throttled_items(self, slot: Slot, count: int, hold: float | None = None, usage: float | None = None) -> None:
        """count items of a $batch answer (sent in slot's latest exchange) were throttled (429)."""
        with self._cond:
            self._usage(slot.sent, usage)
            if count > 0:
                self._throttled(slot.sent, count, self.clock(), hold)
            self._cond.notify_all()

    # ----------------------------------------------------------------- signals

    def _grow(self) -> None:
        if self.window >= self.ceiling or self._round_throttled:
            return
        self._set_window(self.window + (SLOW_START_STEP if self._slow_start else AI_STEP / self.window))

    def _decrease(self, sent: int, factor: float, limit: bool = True) -> None:
        """Once per round trip: answers to exchanges sent before the last decrease do not decrease again. The first
        sign of a limit (limit: a 429 or a throttle header) halves the window at least: slow start grew it by half in
        its last round trip, and the answers that tell of the limit come a round trip late."""
        if sent < self._cut_at:
            return
        if self._slow_start and limit:
            factor = min(factor, SLOW_START_EXIT)
        self._slow_start = False
        self._set_window(self.window * factor)
        self._cut_at = self._sent

    def _throttled(self, sent: int, count: int, now: float, hold: float | None) -> None:
        self._round_throttled += count
        self._decrease(sent, THROTTLE_DECREASE)
        if hold and self._round_throttled > max(1, HOLD_SHARE * self.allowed):
            self.not_before = max(self.not_before, now + hold)

    def _usage(self, sent: int, usage: float | None) -> bool:
        """True when the service says the limit is near (no growth on this answer)."""
        if usage is None or usage < USAGE_HOLD:
            return False
        self._slow_start = False
        if usage >= USAGE_CUT:
            self._decrease(sent, USAGE_DECREASE)
        return True

    # ----------------------------------------------------------------- rounds, for latency

    def _new_round(self) -> None:
        self._round_done = 0
        self._round_throttled = 0
        self._round_latency: dict[str, tuple[float, int]] = {}

    def _end_round(self) -> None:
        self._rounds += 1
        # One step back for answers slowing down, then none until the baseline has aged past that slowdown: a service
        # that is lastingly slower is not pushed down to one request at a time.
        if self._slowed_down() and self._rounds - self._latency_cut_round >= BASELINE_ROUNDS:
            self._latency_cut_round = self._rounds
            self._decrease(self._sent - 1, LATENCY_DECREASE, limit=False)
        self._new_round()

    def _slowed_down(self) -> bool:
        """True when a method's mean latency this round is over LATENCY_RISE x its baseline (3 answers at least):
        the lowest round mean of its last BASELINE_ROUNDS rounds."""
        slowed = False
        for method, (total, count) in self._round_latency.items():
            if count < 3:
                continue
            mean = total / count
            recent = self._baseline.setdefault(method, collections.deque(maxlen=BASELINE_ROUNDS))
            if recent and mean > min(recent) * LATENCY_RISE:
                slowed = True
            recent.append(mean)
        return slowed

    def _set_window(self, value: float) -> None:
        self.window = min(float(self.ceiling), max(1.0, value))
        self.peak = max(self.peak, self.allowed)
