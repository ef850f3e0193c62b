# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy, parse_retry_after
from ansible_collections.o365.outlook.tests.unit.utils.fake_clock import FakeClock


def make_policy(clock, rand=0.5, **kwargs):
    return RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, wall_clock=clock.time, rand=lambda: rand, **kwargs)


@pytest.mark.parametrize("header, expected", [
    ("2", 2.0),
    ("2.128", 2.128),
    ("0", 0.0),
    ("-3", 0.0),
    ("  7 ", 7.0),
    ("", None),
    (None, None),
    ("soon", None),
    ("nan", None),
    ("inf", None),
])
def test_parse_retry_after_seconds(header, expected):
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date_is_relative_to_now():
    # 2015-10-21 07:28:00 UTC
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0


def test_backoff_grows_exponentially_and_is_capped():
    clock = FakeClock()
    policy = make_policy(clock, rand=1.0, base_delay=0.5, max_delay=4.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_jitter_stays_between_half_and_full_ceiling():
    clock = FakeClock()
    low = make_policy(clock, rand=0.0, base_delay=1.0)
    high = make_policy(clock, rand=0.999, base_delay=1.0)
    assert low.backoff(3) == 2.0
    assert 3.99 < high.backoff(3) < 4.0


def test_retry_after_wins_over_backoff():
    clock = FakeClock()
    state = make_policy(clock, base_delay=10.0).start()
    assert state.next_delay("0.25") == 0.25


def test_gives_up_after_max_attempts():
    clock = FakeClock()
    state = make_policy(clock, max_attempts=3, base_delay=0.1).start()
    delays = []
    while True:
        delay = state.next_delay()
        if delay is None:
            break
        delays.append(delay)
        state.wait(delay)
    assert len(delays) == 2  # 3 attempts = first try + 2 retries
    assert clock.sleeps == delays


def test_gives_up_when_retry_after_exceeds_time_budget():
    clock = FakeClock()
    state = make_policy(clock, max_total=10.0).start()
    assert state.next_delay("4") == 4.0
    state.wait(4.0)
    assert state.next_delay("7") is None  # 4 spent, 6 left


def test_total_time_bound_counts_time_spent_in_requests():
    clock = FakeClock()
    state = make_policy(clock, max_total=5.0, base_delay=1.0, rand=1.0).start()
    clock.now += 4.5  # a slow request
    assert state.next_delay() is None


@settings(max_examples=500, deadline=None)
@given(value=st.text(max_size=80) | st.from_regex(
    r"\A(Mon, )?[0-9]{1,2} (Jan|Dec) [0-9]{1,5} [0-9]{1,2}:[0-9]{2}(:[0-9]{2})? ([+-][0-9]{4}|GMT)\Z"))
def test_parse_retry_after_never_raises_and_is_never_negative(value):
    # issue 8 build item 5: whatever a service or proxy sends as Retry-After, the retry logic gets a number or None.
    delay = parse_retry_after(value, now=0.0)
    assert delay is None or (delay >= 0.0 and math.isfinite(delay))
