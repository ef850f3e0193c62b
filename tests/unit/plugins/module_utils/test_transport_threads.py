# SPDX-License-Identifier: GPL-3.0-or-later
"""One token refresh for all workers after a 401 (issue 8 build item 5)."""
from __future__ import annotations

import threading

from ansible_collections.o365.outlook.plugins.module_utils.graph._retry import RetryPolicy
from ansible_collections.o365.outlook.plugins.module_utils.graph._session import TlsSession
from ansible_collections.o365.outlook.plugins.module_utils.graph._transport import ApiTransport

from ansible_collections.o365.outlook.tests.unit.utils.http_script import AnsweringAdapter, CountingTokens, Reply, graph_error
from ansible_collections.o365.outlook.tests.unit.utils.threads import run_together

API = "https://graph.example/v1.0"
WORKERS = 16


def run_workers(transport, count):
    return run_together(count, lambda index: transport.request("GET", "%s/users/u%d/photo" % (API, index)).status_code)


def test_sixteen_workers_rejected_together_cause_one_refresh():
    # Every worker's first request is held until all 16 carry the first token, so all 16 see its 401.
    rejected_together = threading.Barrier(WORKERS, timeout=20)

    def answer(request):
        if request.headers["Authorization"] == "Bearer token-1":
            rejected_together.wait()
            return graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        return Reply(200, json_body={})

    adapter = AnsweringAdapter(answer)
    session = TlsSession(pool_size=WORKERS)
    session.mount("https://", adapter)
    tokens = CountingTokens()
    transport = ApiTransport(session, tokens, RetryPolicy(sleep=lambda seconds: None), api_base=API)

    assert run_workers(transport, WORKERS) == [200] * WORKERS
    assert tokens.refreshes == 1
    assert tokens.fetches == 2  # the first token, and the one refresh
    rejected = [sent for sent in adapter.sent if sent["headers"]["Authorization"] == "Bearer token-1"]
    retried = [sent for sent in adapter.sent if sent["headers"]["Authorization"] == "Bearer token-2"]
    assert (len(rejected), len(retried)) == (WORKERS, WORKERS)
