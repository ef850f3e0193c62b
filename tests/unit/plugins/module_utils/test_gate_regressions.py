# SPDX-License-Identifier: GPL-3.0-or-later
"""The gate's two defects of 1.0.0 (issue 18), through the transport and $batch code that feed it, so that the tests
run on 1.0.0's gate too (and fail there): 429s inside $batch answers never reached it, and a lasting slowdown
ratcheted the window down to 1 for good."""
from __future__ import annotations

from ansible_collections.o365.outlook.plugins.module_utils.graph._batch import BatchItem, run_batch
from ansible_collections.o365.outlook.plugins.module_utils.graph._gate import AdaptiveGate
from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ApiTransport
from ansible_collections.o365.outlook.tests.unit.utils.fake_clock import FakeClock
from ansible_collections.o365.outlook.tests.unit.utils.http_script import FakeTokens, Reply, ScriptedAdapter
from ansible_collections.o365.outlook.plugins.module_utils.graph._session import TlsSession

BASE = "https://graph.example/v1.0"
META = {"@odata.mediaContentType": "image/jpeg", "@odata.mediaEtag": "\"AB12\"", "id": "96x96", "width": 96, "height": 96}
THROTTLED = {"status": 429, "headers": {"Retry-After": "1"}, "body": {"error": {"code": "TooManyRequests", "message": "later"}}}


class SlowAdapter(ScriptedAdapter):
    """Each answer takes `latency` seconds of the fake clock."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.latency = 0.0

    def send(self, request, **kwargs):
        self.clock.now += self.latency
        return super().send(request, **kwargs)


def transport_on(clock, gate, attempts=4):
    adapter = SlowAdapter(clock)
    session = TlsSession(verify="/ca.pem", timeout=7.0)
    session.mount("https://", adapter)
    policy = RetryPolicy(max_attempts=attempts, sleep=clock.sleep, clock=clock.monotonic, wall_clock=clock.time, max_total=120.0)
    return adapter, ApiTransport(session, FakeTokens(), policy, gate=gate)


def test_regression_throttled_batch_items_reach_the_gate():
    """1.0.0: a $batch answer of 20 throttled items was one successful request to the gate, which went on growing."""
    clock = FakeClock()
    gate = AdaptiveGate(8, 64, sleep=clock.sleep, clock=clock.monotonic)
    adapter, transport = transport_on(clock, gate)
    adapter.expect("POST", "/$batch", Reply(200, json_body={"responses": [dict(THROTTLED, id=str(n)) for n in range(20)]}))
    adapter.expect("POST", "/$batch", Reply(200, json_body={"responses": [{"id": str(n), "status": 200, "body": META} for n in range(20)]}))
    items = run_batch(transport, BASE, [BatchItem(n, "GET", "/users/u%d/photo" % n) for n in range(20)])
    assert [item.status for item in items] == [200] * 20
    assert gate.allowed < 8
    # 20 of a window of 8 throttled at once, with a Retry-After the retry waited out: the others wait it out too.
    assert gate.not_before >= clock.monotonic() - 1.0 and gate.not_before > 0


def test_regression_a_lasting_slowdown_does_not_ratchet_the_window_to_one():
    """1.0.0 kept the fastest round's latency for ever: PUTs going from 20 ms to 60 ms took the window to 1, and
    800 uploads took 28.2 s instead of 2.9 s. The baseline now ages: one step back, then none."""
    clock = FakeClock()
    gate = AdaptiveGate(8, 64, sleep=clock.sleep, clock=clock.monotonic)
    adapter, transport = transport_on(clock, gate)
    for latency, count in ((0.02, 40), (0.06, 400)):
        adapter.latency = latency
        for number in range(count):
            adapter.expect("PUT", "/photo/$value", Reply(200, json_body={}))
            transport.request("PUT", BASE + "/users/u%d/photo/$value" % number, data=b"x")
    assert gate.allowed >= 6


def test_a_429_with_a_wait_beyond_the_budget_in_a_batch_holds_no_one():
    clock = FakeClock()
    gate = AdaptiveGate(8, 64, sleep=clock.sleep, clock=clock.monotonic)
    adapter, transport = transport_on(clock, gate, attempts=2)
    day = dict(THROTTLED, headers={"Retry-After": "86400"})
    adapter.expect("POST", "/$batch", Reply(200, json_body={"responses": [dict(day, id=str(n)) for n in range(20)]}))
    items = run_batch(transport, BASE, [BatchItem(n, "GET", "/users/u%d/photo" % n) for n in range(20)])
    assert [item.status for item in items] == [429] * 20
    assert gate.allowed < 8 and gate.not_before <= clock.monotonic()
    assert clock.sleeps == []


def test_throttle_headers_of_batch_items_are_heard():
    clock = FakeClock()
    gate = AdaptiveGate(8, 64, sleep=clock.sleep, clock=clock.monotonic)
    adapter, transport = transport_on(clock, gate)
    near = {"id": "0", "status": 200, "body": META, "headers": {"x-ms-throttle-limit-percentage": "0.97"}}
    adapter.expect("POST", "/$batch", Reply(200, json_body={"responses": [near]}))
    run_batch(transport, BASE, [BatchItem(0, "GET", "/users/a/photo")])
    assert gate.window < 8
