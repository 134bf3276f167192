"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1, and a webhook receiver.

`webhook_receiver()` runs an HTTP server on a free loopback port that keeps every JSON body POSTed to it
(it is also what a plain webhook target of the product talks to). `running_alertmanager(receiver_url)`
starts its own `prometheus-alertmanager` on a free loopback port, clustering off, with a configuration
that routes every alert to that URL at once (group_wait 0s, group_interval 1s, send_resolved), so a
test sees firing and resolved notifications within seconds. Both stop when their context ends.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.sshd import free_port

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
READY_TIMEOUT = 30.0


@dataclass
class Receiver:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_next: int = 0  # answer 503 to this many requests (a receiver that is down)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alerts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [a for b in self.bodies for a in b.get("alerts", [])]

    def wait_for(
        self, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.alerts()
            if pred(got):
                return got
            time.sleep(0.1)
        raise AssertionError(
            f"the receiver did not get what was expected in {timeout}s; it got {self.alerts()}"
        )


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    port = free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                receiver.headers.append(dict(self.headers))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


CONFIG = """\
route:
  receiver: test
  group_by: ['alertname', 'host', 'subject']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


@dataclass
class Alertmanager:
    url: str
    root: Path
    process: subprocess.Popen[bytes]

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: what Alertmanager holds now (active, unprocessed and resolved-but-kept)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as resp:
            return list(json.loads(resp.read()))


@contextlib.contextmanager
def running_alertmanager(receiver_url: str) -> Iterator[Alertmanager]:
    root = Path(tempfile.mkdtemp(prefix="watchman-am-"))
    (root / "alertmanager.yml").write_text(CONFIG.format(url=receiver_url))
    port = free_port()
    log = open(root / "alertmanager.log", "wb")  # noqa: SIM115 (kept open for the process's life)
    proc = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={root / 'alertmanager.yml'}",
            f"--storage.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port on 0.0.0.0
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    am = Alertmanager(f"http://127.0.0.1:{port}", root, proc)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{am.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"alertmanager did not start: {(root / 'alertmanager.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        yield am
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
