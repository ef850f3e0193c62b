# SPDX-License-Identifier: GPL-3.0-or-later
"""The emulator's HTTPS server: TLS with a fresh trustme CA, one thread per keep-alive connection, routing to the Entra,
Graph and Outlook handlers, and the control API under /_emulator (no auth, not written to the request log)."""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import socket
import ssl
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme

from .control import ControlApi
from .entra import Entra
from .graph import GraphApi
from .graph_errors import graph_error
from .persist import Journal
from .state import DEFAULT_PROFILE, State
from .wire import Request

MAX_API_BODY = 64 * 1024 * 1024  # larger bodies are read and thrown away (the 4 MB check still sees their size)
MAX_CONTROL_BODY = 1024 * 1024 * 1024
HANDSHAKE_TIMEOUT = 10
IDLE_TIMEOUT = 120  # seconds a keep-alive connection may sit idle before its thread gives up
PIECE_BYTES = 64 * 1024  # a padded body leaves in pieces of this size
_PADDING = memoryview(b" " * PIECE_BYTES)  # pad_to pads with spaces: a JSON answer stays valid JSON
TRICKLE_POLL = 0.1  # seconds between two looks at a trickling answer's client
CONTROL_PREFIX = "/_emulator"
CA_KEY_FILE = "ca-key.pem"  # written only with persist, so a restart can reuse the CA


def body_pieces(body, size, limit=None):
    """The body, then spaces up to `size` bytes (fault pad_to), at most `limit` bytes in all, in pieces of at most
    PIECE_BYTES: an answer padded to gigabytes is never held whole."""
    end = size if limit is None else min(limit, size)
    view = memoryview(body)
    sent = 0
    while sent < end:
        if sent < len(body):
            piece = view[sent:min(len(body), end, sent + PIECE_BYTES)]
        else:
            piece = _PADDING[:min(PIECE_BYTES, end - sent)]
        sent += len(piece)
        yield piece


def chunk_framed(pieces, complete=True):
    """Transfer-Encoding: chunked framing of pieces; without the last, empty chunk when the answer is cut."""
    for piece in pieces:
        if piece:
            yield b"%x\r\n" % len(piece)
            yield piece
            yield b"\r\n"
    if complete:
        yield b"0\r\n\r\n"


def resliced(pieces, size):
    """The same bytes in pieces of exactly `size` bytes (the last one shorter)."""
    pending = bytearray()
    for piece in pieces:
        pending += piece
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


class _TlsServer(ThreadingHTTPServer):
    """ThreadingHTTPServer whose TLS handshake runs in the connection's thread, so a slow client never stalls accept()."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, address, handler, ssl_context, app):
        self.ssl_context = ssl_context
        self.app = app
        self._connections = set()
        self._connections_lock = threading.Lock()
        self.stopping = threading.Event()  # wakes trickling answers, so that stop() never waits on a slow client
        self.trickling = 0  # answers being trickled now
        super().__init__(address, handler)

    @contextlib.contextmanager
    def trickle_started(self):
        with self._connections_lock:
            self.trickling += 1
        try:
            yield
        finally:
            with self._connections_lock:
                self.trickling -= 1

    def get_request(self):
        sock, address = self.socket.accept()
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        request.settimeout(HANDSHAKE_TIMEOUT)
        request.do_handshake()
        super().finish_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # Clients that vanish, time out or fail the handshake are normal; only a real bug deserves a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self):
        """Wake the threads still holding keep-alive connections, so a stopped emulator really is gone."""
        self.stopping.set()
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                socket.socket.shutdown(conn, socket.SHUT_RDWR)  # the plain socket's shutdown: no TLS goodbye needed
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT
    wbufsize = 64 * 1024  # status line, headers and a small body leave in one write
    server_version = "GraphEmulator/1.0"

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):
        """Silent: the request log lives in memory; no per-request disk or console I/O."""

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self):
        raw_path, dummy, query = self.path.partition("?")
        is_control = raw_path == CONTROL_PREFIX or raw_path.startswith(CONTROL_PREFIX + "/")
        body, size = self._read_body(MAX_CONTROL_BODY if is_control else MAX_API_BODY)
        headers = {name.lower(): value for name, value in self.headers.items()}
        host = headers.get("host") or "%s:%d" % self.server.server_address[:2]
        req = Request(self.command, raw_path, query, headers, body, host, body_size=size)
        try:
            resp = self.server.app.handle(req, is_control)
        except Exception:
            traceback.print_exc()  # an emulator bug: say so loudly, answer like Graph would
            resp = graph_error(req, 500, "InternalServerError", "The emulator failed on this request; see its log.")
        if resp.drop:
            self.close_connection = True  # fault "drop": close without a single byte of answer
            return
        self._send(req, resp)

    def _read_body(self, limit):
        """(body, size); a body over the limit is drained and dropped so the client still gets an answer."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            try:
                data = self._read_chunked()
            except ValueError:  # a malformed chunk size: answer, then hang up
                self.close_connection = True
                data = b""
            return data, len(data)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return b"", 0
        if length <= limit:
            return self.rfile.read(length), length
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        return b"", length

    def _read_chunked(self):
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, req, resp):
        size = resp.size
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("request-id", req.request_id)
        self.send_header("client-request-id", req.client_request_id)
        if resp.chunked:
            self.send_header("Transfer-Encoding", "chunked")  # fault "chunked": the client cannot know the size up front
        else:
            self.send_header("Content-Length", str(size))
        cut = resp.truncate_to is not None and resp.truncate_to < size
        if cut:
            # A cut-off answer: the full Content-Length was announced, part of the body follows, then the connection closes.
            self.close_connection = True
        pieces = body_pieces(resp.body, size, resp.truncate_to if cut else None)
        if resp.chunked:
            pieces = chunk_framed(pieces, complete=not cut)
        head = self._take_head()
        try:
            if resp.trickle:
                self._trickle(head, pieces, resp.trickle)
            else:
                self.wfile.write(head)  # buffered: the status line, headers and a small body leave in one write
                for piece in pieces:
                    self.wfile.write(piece)
        except OSError:
            # The client hung up in the middle (gave up on a trickle, refused an oversized body): normal for these faults.
            self.close_connection = True

    def _take_head(self):
        """The status line and headers as bytes, taken from BaseHTTPRequestHandler's buffer instead of written by
        end_headers(): a trickle sends them piece by piece."""
        self._headers_buffer.append(b"\r\n")
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        return head

    def _trickle(self, head, pieces, trickle):
        """Fault "trickle": the answer in pieces of trickle["bytes"], each after a pause of trickle["every_ms"]; the
        headers first and at once unless trickle["headers"]. Stops when the client hangs up or the emulator stops."""
        with self.server.trickle_started():  # counted before the headers leave: a client that has them sees it counted
            if trickle["headers"]:
                pieces = itertools.chain((head,), pieces)
            else:
                self.wfile.write(head)
                self.wfile.flush()
            for piece in resliced(pieces, trickle["bytes"]):
                if self._client_gone(trickle["every_ms"] / 1000.0):
                    self.close_connection = True
                    return
                self.wfile.write(piece)
                self.wfile.flush()

    def _client_gone(self, seconds):
        """Waits `seconds`; True as soon as the client has closed its end or the emulator is stopping."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.server.stopping.is_set():
                return True
            readable = select.select([self.connection], [], [], min(left, TRICKLE_POLL))[0]
            if readable:
                try:
                    # The plain socket's recv: an SSLSocket refuses MSG_PEEK. b"" is the client's FIN.
                    peeked = socket.socket.recv(self.connection, 1, socket.MSG_PEEK)
                except OSError:
                    return True
                if not peeked:
                    return True
                # Bytes from the client (a TLS alert, a next request): not a hang-up; wait out the pause.
                return self.server.stopping.wait(max(0.0, deadline - time.monotonic()))


class _App:
    """Routing by path prefix; every API request is logged before its answer is sent."""

    def __init__(self, state, info):
        self.state = state
        self.graph = GraphApi(state)
        self.entra = Entra(state)
        self.control = ControlApi(state, info)

    def handle(self, req, is_control):
        if is_control:
            return self.control.handle(req)
        if req.path.startswith(("/v1.0/", "/beta/")) or req.path in ("/v1.0", "/beta"):
            resp = self.graph.handle_graph(req)
        elif req.path.startswith("/api/v2.0/"):
            resp = self.graph.handle_outlook(req)
        else:
            resp = self.entra.handle(req)
        self.state.record(req, resp)
        return resp


class EmulatorServer:
    """The whole emulator on one HTTPS port. start() returns once it listens; use as a context manager in tests."""

    def __init__(self, state_dir, port=0, host="127.0.0.1", persist=False, profile=DEFAULT_PROFILE):
        self.state_dir = os.path.abspath(state_dir)
        self.host = host
        self.requested_port = port
        self.persist = persist  # keep the tenant, the request log and the CA in state_dir across restarts
        self.state = State(profile)  # state.PROFILES: production unless the caller says otherwise
        self.info = {}
        self._httpd = None
        self._thread = None

    def start(self):
        if self._httpd is not None:
            return self
        os.makedirs(self.state_dir, exist_ok=True)
        ca, ca_path = self._certificate_authority()
        if self.persist:
            self.state.attach_journal(Journal(self.state_dir))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._httpd = _TlsServer((self.host, self.requested_port), _Handler, context, _App(self.state, self.info))
        self.info.update(self._describe(self._httpd.server_address[1], ca_path))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.1,), name="emulator-accept", daemon=True)
        self._thread.start()
        return self

    def _certificate_authority(self):
        """(trustme CA, path of its certificate): a new CA, or with persist the one state_dir already holds, so that
        clients started before a restart still trust the restarted emulator."""
        ca_path = os.path.join(self.state_dir, "ca.pem")
        key_path = os.path.join(self.state_dir, CA_KEY_FILE)
        if self.persist and os.path.exists(ca_path) and os.path.exists(key_path):
            with open(ca_path, "rb") as cert, open(key_path, "rb") as key:
                return trustme.CA.from_pem(cert.read(), key.read()), ca_path
        ca = trustme.CA()
        ca.cert_pem.write_to_path(ca_path)
        if self.persist:
            fd = os.open(key_path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(ca.private_key_pem.bytes())
            os.replace(key_path + ".tmp", key_path)
        return ca, ca_path

    def _describe(self, port, ca_path):
        url_host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        origin = "https://%s:%d" % (url_host, port)
        return {
            "graph_url": origin + "/v1.0",
            "outlook_url": origin + "/api/v2.0",
            "authority_host": origin,
            "authority": "%s/%s" % (origin, self.state.tenant_id),
            "control_url": origin + CONTROL_PREFIX,
            "ca_path": ca_path,
            "identity_endpoint": origin + "/msi/token",
            "identity_header": self.state.identity_header,
            "imds_host": origin,
            "tenant_id": self.state.tenant_id,
            "tenant_domain": self.state.tenant_domain,
            "tenant_name": self.state.default_tenant.name,  # the default tenant's name in /_emulator/tenants/{name}
            "host": url_host,
            "port": port,
            "pid": os.getpid(),
            "state_dir": self.state_dir,
            "persist": self.persist,
            "profile": self.state.start_profile,
        }

    @property
    def trickling(self):
        """How many answers are being trickled now (fault "trickle"); 0 once their clients hung up."""
        return self._httpd.trickling if self._httpd is not None else 0

    def stop(self):
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        self._thread.join(5)
        self._httpd = None
        self._thread = None
        self.state.detach_journal()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
