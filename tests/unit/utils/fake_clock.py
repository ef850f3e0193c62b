# SPDX-License-Identifier: GPL-3.0-or-later
"""A clock that only moves when the code under test sleeps: for retry, backoff, wait and gate tests."""

from __future__ import annotations


class FakeClock:
    """monotonic() and time() read the same fake now; sleep() records the delay and advances it."""

    def __init__(self, start=1_000_000.0):
        self.now = start
        self.sleeps = []

    def monotonic(self):
        return self.now

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
