"""The admin API's front door over real HTTP on a real daemon: the token before the body, the body cap,
short 422s, integers out of range, and /docs without a CDN."""

from __future__ import annotations

import re
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from tests.support.instance import Instance

CAP = 65_536  # api_max_body_bytes in this daemon's config: the setting is honoured, not the default


class Live:
    def __init__(self, inst: Instance, proc: subprocess.Popen[bytes], url: str) -> None:
        self.inst, self.proc, self.url = inst, proc, url
        parts = urlsplit(url)
        self.addr = (str(parts.hostname), int(parts.port or 80))

    def token(self) -> str:
        return (self.inst.data_dir / "api.token").read_text().strip()

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token()}"}, timeout=30
        )

    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def raw(self, head: str, body_chunks: Iterator[bytes]) -> tuple[int, int]:
        """Send a request head, then body chunks until the server answers; (status, body bytes sent)."""
        with socket.create_connection(self.addr, timeout=30) as s:
            s.sendall(head.encode())
            sent = 0
            for chunk in body_chunks:
                if select.select([s], [], [], 0)[0]:
                    break  # the server answered: stop sending
                try:
                    s.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(chunk)
            s.settimeout(30)
            data = b""
            try:
                while b"\r\n" not in data:
                    more = s.recv(4096)
                    if not more:
                        break
                    data += more
            except ConnectionResetError:
                pass
        self.last = data
        match = re.match(rb"HTTP/1\.1 (\d{3})", data)
        assert match, f"no HTTP answer: {data[:200]!r}"
        return int(match.group(1)), sent


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    inst = Instance(tmp_path_factory.mktemp("limits"))
    inst.write_config()
    # A top-level key: before the [packages] table of the written config.
    inst.config.write_text(f"api_max_body_bytes = {CAP}\n" + inst.config.read_text())
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        deadline = time.monotonic() + 30
        url_file = inst.data_dir / "api.url"
        while not url_file.exists() or not url_file.read_text().strip():
            assert time.monotonic() < deadline, inst.daemon_log()
            time.sleep(0.05)
        yield Live(inst, proc, url_file.read_text().strip())
    finally:
        inst.stop(proc)


def _head(path: str, length: int | None, token: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return "\r\n".join(lines) + "\r\n\r\n"


def _chunks(total: int, size: int = 1 << 20, *, chunked: bool = False) -> Iterator[bytes]:
    for _ in range(total // size):
        data = b" " * size
        yield (f"{size:x}\r\n".encode() + data + b"\r\n") if chunked else data


def test_a_large_body_without_a_token_is_answered_401_unread(live: Live) -> None:
    """200 MB declared, no token: the answer comes from the headers, before the body is sent."""
    before = live.rss()
    status, sent = live.raw(_head("/query", 200 << 20), _chunks(200 << 20))
    assert status == 401
    assert sent < 200 << 20, "the daemon waited for the whole body"
    assert live.rss() - before < 50 << 20
    assert live.proc.poll() is None


def test_a_body_over_the_cap_is_413_before_it_is_read(live: Live) -> None:
    status, sent = live.raw(_head("/query", 200 << 20, live.token()), _chunks(200 << 20))
    assert status == 413
    assert sent < 200 << 20
    # Chunked, no length: refused as it passes the cap, not after.
    before = live.rss()
    status, sent = live.raw(_head("/query", None, live.token()), _chunks(50 << 20, 16 << 10, chunked=True))
    assert status == 413, live.last
    assert sent < 50 << 20
    assert live.rss() - before < 50 << 20
    with live.client() as c:
        r = c.post(
            "/query", content=b"{" + b" " * (CAP + 10) + b"}", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413 and f"{CAP:,} bytes" in r.json()["detail"]
        # Under the cap all is as before.
        ok = c.post("/query", json={"cypher": "MATCH (h:Host) RETURN count(h) AS n", "read_only": True})
        assert ok.status_code == 200, ok.text


def test_health_and_docs_need_no_token_and_the_rest_does(live: Live) -> None:
    assert httpx.get(live.url + "/health", timeout=10).status_code == 200
    assert httpx.get(live.url + "/openapi.json", timeout=10).status_code == 200
    for path in ("/query", "/admin/packages", "/no-such-path", "/admin/metrics"):
        r = httpx.get(live.url + path, timeout=10)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
    metrics_token = (live.inst.data_dir / "metrics.token").read_text().strip()
    headers = {"Authorization": f"Bearer {metrics_token}"}
    assert httpx.get(live.url + "/admin/metrics", headers=headers, timeout=10).status_code == 200
    assert httpx.get(live.url + "/query", headers=headers, timeout=10).status_code == 401


def test_a_422_does_not_echo_a_large_input(live: Live) -> None:
    big = "x" * 30_000  # over the cypher field's 20,000 characters, under the body cap
    with live.client() as c:
        r = c.post("/query", json={"cypher": big, "read_only": True})
    assert r.status_code == 422
    assert len(r.content) < 2_000, len(r.content)
    assert "30,002 characters" in r.text  # the size is told (the JSON string, quotes included)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "installed-this-week", "params": {"days": 99999999999999999999}},
        {"name": "installed-this-week", "params": {"days": 10**15}},
        {"name": "installed-this-week", "params": {"days": -1}},
        {"cypher": "RETURN $n AS n", "params": {"n": 2**64}, "read_only": True},
        {"cypher": "RETURN $n AS n", "params": {"n": [1, {"deep": -(2**70)}]}, "read_only": True},
    ],
)
def test_integers_out_of_range_are_a_422(live: Live, body: dict[str, Any]) -> None:
    with live.client() as c:
        r = c.post("/query", json=body)
    assert r.status_code == 422, r.text
    assert "range" in r.text or "between" in r.text
    assert live.proc.poll() is None


def test_docs_load_swagger_ui_from_the_daemon_itself(live: Live) -> None:
    page = httpx.get(live.url + "/docs", timeout=10)
    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert sources and all(s.startswith("/") for s in sources), sources  # no CDN, no other host
    assert "http://" not in page.text.replace(live.url, "") and "https://" not in page.text
    for asset in sources:
        r = httpx.get(live.url + asset, timeout=10)
        assert r.status_code == 200 and len(r.content) > 500, asset
    js = httpx.get(live.url + "/docs/assets/swagger-ui-bundle.js", timeout=10)
    assert "SwaggerUIBundle" in js.text[:5000] or "SwaggerUIBundle" in js.text


def test_unknown_query_parameters_are_a_422_naming_what_the_endpoint_takes(live: Live) -> None:
    # `limit` is a field of the endpoint's parameter model: declared, like a plain parameter.
    with live.client() as c:
        ok = c.get("/admin/packages", params={"limit": 5})
        assert ok.status_code == 200, ok.text
        r = c.get("/admin/packages", params={"limt": 5})
        assert r.status_code == 422
        (problem,) = r.json()["detail"]
        assert problem["loc"] == ["query", "limt"] and "limit" in problem["msg"]
        # One value each: which of two would count?
        twice = c.get("/admin/packages", params=[("limit", "5"), ("limit", "6")])
        assert twice.status_code == 422 and "more than once" in twice.text
        # An endpoint that declares none refuses any.
        assert c.get("/admin/mcp/running", params={"nope": 1}).status_code == 422
        # The series endpoint takes the named query's own parameters: resolve() checks them (400).
        s = c.get("/admin/series/metric-series", params={"series": "cpu.percent", "since": "1h"})
        assert s.status_code == 200, s.text
        assert c.get("/admin/series/metric-series", params={"bogus": "1"}).status_code == 400


def test_booleans_are_strict_in_bodies(live: Live) -> None:
    """`"read_only": 0` is not `false`: a safety flag must be said as a boolean (pydantic would coerce)."""
    with live.client() as c:
        r = c.post("/query", json={"cypher": "MATCH (n) RETURN count(n)", "read_only": 1})
    assert r.status_code == 422 and "bool" in r.text
