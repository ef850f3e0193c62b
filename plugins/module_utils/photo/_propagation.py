# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Waiting until the service serves what was just written (wait / wait_timeout).

A write returns at once, but reads can show the previous photo for a while
(graph-photo-api.md section 3, propagation).
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from ..common._errors import OutlookError

# What probe() returns once the new state shows.
Probed = TypeVar("Probed")


class WaitTimeoutError(OutlookError):
    """The write was accepted but the new state did not show within wait_timeout."""


def wait_until(probe: Callable[[], Probed | None], timeout: float, what: str, sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic, first_delay: float = 0.5, max_delay: float = 5.0) -> Probed:
    """Calls probe() until it returns something other than None; returns that, or raises WaitTimeoutError."""
    deadline = clock() + timeout
    delay = first_delay
    while True:
        value = probe()
        if value is not None:
            return value
        remaining = deadline - clock()
        if remaining <= 0:
            # changed: the write itself happened, only its visibility is late.
            raise WaitTimeoutError("%s: the write was accepted, but the service still served the previous state after "
                                   "%s seconds. Raise wait_timeout, or set wait=false and check later." % (what, timeout),
                                   changed=True)
        sleep(min(delay, remaining))
        delay = min(max_delay, delay * 2)
