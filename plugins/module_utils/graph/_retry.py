# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""When and how long to wait before retrying a request. Pure logic: clock, sleep and randomness are injected."""

from __future__ import annotations

import email.utils
import math
import random
import time
from typing import Any, Callable

# Throttling and transient gateway errors; Graph asks clients to retry these (graph-photo-api.md section 5).
RETRY_STATUSES = frozenset((429, 503, 504))


def parse_retry_after(value: Any, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: integer or fractional seconds, or an HTTP-date.

    Returns None when the header is missing or unreadable, so the caller falls back to backoff; never raises,
    whatever the service sent.
    """
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds):
            return None
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when is None:
            return None
        # Dates at the edge of the calendar overflow here (year 1 with a positive offset, and so on).
        stamp = when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    if now is None:
        now = time.time()
    return max(0.0, stamp - now)


class RetryPolicy:
    """Capped exponential backoff with full jitter, bounded by attempts and by total time.

    A server's Retry-After wins over the computed backoff (it is what Graph asks for); when it asks for
    more than the remaining time budget the request gives up instead of retrying early.
    deadline (on clock's scale, None for none): the run's end (run_timeout); no retry is due after it.
    """

    def __init__(self, max_attempts: int = 6, base_delay: float = 0.5, max_delay: float = 30.0, max_total: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random, wall_clock: Callable[[], float] = time.time) -> None:
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_total = max_total
        self.sleep = sleep
        self.clock = clock
        self.rand = rand
        self.wall_clock = wall_clock
        self.deadline: float | None = None

    def backoff(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based) when the server gave no Retry-After."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        # Half fixed, half random: spreads parallel clients without ever retrying instantly.
        return ceiling / 2 + self.rand() * ceiling / 2

    def start(self) -> RetryState:
        return RetryState(self)


class RetryState:
    """The retry budget of one logical request."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.attempt = 0
        self.started = policy.clock()
        self.waited = 0.0

    def next_delay(self, retry_after: Any = None) -> float | None:
        """Delay before the next attempt, or None when the budget is spent (give up)."""
        self.attempt += 1
        policy = self.policy
        if self.attempt >= policy.max_attempts:
            return None
        asked = parse_retry_after(retry_after, now=policy.wall_clock())
        delay = asked if asked is not None else policy.backoff(self.attempt)
        if delay > self.remaining():
            return None
        return delay

    def honoured_wait(self, retry_after: float | None) -> float | None:
        """The wait of a Retry-After of retry_after seconds if the next retry would wait it out, else None (the request
        will give up instead). Looks ahead only: nothing is counted."""
        if retry_after is None or self.attempt + 1 >= self.policy.max_attempts or retry_after > self.remaining():
            return None
        return retry_after

    def remaining(self) -> float:
        """Seconds left in the budget: max_total since the start, and never past the run's deadline."""
        policy = self.policy
        now = policy.clock()
        left = policy.max_total - (now - self.started)
        if policy.deadline is not None:
            left = min(left, policy.deadline - now)
        return left

    def wait(self, delay: float) -> None:
        self.waited += delay
        self.policy.sleep(delay)
