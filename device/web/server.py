"""The HTTP side: the standard library's threading server in a daemon thread.

A handful of routes for one page and one scraper do not need a framework.
Requests are served by a few long-lived worker threads rather than a thread
per request: every new thread may get a malloc arena of its own, and the
daemon's memory then creeps up with each browser poll (the JPEG and JSON
buffers are freed into arenas that are never reused). Connections close after
each response (HTTP/1.0), so an idle browser connection never holds a worker.

    GET  /              the status page (one static file)
    GET  /api/status    latest reading, recent readings, latency per stage, region
    GET  /api/history   accepted values over time, from the field log
    GET  /frame.jpg     the latest frame with the found strip drawn
    POST /api/region    the ROI helper: {"rect": [x, y, w, h]} or {"quad": [[x, y] x 4]} into
                        the config (or the state dir's region.toml), then reload
    GET  /metrics       Prometheus exposition

With a password configured every path wants HTTP basic auth (Prometheus
scrapes with ``basic_auth`` too). The one writing route also refuses requests
that a foreign web page could forge from the user's browser: it wants a JSON
body (a cross-origin JSON POST needs a CORS preflight, which is never
granted) and, when the browser says where it comes from, the same origin.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import queue
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..errors import DigitcamError
from .roi import BadRect

if TYPE_CHECKING:
    from .monitor import WebMonitor

logger = logging.getLogger(__name__)

MAX_BODY = 4096  # a rectangle or four corners are a few dozen bytes
WORKERS = 3  # a browser's parallel polls and a scraper; more only waits a few ms
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # The page is one self-contained file; nothing else may script it or frame it.
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
}


class _Server(HTTPServer):
    """``HTTPServer`` whose accepted connections are handled by ``WORKERS`` daemon threads."""

    app: WebMonitor
    page: bytes
    auth: str | None  # the expected Authorization header, or None for no auth

    def start_workers(self) -> None:
        self._requests: queue.Queue[tuple[Any, Any] | None] = queue.Queue()
        self._workers = [threading.Thread(target=self._work, name=f"status-page-{i}", daemon=True)
                         for i in range(WORKERS)]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        self._requests.put((request, client_address))  # called by the accepting thread

    def _work(self) -> None:
        while (item := self._requests.get()) is not None:
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def stop_workers(self) -> None:
        for _ in self._workers:
            self._requests.put(None)
        for worker in self._workers:
            worker.join(timeout=2.0)  # daemon threads: a stuck client cannot hold up exit

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; a client that went away is not news,
        # anything else is a bug worth its stack in the log.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            logger.debug("status page: %s went away: %s", client_address[0], exc)
        else:
            logger.error("status page: error serving %s", client_address[0], exc_info=exc)


class _Server6(_Server):
    address_family = socket.AF_INET6


class Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "digitcam"
    timeout = 10.0  # a client that stops reading or writing gives its worker back after this

    # -- plumbing -------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("status page: %s %s", self.address_string(), format % args)

    def send(self, status: int, body: bytes, content_type: str,
             extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any) -> None:
        self.send(status, json.dumps(payload, separators=(",", ":")).encode(), "application/json")

    def authorised(self) -> bool:
        expected = self.server.auth
        if expected is None:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), expected.encode()):
            return True
        self.send(HTTPStatus.UNAUTHORIZED, b"authentication required\n", "text/plain; charset=utf-8",
                  {"WWW-Authenticate": 'Basic realm="digitcam", charset="UTF-8"'})
        return False

    # -- routes ---------------------------------------------------------------
    def do_GET(self) -> None:
        if not self.authorised():
            return
        path = urlsplit(self.path).path
        app = self.server.app
        if path in ("/", "/index.html"):
            self.send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
        elif path == "/api/status":
            self.send_json(HTTPStatus.OK, app.status())
        elif path == "/api/history":
            self.send_json(HTTPStatus.OK, app.history())
        elif path == "/frame.jpg":
            data = app.live.jpeg()
            if data is None:
                self.send(HTTPStatus.NOT_FOUND, b"no frame yet\n", "text/plain; charset=utf-8")
            else:
                self.send(HTTPStatus.OK, data, "image/jpeg")
        elif path == "/metrics":
            self.send(HTTPStatus.OK, generate_latest(app.metrics.registry), CONTENT_TYPE_LATEST)
        else:
            self.send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        if not self.authorised():
            return
        if urlsplit(self.path).path != "/api/region":
            self.send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
            return
        problem = self.forged()
        if problem:
            self.send_json(HTTPStatus.FORBIDDEN, {"error": problem})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": f"expected a JSON body of 1..{MAX_BODY} bytes"})
            return
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError):
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": "the body is not JSON"})
            return
        modes = [m for m in ("rect", "quad") if isinstance(body, dict) and m in body]
        if len(modes) != 1:
            self.send_json(HTTPStatus.BAD_REQUEST,
                           {"error": 'expected {"rect": [x, y, w, h]} or {"quad": [[x, y], ...4]}'})
            return
        try:
            result = self.server.app.save_region(modes[0], body[modes[0]])
        except BadRect as exc:
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except DigitcamError as exc:
            self.send_json(HTTPStatus.CONFLICT, {"error": str(exc)})
        else:
            self.send_json(HTTPStatus.OK, result)

    def forged(self) -> str:
        """Why this POST may come from another site's page; "" when it is fine."""
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return "expected Content-Type: application/json"
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != self.headers.get("Host", ""):
            return f"cross-origin request from {origin} refused"
        return ""


class StatusServer:
    """Serves ``app`` on ``bind:port`` from a daemon thread until ``stop()``."""

    def __init__(self, app: WebMonitor, bind: str, port: int, user: str = "", password: str = "") -> None:
        self.app = app
        self.bind = bind
        self.port = port
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.auth = f"Basic {token}" if password else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        port = self._server.server_address[1] if self._server is not None else self.port
        return f"http://{host}:{port}/"

    def start(self) -> None:
        """Listen now (so a taken port is reported at start-up, in one line), then serve."""
        cls = _Server6 if ":" in self.bind else _Server
        try:
            server = cls((self.bind.strip("[]"), self.port), Handler)
        except OSError as exc:
            raise DigitcamError(f"status page: cannot listen on {self.bind}:{self.port} "
                                f"({exc.strerror or exc})") from None
        server.app, server.auth = self.app, self.auth
        server.page = resources.files("digitcam.device.web").joinpath("page.html").read_bytes()
        server.start_workers()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="status-page", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.stop_workers()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
