# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 16: run_timeout. At the deadline nothing new starts, a write in flight finishes and counts as changed, the
users not started are not_attempted with "run_timeout reached", and the run ends stopped."""

from __future__ import annotations

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import ConfigurationError, UsersFailed
from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import BulkEngine, Job, summarize
from ansible_collections.o365.outlook.plugins.module_utils.many_users._info_report import PhotoReport
from ansible_collections.o365.outlook.plugins.module_utils.many_users._run_deadline import RunDeadline, RunTimedOut
from ansible_collections.o365.outlook.plugins.module_utils.module._many_users_options import ManyUsersRun, checked_run_timeout
from ansible_collections.o365.outlook.plugins.module_utils.photo._reconcile import PhotoPolicy

from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk import FakeTenant, jpeg
from ansible_collections.o365.outlook.tests.unit.utils.fake_clock import FakeClock


class SlowTenant(FakeTenant):
    """Each write takes `put_seconds` of the fake clock: the deadline passes during a write."""

    def __init__(self, photos, clock, put_seconds):
        super().__init__(photos)
        self.clock = clock
        self.put_seconds = put_seconds

    def put_content(self, user, data, content_type):
        self.clock.now += self.put_seconds
        super().put_content(user, data, content_type)


@pytest.fixture
def red(tmp_path):
    path = tmp_path / "red.jpg"
    path.write_bytes(jpeg((200, 0, 0)))
    return str(path)


def test_the_deadline_stops_new_work_and_keeps_the_write_in_flight(red):
    clock = FakeClock()
    tenant = SlowTenant({}, clock, put_seconds=10)
    deadline = RunDeadline(25, clock=clock.monotonic)
    jobs = [Job("u%02d@x" % n, src=red) for n in range(50)]
    engine = BulkEngine(tenant, PhotoPolicy(read_after_write=False), parallelism=1, max_parallelism=1, deadline=deadline)
    results = engine.run(jobs)
    actions = [entry["action"] for entry in results]
    # Writes at 10, 20 and 30 s: the third started before the deadline (25 s), finished after it, and counts.
    assert actions[:3] == ["uploaded"] * 3 and set(actions[3:]) == {"not_attempted"}
    assert all("run_timeout reached (25 s)" in entry["message"] for entry in results[3:])
    assert [entry["changed"] for entry in results[:3]] == [True] * 3
    assert summarize(results) == dict(total=50, uploaded=3, removed=0, unchanged=0, skipped=0, failed=0, not_attempted=47)
    assert len(tenant.writes()) == 3 and engine.written == 3
    assert isinstance(engine.stop.error, RunTimedOut) and engine.stop.error.stops_run
    # The chunk read ahead at the start was read; the one due after the deadline was not.
    read = [call[1][0] for call in tenant.calls if call[0] == "metadata_many"]
    assert read == ["u00@x", "u20@x"]


def test_a_deadline_already_passed_sends_nothing(red):
    clock = FakeClock()
    tenant = FakeTenant({})
    deadline = RunDeadline(5, clock=clock.monotonic)
    clock.now += 6
    results = BulkEngine(tenant, PhotoPolicy(read_after_write=False), deadline=deadline).run([Job("a@x", src=red)])
    assert [entry["action"] for entry in results] == ["not_attempted"] and tenant.calls == []


def test_the_outcome_fails_like_a_stopped_run():
    run = ManyUsersRun(1, True, "all", "failed")
    client = type("Client", (), {"transport": type("T", (), {"stats": {}})()})()
    with pytest.raises(UsersFailed) as caught:
        run.outcome(client, "results", [], dict(total=2), [], ["a@x", "b@x"], RunDeadline(60).error(), written=1)
    assert "run_timeout reached (60 s)" in caught.value.msg
    assert caught.value.details["not_attempted_users"] == ["a@x", "b@x"] and caught.value.details["changed"] is True


def test_the_info_report_stops_reading_at_the_deadline():
    clock = FakeClock()
    tenant = FakeTenant({"u00@x": jpeg((1, 2, 3))})
    deadline = RunDeadline(1, clock=clock.monotonic)
    original = tenant.get_metadata_many

    def slow_metadata(users):
        clock.now += 2  # the first chunk's read ends after the deadline
        return original(users)

    tenant.get_metadata_many = slow_metadata
    report = PhotoReport(tenant, parallelism=1, deadline=deadline)
    entries = report.run([("u%02d@x" % n, None) for n in range(45)])
    assert [entry["has_photo"] for entry in entries[:20]] == [True] + [False] * 19
    assert all("run_timeout reached" in entry["error"] for entry in entries[20:])
    assert report.not_attempted == {"u%02d@x" % n for n in range(20, 45)}
    assert isinstance(report.stop_error, RunTimedOut)


def test_the_retry_policy_of_a_run_ends_at_its_deadline():
    run = ManyUsersRun(1, True, "all", "failed", run_timeout=30)
    assert run.retry_policy.deadline == run.deadline.at


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), 604801])
def test_absurd_run_timeouts_are_refused(value):
    with pytest.raises(ConfigurationError, match="run_timeout must be"):
        checked_run_timeout(value)


def test_no_run_timeout_means_no_deadline():
    assert checked_run_timeout(None) is None and not RunDeadline(None).passed
