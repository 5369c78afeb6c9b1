"""The operations HTTP server: GET /metrics, /healthz, /readyz on ``http_host:http_port``.

A stdlib ``ThreadingHTTPServer`` in a daemon thread, so a scrape or a probe never waits for the event loop, and
a blocked event loop can still be reported as such. Bodies are small: Prometheus text for /metrics, and
``{"status": "ok"|"fail", "reason": ...}`` with 200 or 503 for the probes. It reveals nothing configurable.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from service.ops.health import Health
from service.ops.metrics import Metrics


class OpsServer:
    def __init__(self, host: str, port: int, metrics: Metrics, health: Health) -> None:
        handler = type("Handler", (_Handler,), {"metrics": metrics, "health": health})
        self._server = ThreadingHTTPServer((host, port), handler)  # port 0: any free port (tests)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops-http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> OpsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    metrics: Metrics
    health: Health
    server_version = "moderation"
    sys_version = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, self.metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/readyz"):
            ok, reason = self.health.live() if path == "/healthz" else self.health.ready()
            body = json.dumps({"status": "ok" if ok else "fail", "reason": reason}).encode()
            self._send(200 if ok else 503, body, "application/json")
        else:
            self._send(404, b'{"status": "not found"}', "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # probes every few seconds would drown the decision log
