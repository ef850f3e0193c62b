# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""What the many-user modules share: parallelism, fail_on_error, results, the gate and pool they size, and the outcome
of the run (the result fields every such module returns, and THE failure message).

The modules document these options themselves: their descriptions say what parallelism means for each.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..common._errors import ConfigurationError, OutlookError, UsersFailed
from ..graph._gate import AdaptiveGate
from ..graph._retry import RetryPolicy
from ..many_users._run_deadline import RunDeadline
from ._options import ArgSpec, OptionGroup, TaskContext

MAX_PARALLELISM = 64
DEFAULT_PARALLELISM = 8
# The gate grows from parallelism up to this (outlook_user_photo_sync's max_parallelism; the reasons are in its docs).
DEFAULT_MAX_PARALLELISM = 64
MAX_MAX_PARALLELISM = 128
RESULTS_CHOICES = ("all", "changed", "failed")
# Users named in the failure message; the others are counted ("and N more"), all are in failed_users.
USERS_IN_MESSAGE = 10
# A week: longer than any nightly window; more is a typo (milliseconds?).
MAX_RUN_TIMEOUT = 7 * 24 * 3600


class ManyUsersRun:
    """The validated many-user options of one run, and how it ends."""

    def __init__(self, parallelism: int, fail_on_error: bool, results: Optional[str], failure_verb: str,
                 max_parallelism: Optional[int] = None, run_timeout: Optional[float] = None) -> None:
        self.parallelism = parallelism
        self.max_parallelism = max_parallelism or parallelism
        self.fail_on_error = fail_on_error
        self.results = results
        self.failure_verb = failure_verb
        self.gate = AdaptiveGate(parallelism, self.max_parallelism)
        # Counted from the checks, before the first request: the task's own start, near enough.
        self.deadline = RunDeadline(run_timeout)
        self.retry_policy = RetryPolicy()
        self.retry_policy.deadline = self.deadline.at

    def outcome(self, client: Any, entries_key: str, entries: List[Dict[str, Any]], summary: Mapping[str, Any],
                failed_users: Sequence[str], not_attempted_users: Sequence[str], stop_error: Optional[OutlookError],
                written: int = 0, extra_stats: Optional[Mapping[str, Any]] = None, **fields: Any) -> Dict[str, Any]:
        """The module's result (entries under entries_key, summary, failed and not attempted users, module fields, stats),
        or UsersFailed carrying all of it.

        A stopped run always fails (it did not finish), and says what was written and who was not attempted;
        per-user failures fail the task only with fail_on_error.
        """
        stats = dict(client.transport.stats, **self.gate.stats(), **(extra_stats or {}))
        result = dict(changed=written > 0, **{entries_key: entries}, summary=summary, failed_users=failed_users,
                      not_attempted_users=not_attempted_users, **fields, stats=stats)
        if stop_error is not None:
            groups = ""
            if fields.get("not_attempted_groups") or fields.get("failed_groups"):
                groups = " (and %d groups not attempted, see not_attempted_groups, %d failed)" % (
                    len(fields.get("not_attempted_groups") or ()), len(fields.get("failed_groups") or ()))
            raise UsersFailed("The run stopped: %s. %d users were not attempted (see not_attempted_users), %d failed%s; "
                              "%d photos were changed before it stopped. Fix the cause and run again: done users are "
                              "not written twice." % (stop_error.msg, len(not_attempted_users), len(failed_users), groups,
                                                      written), **result)
        # A sync's groups fail the task as its users do (their names are in failed_groups).
        failed = list(failed_users) + ["group %s" % group for group in fields.get("failed_groups") or ()]
        if failed and self.fail_on_error:
            shown = ", ".join(str(user) for user in failed[:USERS_IN_MESSAGE])
            more = "" if len(failed) <= USERS_IN_MESSAGE else " and %d more" % (len(failed) - USERS_IN_MESSAGE)
            noun = "users" if len(failed) == len(failed_users) else "entries"
            raise UsersFailed("%d of %d %s %s: %s%s. See each entry's message; the other %s were done."
                              % (len(failed), summary["total"], noun, self.failure_verb, shown, more, noun), **result)
        return result


class ManyUsersOptions(OptionGroup):
    """parallelism, fail_on_error and run_timeout, and results and max_parallelism where the module has them; validated
    into a ManyUsersRun.

    failure_verb: what happened to the failed users, in the failure message ("3 of 9 users failed: ...").
    adaptive: the module has max_parallelism, and the gate may grow from parallelism up to it.
    """

    name = "many_users"

    def __init__(self, results: bool = False, failure_verb: str = "failed", adaptive: bool = False) -> None:
        self.results = results
        self.failure_verb = failure_verb
        self.adaptive = adaptive

    def options(self) -> ArgSpec:
        options = dict(
            parallelism=dict(type="int", default=DEFAULT_PARALLELISM),
            fail_on_error=dict(type="bool", default=True),
            run_timeout=dict(type="float"),
        )
        if self.results:
            options.update(results=dict(type="str", choices=list(RESULTS_CHOICES), default="all"))
        if self.adaptive:
            options.update(max_parallelism=dict(type="int", default=DEFAULT_MAX_PARALLELISM))
        return options

    def validate(self, task: TaskContext) -> ManyUsersRun:
        value = task.params["parallelism"]
        if not 1 <= value <= MAX_PARALLELISM:
            raise ConfigurationError("parallelism must be between 1 and %d, got %d." % (MAX_PARALLELISM, value))
        ceiling = None
        if self.adaptive:
            ceiling = task.params["max_parallelism"]
            if not value <= ceiling <= MAX_MAX_PARALLELISM:
                raise ConfigurationError("max_parallelism must be between parallelism (%d) and %d, got %d: it is the most "
                                         "requests the run may grow to." % (value, MAX_MAX_PARALLELISM, ceiling))
        return ManyUsersRun(value, task.params["fail_on_error"], task.params.get("results"), self.failure_verb,
                            max_parallelism=ceiling, run_timeout=checked_run_timeout(task.params.get("run_timeout")))

    def connect_options(self, value: ManyUsersRun) -> Dict[str, Any]:
        # One keep-alive connection per request the gate may let through, one gate for every worker, and no retry
        # that would start after run_timeout.
        return dict(pool_size=value.max_parallelism, gate=value.gate, retry_policy=value.retry_policy)


def checked_run_timeout(value: Optional[float]) -> Optional[float]:
    """run_timeout in seconds: None, or finite, > 0 and at most MAX_RUN_TIMEOUT."""
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0 or value > MAX_RUN_TIMEOUT:
        raise ConfigurationError("run_timeout must be a number of seconds greater than 0 and at most %d (a week), got %s: "
                                 "set it to the most seconds the run may take, for example 3600." % (MAX_RUN_TIMEOUT, value))
    return value
