# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""request_timeout: a deadline for one whole HTTP exchange (connect, headers and the whole body).

requests' own timeout is an idle timeout: it restarts with every byte, so a server that trickles one byte at a time
holds a request for ever. Here one watcher thread cuts the socket of any exchange still running at its deadline; the
blocked read then fails at once, and the transport reports the exchange as timed out.

The connection classes below tell the watcher which socket the current thread's exchange uses; they are installed in
a requests adapter by watched_adapter() and do nothing for a thread with no armed deadline.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from typing import Any, Callable, Iterator, Optional

try:
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
except ImportError:
    HAS_URLLIB3 = False
else:
    HAS_URLLIB3 = True

# After cutting a socket, the watcher cuts again this often while the exchange has not ended (it may have been
# connecting, with no socket yet, or have opened a new one).
RECUT_INTERVAL = 0.25

_current = threading.local()


# Attaching a connection to an exchange and cutting it are one step each, under this lock: a connection handed back to
# the pool and taken by another thread's exchange is never cut for the first one's deadline.
_OWNERS = threading.Lock()


class Exchange:
    """One armed deadline: the connection in use, and whether the deadline passed."""

    __slots__ = ("deadline", "seconds", "connection", "expired", "done")

    def __init__(self, deadline: float, seconds: float) -> None:
        self.deadline = deadline
        self.seconds = seconds
        self.connection = None
        self.expired = False
        self.done = False

    def attach(self, connection: Any) -> None:
        with _OWNERS:
            connection.o365_exchange = self
            self.connection = connection
            expired = self.expired
        if expired:
            self.cut()

    def finish(self) -> None:
        with _OWNERS:
            self.done = True
            self.connection = None

    def cut(self) -> None:
        """Shuts the socket down (both ways): a read blocked on it returns at once. The socket stays open for its owner
        to close, so no other thread can be handed the same file descriptor meanwhile."""
        with _OWNERS:
            if self.done:
                return
            self.expired = True
            connection = self.connection
            if connection is None or getattr(connection, "o365_exchange", None) is not self:
                return
            sock = getattr(connection, "sock", None)
            if sock is None:
                return
            try:
                # socket.socket's own shutdown, not SSLSocket's, which would also drop the TLS state under the reader.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except (OSError, TypeError, ValueError):
                pass  # already closed or never connected: nothing left to cut


class DeadlineWatcher:
    """Cuts exchanges that outlive their deadline; one daemon thread, started with the first armed exchange."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._cond = threading.Condition()
        self._heap: list = []
        self._order = itertools.count()
        self._thread: Optional[threading.Thread] = None

    @contextlib.contextmanager
    def armed(self, seconds: Optional[float]) -> Iterator[Optional[Exchange]]:
        """Within the block, the current thread's HTTP exchange is cut `seconds` from now. Nested blocks share the
        outer deadline; seconds None arms nothing."""
        outer = getattr(_current, "exchange", None)
        if seconds is None or outer is not None:
            yield outer
            return
        exchange = Exchange(self.clock() + seconds, seconds)
        with self._cond:
            heapq.heappush(self._heap, (exchange.deadline, next(self._order), exchange))
            self._start()
            self._cond.notify()
        _current.exchange = exchange
        try:
            yield exchange
        finally:
            _current.exchange = None
            exchange.finish()  # the watcher drops it when its time comes; nothing to search for here

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._watch, name="o365-request-deadlines", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _order, exchange = self._heap[0]
                now = self.clock()
                if exchange.done:
                    heapq.heappop(self._heap)
                    continue
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heapreplace(self._heap, (now + RECUT_INTERVAL, next(self._order), exchange))
            exchange.cut()


def current_exchange() -> Optional[Exchange]:
    """The armed exchange of this thread, if any."""
    return getattr(_current, "exchange", None)


def _attach(connection: Any) -> None:
    exchange = current_exchange()
    if exchange is not None:
        exchange.attach(connection)


if HAS_URLLIB3:
    class _WatchedHTTPConnection(HTTPConnection):
        def connect(self) -> None:
            _attach(self)
            super().connect()

        def request(self, *args: Any, **kwargs: Any) -> None:  # pylint: disable=signature-differs
            _attach(self)  # a kept-alive connection is reused without connect()
            super().request(*args, **kwargs)

    class _WatchedHTTPSConnection(HTTPSConnection):
        def connect(self) -> None:
            _attach(self)
            super().connect()

        def request(self, *args: Any, **kwargs: Any) -> None:  # pylint: disable=signature-differs
            _attach(self)
            super().request(*args, **kwargs)

    class _WatchedHTTPPool(HTTPConnectionPool):
        ConnectionCls = _WatchedHTTPConnection

    class _WatchedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _WatchedHTTPSConnection

    _WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    class WatchedAdapter(HTTPAdapter):
        """An HTTPAdapter whose connections report their socket to the current thread's armed exchange."""

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **proxy_kwargs)
            if not proxy.lower().startswith("socks"):
                # SOCKS managers bring their own connection classes: those exchanges keep the idle timeout only.
                manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
            return manager
