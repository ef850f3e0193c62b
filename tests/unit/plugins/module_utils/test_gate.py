# SPDX-License-Identifier: GPL-3.0-or-later
"""graph/_gate.py: slow start, every sign of a limit heard once per round trip, a latency baseline that ages.
The regressions of 1.0.0's gate, through the transport, are in test_gate_regressions.py."""
from __future__ import annotations

import heapq
import random
import threading
import time

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.graph._gate import AdaptiveGate, throttle_usage
from ansible_collections.o365.outlook.tests.unit.utils.fake_clock import FakeClock


def gate_on(clock, start=8, ceiling=64):
    return AdaptiveGate(start, ceiling, sleep=clock.sleep, clock=clock.monotonic)


def full_round(gate, clock, latency=1.0, method="PUT", status=200, usage=None):
    """As many requests as the window allows, all at once, each answered after `latency` seconds."""
    slots = [gate.acquire() for dummy in range(gate.allowed)]
    started = [gate.sending(slot) for slot in slots]
    clock.now += latency
    for slot, start in zip(slots, started):
        gate.answered(slot, method, start, status, usage=usage)
        gate.release(slot)


def test_slow_start_grows_the_window_by_half_every_round_trip_up_to_the_ceiling():
    clock = FakeClock()
    gate = gate_on(clock, 4, 40)
    seen = []
    for dummy in range(8):
        full_round(gate, clock)
        seen.append(gate.allowed)
    # Each answer found the gate full, so each added half a request: 4, 6, 9, 13.5, 20.25, 30.4, 40.
    assert seen[:5] == [6, 9, 13, 20, 30] and seen[-1] == 40
    assert gate.stats() == dict(concurrency_start=4, concurrency_peak=40, concurrency_final=40)


def test_a_fixed_gate_never_grows():
    clock = FakeClock()
    gate = gate_on(clock, 8, 8)
    for dummy in range(10):
        full_round(gate, clock)
    assert gate.allowed == 8 and gate.peak == 8


def test_no_growth_when_the_work_does_not_fill_the_window():
    """Two workers against a window of 8: the gate was never the limit, so more room would not help."""
    clock = FakeClock()
    gate = gate_on(clock)
    for dummy in range(50):
        slots = [gate.acquire(), gate.acquire()]
        started = [gate.sending(slot) for slot in slots]
        clock.now += 1.0
        for slot, start in zip(slots, started):
            gate.answered(slot, "PUT", start, 200)
            gate.release(slot)
    assert gate.allowed == 8


def test_once_writing_reads_neither_count_nor_stop_the_growth():
    """A sync's rounds mix $batch reads with uploads: growth is counted on the uploads, and the reads between them
    do not end it (1.0.0's rounds ended growth when reads lowered a round's rate)."""
    clock = FakeClock()
    gate = gate_on(clock, 8, 64)
    full_round(gate, clock, method="PUT")
    after_writes = gate.allowed
    for dummy in range(5):
        full_round(gate, clock, latency=0.25, method="BATCH")
    assert gate.allowed == after_writes  # reads once writing: no credit
    full_round(gate, clock, method="PUT")
    assert gate.allowed > after_writes  # still in slow start: growing by one per answer


def test_before_the_first_write_reads_grow_the_window():
    clock = FakeClock()
    gate = gate_on(clock, 8, 64)
    full_round(gate, clock, latency=0.25, method="BATCH")
    assert gate.allowed > 8


def test_the_first_429_halves_the_window_and_one_burst_is_one_step():
    clock = FakeClock()
    gate = gate_on(clock, 20, 64)
    slots = [gate.acquire() for dummy in range(20)]
    for slot in slots:
        gate.sending(slot)
    gate.answered(slots[0], "PUT", None, 429, hold=1.5)
    assert gate.allowed == 10 and gate.not_before == 0.0  # one 429: smaller window, nobody else waits
    gate.answered(slots[1], "PUT", None, 429, hold=1.5)
    assert gate.allowed == 10  # sent before the step: the same burst, no second step
    gate.answered(slots[2], "PUT", None, 429, hold=1.5)
    assert gate.not_before == clock.now + 1.5  # more than 5% of the window: everyone waits out the Retry-After
    # The throttled requests keep their slots while they wait: nothing new gets in.
    assert gate.in_flight == 20
    for slot in slots:
        gate.release(slot)
    gate.acquire()
    assert clock.sleeps == [1.5]


def test_a_429_sent_after_a_step_takes_another():
    clock = FakeClock()
    gate = gate_on(clock, 20, 64)
    first = gate.acquire()
    gate.sending(first)
    gate.answered(first, "PUT", None, 429)
    assert gate.allowed == 10
    gate.sending(first)  # its retry, sent after the step
    gate.answered(first, "PUT", None, 429)
    assert gate.allowed == 7  # 10 x 0.7: out of slow start, a 429 takes 30% off


def test_a_429_without_a_honoured_wait_holds_no_one():
    clock = FakeClock()
    gate = gate_on(clock, 4, 64)
    slots = [gate.acquire() for dummy in range(4)]
    for slot in slots:
        gate.sending(slot)
        gate.answered(slot, "PUT", None, 429, hold=None)
    assert gate.not_before == 0.0


def test_throttled_batch_items_count_like_429s():
    clock = FakeClock()
    gate = gate_on(clock, 20, 64)
    slot = gate.acquire()
    gate.sending(slot)
    gate.answered(slot, "BATCH", clock.now, 200)
    gate.throttled_items(slot, 12, hold=1.0)
    assert gate.allowed == 10 and gate.not_before == clock.now + 1.0


@pytest.mark.parametrize("value, usage", [("0.85", 0.85), ("1.8", 1.8), ("85", 0.85), ("97%", 0.97), ("nan", None), ("inf", None),
                                          ("-1", None), ("", None), ("high", None), (None, None), ("1e9", None)])
def test_throttle_usage_is_read_or_left_alone(value, usage):
    headers = {} if value is None else {"x-ms-throttle-limit-percentage": value}
    assert throttle_usage(headers) == usage


def test_throttle_header_at_08_stops_growth_and_at_095_takes_a_tenth_off():
    clock = FakeClock()
    gate = gate_on(clock, 10, 64)
    full_round(gate, clock, usage=0.85)
    assert gate.allowed == 10  # near the limit: no growth, and slow start is over
    full_round(gate, clock, usage=0.96)
    assert gate.allowed == 9  # once for the round trip, not once per answer
    full_round(gate, clock)
    assert 9 <= gate.window < 10  # growing again, by half a request per round trip


def test_answers_slowing_down_take_one_step_then_the_baseline_ages_and_growth_resumes():
    clock = FakeClock()
    # A fixed window of 10 (ceiling 10): only the decreases move it, and growth back to the ceiling.
    steady, slowed = gate_on(clock, 10, 10), gate_on(clock, 10, 10)
    for gate, later in ((steady, 0.2), (slowed, 0.5)):
        full_round(gate, clock, latency=0.2)
        full_round(gate, clock, latency=later)  # 2.5x slower than its baseline, for `slowed`
    assert slowed.allowed == 9 and steady.allowed == 10
    lowered = slowed.window
    for dummy in range(12):
        full_round(slowed, clock, latency=0.5)  # lastingly slower, not throttling: no ratchet down
    assert slowed.window > lowered


def test_latency_is_judged_per_method():
    """Reads at 60 ms, then writes at 1 s: slower answers of another method are not a slowdown."""
    clock = FakeClock()
    gate = gate_on(clock, 8, 64)
    full_round(gate, clock, latency=0.06, method="GET")
    after_reads = gate.allowed
    full_round(gate, clock, latency=1.0, method="PUT")
    assert gate.allowed > after_reads


class _RateLimitedService:
    """One token bucket shared by every run: `limit` writes a second, as many at once; above it a 429 comes back
    at once. Writes take 1 s +/- 20%."""

    def __init__(self, limit, seed):
        self.limit = limit
        self.tokens = float(limit)
        self.last = 0.0
        self.random = random.Random(seed)

    def admit(self, now):
        self.tokens = min(float(self.limit), self.tokens + (now - self.last) * self.limit)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def simulate(runs, users, limit=40, seed=7, start=8, ceiling=64):
    """Discrete-event model of `runs` sync runs (AWX slices) against one limit, each with `users` uploads: a throttled
    upload keeps its slot and is sent again after its Retry-After of 1 s, as the transport does."""
    clock = FakeClock(0.0)
    gates = [AdaptiveGate(start, ceiling, sleep=lambda seconds: None, clock=clock.monotonic) for dummy in range(runs)]
    service = _RateLimitedService(limit, seed)
    # Runs started together begin writing up to a second apart (Ansible's start-up; the bench measured 0.2-1.7 s).
    begins = [0.0] + [service.random.uniform(0.0, 1.0) for dummy in range(runs - 1)]
    left, events, done, sent, throttled, order = [users] * runs, [], [], 0, 0, 0
    while True:
        for number, gate in enumerate(gates):
            while left[number] and begins[number] <= clock.now and gate.in_flight < gate.allowed and gate.not_before <= clock.now:
                left[number] -= 1
                order += 1
                heapq.heappush(events, (clock.now, order, number, gate.acquire(), "send"))
        if not events and all(begin <= clock.now for begin in begins):
            break
        moment = events[0][0] if events else float("inf")
        waiting = [gate.not_before for gate in gates if gate.not_before > clock.now] + [begin for begin in begins if begin > clock.now]
        clock.now = min([moment] + waiting)
        while events and events[0][0] <= clock.now:
            dummy, dummy, number, slot, what = heapq.heappop(events)
            gate = gates[number]
            order += 1
            if what == "send":
                started = gate.sending(slot)
                sent += 1
                ok = service.admit(clock.now)
                answer_at = clock.now + (service.random.uniform(0.8, 1.2) if ok else 0.06)
                heapq.heappush(events, (answer_at, order, number, (slot, started), 200 if ok else 429))
            else:
                slot, started = slot
                gate.answered(slot, "PUT", started, what, hold=1.0 if what == 429 else None)
                if what == 429:
                    throttled += 1
                    heapq.heappush(events, (clock.now + 1.0, order, number, slot, "send"))
                else:
                    done.append(clock.now)
                    gate.release(slot)
    done.sort()
    middle = done[len(done) // 10:len(done) * 9 // 10]
    rate = (len(middle) - 1) / (middle[-1] - middle[0])
    return rate / limit, throttled / float(sent)


@pytest.mark.parametrize("runs, users, least_share, most_throttled", [
    (1, 400, 0.85, 0.03), (1, 2000, 0.9, 0.03), (4, 100, 0.85, 0.03), (4, 400, 0.9, 0.02)])
def test_in_the_model_it_reaches_the_limit_with_few_429s(runs, users, least_share, most_throttled):
    """The issue 18 targets in a model of the service (the bench measures them on the emulator): the median of 5 seeds."""
    figures = sorted(simulate(runs, users, seed=seed) for seed in range(1, 6))
    shares, throttled = sorted(share for share, dummy in figures), sorted(share for dummy, share in figures)
    assert shares[2] >= least_share and throttled[2] <= most_throttled, (shares, throttled)


def test_never_more_in_flight_than_allowed():
    gate = AdaptiveGate(3)
    lock = threading.Lock()
    peak = [0, 0]

    def worker():
        for dummy in range(20):
            slot = gate.acquire()
            started = gate.sending(slot)
            with lock:
                peak[0] += 1
                peak[1] = max(peak[1], peak[0])
            time.sleep(0.001)
            with lock:
                peak[0] -= 1
            gate.answered(slot, "GET", started, 200)
            gate.release(slot)

    threads = [threading.Thread(target=worker) for dummy in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[1] == 3
