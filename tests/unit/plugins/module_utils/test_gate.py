# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import threading
import time

from ansible_collections.o365.outlook.plugins.module_utils.graph._gate import AdaptiveGate
from ansible_collections.o365.outlook.tests.unit.utils.fake_clock import FakeClock


def test_throttling_halves_concurrency_and_pauses_everyone():
    clock = FakeClock()
    gate = AdaptiveGate(8, sleep=clock.sleep, clock=clock.monotonic)
    gate.acquire()
    gate.release(throttled=True, retry_after=2.0)
    assert gate.allowed == 4
    gate.acquire()  # a new request waits out the Retry-After
    assert clock.sleeps == [2.0]
    gate.release()


def test_successes_give_slots_back_up_to_the_limit():
    clock = FakeClock()
    gate = AdaptiveGate(4, sleep=clock.sleep, clock=clock.monotonic)
    gate.acquire()
    gate.release(throttled=True, retry_after=0)
    gate.acquire()
    gate.release(throttled=True, retry_after=0)
    assert gate.allowed == 1
    for dummy in range(40):
        gate.acquire()
        gate.release()
    assert gate.allowed == 4


def test_never_more_in_flight_than_allowed():
    gate = AdaptiveGate(3)
    lock = threading.Lock()
    peak = [0, 0]

    def worker():
        for dummy in range(20):
            gate.acquire()
            with lock:
                peak[0] += 1
                peak[1] = max(peak[1], peak[0])
            time.sleep(0.001)
            with lock:
                peak[0] -= 1
            gate.release()

    threads = [threading.Thread(target=worker) for dummy in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[1] == 3
