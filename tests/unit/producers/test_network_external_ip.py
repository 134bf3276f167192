"""The external-IP lookup against a real HTTP echo server on 127.0.0.1: plain and JSON answers, a
change of address, failures reported once without losing the last answer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from producers.network.sources import ExternalIpSource

T0 = datetime(2025, 11, 26, 9, 0, tzinfo=UTC)


class Echo:
    body = "198.51.100.20\n"
    status = 200


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = Echo.body.encode()
        self.send_response(Echo.status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_echo_answers_changes_and_failures(echo_url: str, caplog: pytest.LogCaptureFixture) -> None:
    now = [T0]
    src = ExternalIpSource("h", echo_url, interval=60, timeout=2, clock=lambda: now[0])
    first = src.poll(10)
    assert [(e.payload["kind"], e.payload["item"]) for e in first.observations] == [
        ("external_ip", {"address": "198.51.100.20", "family": 4, "via": echo_url})
    ]
    now[0] += timedelta(seconds=30)
    assert src.poll(10).observations == [], "not due yet"

    Echo.body = '{"ip": "198.51.100.21"}'
    now[0] += timedelta(seconds=31)
    changed = src.poll(10)
    assert [e.payload["item"]["address"] for e in changed.observations] == ["198.51.100.21"]

    Echo.status = 503
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            now[0] += timedelta(seconds=61)
            assert src.poll(10).observations == []
    assert sum("external IP lookup" in r.message for r in caplog.records) == 1

    # Restarted from its cursor, an unchanged answer reports nothing.
    Echo.status = 200
    again = ExternalIpSource("h", echo_url, changed.cursor, interval=60, clock=lambda: now[0])
    assert again.poll(10).observations == []
