# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""run_timeout: when a many-user run stops starting new work.

At the deadline nothing new starts (no chunk is read, no user's work begins, no request is retried); work under way
finishes, so a write in flight still counts as changed. The users not started are reported as not attempted.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from ..common._errors import OutlookError


class RunTimedOut(OutlookError):
    """run_timeout passed: the run stops like a run that met an error no user can escape."""

    stops_run = True


class RunDeadline:
    """The end of a run on clock's scale, from run_timeout seconds (None: no deadline)."""

    def __init__(self, seconds: Optional[float], clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.at = None if seconds is None else clock() + seconds

    @property
    def passed(self) -> bool:
        return self.at is not None and self.clock() >= self.at

    def error(self) -> RunTimedOut:
        return RunTimedOut("run_timeout reached (%g s): the users not started by then were not attempted" % self.seconds)
