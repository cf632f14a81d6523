"""The HTTP side of ``sink.web``: the page and its assets, a JSON snapshot, server-sent
events, and the false-alarm button, with the access rules.

Access: bound to a loopback address without a token, a request must name that address
(``Host``; no DNS rebinding) and a POST must carry ``X-Requested-With: streamser``
(which a cross-site form cannot send). With a token (required off loopback), every
request must carry it: ``?token=`` or ``Authorization: Bearer``. Pages are served with a
Content-Security-Policy that allows only the node's own assets.
"""
from __future__ import annotations

import hmac
import json
import queue
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

ASSETS = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/app.css": ("app.css", "text/css; charset=utf-8")}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store"}
KEEPALIVE_S = 15.0
MAX_BODY = 4096


class Clients:
    """The open event streams: each a bounded queue (a slow page loses messages, never
    slows the graph)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: list[queue.Queue[str | None]] = []

    def add(self) -> queue.Queue[str | None]:
        q: queue.Queue[str | None] = queue.Queue(maxsize=1000)
        with self._lock:
            self._queues.append(q)
        return q

    def remove(self, q: queue.Queue[str | None]) -> None:
        with self._lock:
            if q in self._queues:
                self._queues.remove(q)

    def send(self, kind: str, data: Any) -> None:
        self._put(json.dumps({"type": kind, "data": data}, allow_nan=False))

    def close(self) -> None:
        self._put(None)  # each stream ends

    def _put(self, item: str | None) -> None:
        with self._lock:
            for q in self._queues:
                try:
                    q.put_nowait(item)
                except queue.Full:
                    pass


class Site:
    """What the handler needs from the node."""

    def __init__(self, host: str, port: int, token: str | None,
                 snapshot: Callable[[], dict[str, Any]],
                 mark: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]) -> None:
        self.host, self.port, self.token = host, port, token
        self.snapshot, self.mark = snapshot, mark
        self.clients = Clients()
        self.closing = threading.Event()
        names = {host, "localhost", "127.0.0.1", "[::1]"} if token is None else set()
        self.hosts = {f"{h}:{port}" for h in names}


def serve(site: Site) -> ThreadingHTTPServer:
    """Bind and serve in a daemon thread; OSError (say, the port is taken) as is."""
    handler = type("Handler", (_Handler,), {"site": site})
    family_host = site.host.strip("[]")
    server_cls = ThreadingHTTPServer
    if ":" in family_host:
        import socket

        server_cls = type("Server6", (ThreadingHTTPServer,), {"address_family":
                                                              socket.AF_INET6})
    server = server_cls((family_host, site.port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="streamser:web", daemon=True).start()
    return server


class _Handler(BaseHTTPRequestHandler):
    site: Site
    server_version = "streamser"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the graph's log
        pass

    # access -----------------------------------------------------------------------------
    def _allowed(self) -> bool:
        site = self.site
        if site.token is None:
            if self.headers.get("Host") not in site.hosts:
                self._reply(403, {"error": "this page answers only to the address it is "
                                           "bound to"})
                return False
            return True
        given = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given = auth[7:]
        if not hmac.compare_digest(given.encode(), site.token.encode()):
            self._reply(401, {"error": "token required: open the page as /?token=TOKEN"})
            return False
        return True

    # verbs ------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._allowed():
            return
        path = urlsplit(self.path).path
        if path in ASSETS:
            name, ctype = ASSETS[path]
            body = resources.files("streamser.plugins.sinks").joinpath(
                "webui", name).read_bytes()
            self._send(200, body, ctype)
        elif path == "/state":
            self._reply(200, self.site.snapshot())
        elif path == "/stream":
            self._stream()
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._allowed():
            return
        if urlsplit(self.path).path != "/false-alarm":
            self._reply(404, {"error": "not found"})
            return
        if self.site.token is None and self.headers.get("X-Requested-With") != "streamser":
            self._reply(403, {"error": "missing X-Requested-With: streamser"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_BODY:
                raise ValueError("body size")
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            self._reply(400, {"error": "expected a small JSON object"})
            return
        self._reply(*self.site.mark(body))

    # replies ----------------------------------------------------------------------------
    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _reply(self, code: int, obj: dict[str, Any]) -> None:
        self._send(code, json.dumps(obj, allow_nan=False).encode(), "application/json")

    def _stream(self) -> None:
        """Server-sent events: a snapshot, then every update, until either side closes."""
        site = self.site
        q = site.clients.add()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            for key, value in SECURITY_HEADERS.items():
                self.send_header(key, value)
            self.end_headers()
            first = json.dumps({"type": "snapshot", "data": site.snapshot()})
            self.wfile.write(f"data: {first}\n\n".encode())
            self.wfile.flush()
            while not site.closing.is_set():
                try:
                    text = q.get(timeout=KEEPALIVE_S)
                except queue.Empty:
                    text = ""
                if text is None:
                    break
                self.wfile.write(f"data: {text}\n\n".encode() if text else b": keepalive\n\n")
                self.wfile.flush()
        except OSError:  # the page went away
            pass
        finally:
            site.clients.remove(q)
