"""A stand-in for an internal analytics API (think Mixpanel): JSON over HTTP on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SIGNUPS = [
    {"email": "ada@example.com", "plan": "pro", "signedUpAt": "2026-11-16", "country": "UK"},
    {"email": "linus@example.com", "plan": "free", "signedUpAt": "2026-11-18", "country": "FI"},
    {"email": "grace@example.com", "plan": "pro", "signedUpAt": "2026-11-20", "country": "US"},
    {"email": "alan@example.com", "plan": "team", "signedUpAt": "2026-11-02", "country": "UK"},
    {"email": "barbara@example.com", "plan": "free", "signedUpAt": "2026-10-28", "country": "US"},
]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path != "/signups":
            self.send_error(404)
            return
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        rows = [s for s in SIGNUPS if params.get("since", "") <= s["signedUpAt"] <= params.get("until", "9999")]
        body = json.dumps({"results": rows}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def start(port: int = 0) -> ThreadingHTTPServer:
    """Serve the fake API on 127.0.0.1 in a background thread; returns the server."""
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    srv = start(8123)
    print("fake analytics API on http://127.0.0.1:8123/signups")
    threading.Event().wait()
