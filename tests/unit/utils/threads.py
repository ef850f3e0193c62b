# SPDX-License-Identifier: GPL-3.0-or-later
"""Running the same work in many threads released at one moment, as the many-user modules' workers start."""

from __future__ import annotations

import threading


def run_together(count, work, timeout=30):
    """Calls work(index) in count threads released together; returns each result or the exception it raised."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        barrier.wait(timeout)
        try:
            results[index] = work(index)
        except Exception as exc:  # pylint: disable=broad-except
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
