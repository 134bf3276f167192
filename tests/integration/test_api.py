"""The admin REST API of a real `watchman run` daemon, over real HTTP: token, queries, commands, metrics,
and schemathesis generating requests from the API's own OpenAPI document."""

from __future__ import annotations

import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.support.instance import Instance
from watchman.api import create_app

NOW = datetime.now(UTC).replace(microsecond=0)


def apt_entry(when: datetime, line: str) -> str:
    stamp = when.strftime("%Y-%m-%d  %H:%M:%S")
    return f"Start-Date: {stamp}\nCommandline: apt-get install\n{line}\nEnd-Date: {stamp}\n\n"


@dataclass
class Running:
    inst: Instance
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def token_file(self) -> Path:
        return self.inst.data_dir / "api.token"

    def token(self) -> str:
        return self.token_file.read_text().strip()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def wait_for(predicate: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    inst = Instance(tmp_path_factory.mktemp("api"))
    inst.write_config()
    inst.apt_log.parent.mkdir(parents=True, exist_ok=True)
    inst.apt_log.write_text(
        apt_entry(NOW - timedelta(days=40), "Install: oldpkg:amd64 (1.0)")
        + apt_entry(
            NOW - timedelta(days=2), "Install: nginx:amd64 (1.22.1-9), nginx-common:all (1.22.1-9, automatic)"
        )
        + apt_entry(NOW - timedelta(days=1), "Upgrade: nginx:amd64 (1.22.1-9, 1.24.0-1)")
    )
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        url = wait_for(lambda: _read(inst.data_dir / "api.url"), what="api.url")
        running = Running(inst, proc, url)
        with running.client() as c:
            wait_for(
                lambda: len(c.get("/admin/packages", params={"days": 60}).json()["rows"]) == 4, what="4 rows"
            )
        yield running
    finally:
        inst.stop(proc)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def test_health_needs_no_token_and_says_who_answers(daemon: Running) -> None:
    r = httpx.get(daemon.url + "/health", timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert (body["role"], body["host"], body["deployment"]) == ("daemon", "testhost", "embedded")
    assert body["detail"]["projected"] >= 4


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/metrics", None),
        ("GET", "/admin/packages", None),
        ("GET", "/query", None),
        ("POST", "/query", {"name": "installed-software"}),
        ("POST", "/admin/scan", {}),
        ("GET", "/admin/commands/" + "0" * 32, None),
    ],
)
def test_every_endpoint_but_health_needs_the_token(
    daemon: Running, method: str, path: str, body: dict[str, Any] | None
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + daemon.token()}):
        r = httpx.request(method, daemon.url + path, json=body, headers=headers, timeout=10)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"


def test_the_metrics_token_reads_metrics_and_nothing_else(daemon: Running) -> None:
    """What Prometheus holds: a leaked scrape config must not let anyone query the graph or issue
    commands."""
    metrics_file = daemon.inst.data_dir / "metrics.token"
    assert stat.S_IMODE(metrics_file.stat().st_mode) == 0o600
    token = metrics_file.read_text().strip()
    assert token != daemon.token() and len(token) >= 40
    assert daemon.inst.cli("token", "show", "--metrics").stdout.strip() == token
    with daemon.client(token) as c:
        r = c.get("/admin/metrics")
        assert r.status_code == 200 and "watchman_build_info" in r.text
        for method, path, body in [
            ("GET", "/admin/packages", None),
            ("GET", "/query", None),
            ("POST", "/query", {"name": "installed-software"}),
            ("POST", "/admin/scan", {}),
            ("POST", "/admin/replay", {"confirm": True}),
        ]:
            assert c.request(method, path, json=body).status_code == 401, path
    daemon.inst.cli("token", "rotate", "--metrics", "--yes")
    with daemon.client(token) as c:
        assert c.get("/admin/metrics").status_code == 401, "the old metrics token stops working"
    with daemon.client(metrics_file.read_text().strip()) as c:
        assert c.get("/admin/metrics").status_code == 200


def test_token_file_is_private_and_the_api_binds_loopback(daemon: Running) -> None:
    mode = stat.S_IMODE(daemon.token_file.stat().st_mode)
    assert mode == 0o600
    assert daemon.url.startswith("http://127.0.0.1:")


def test_package_history_filters(daemon: Running) -> None:
    with daemon.client() as c:
        rows = c.get("/admin/packages", params={"days": 60}).json()["rows"]
        assert [(r["package"], r["action"]) for r in rows] == [
            ("nginx", "upgrade"),
            ("nginx", "install"),
            ("nginx-common", "install"),
            ("oldpkg", "install"),
        ]
        week = c.get("/admin/packages").json()["rows"]
        assert {r["package"] for r in week} == {"nginx", "nginx-common"}
        upgrades = c.get("/admin/packages", params={"days": 60, "action": "upgrade"}).json()["rows"]
        assert [(r["package"], r["old_version"], r["version"]) for r in upgrades] == [
            ("nginx", "1.22.1-9", "1.24.0-1")
        ]
        named = c.get("/admin/packages", params={"days": 60, "name": "oldpkg", "source": "apt"}).json()[
            "rows"
        ]
        assert [r["package"] for r in named] == ["oldpkg"]
        assert c.get("/admin/packages", params={"source": "brew", "days": 60}).json()["rows"] == []
        assert c.get("/admin/packages", params={"action": "explode"}).status_code == 422
        # What only the package database showed can be asked for too (this instance reads no database).
        observed = c.get("/admin/packages", params={"action": "observed-installed", "days": 60})
        assert observed.status_code == 200 and observed.json()["rows"] == []
        assert c.get("/admin/packages", params={"days": 0}).status_code == 422
        assert c.get("/admin/packages", params={"day": 3}).status_code == 422  # a typo is an error


def test_named_and_raw_queries(daemon: Running) -> None:
    with daemon.client() as c:
        catalog = {q["name"] for q in c.get("/query").json()}
        assert {"installed-software", "package-changes", "command-status"} <= catalog
        r = c.post("/query", json={"name": "last-updated", "params": {"name": "nginx"}})
        assert r.status_code == 200, r.text
        assert r.json()["rows"][0]["version"] == "1.24.0-1"
        raw = c.post(
            "/query",
            json={
                "cypher": "MATCH (s:Software) WHERE s.name = $n RETURN s.version AS v",
                "params": {"n": "nginx"},
                "read_only": True,
            },
        )
        assert raw.json() == {"columns": ["v"], "rows": [{"v": "1.24.0-1"}]}
        # Raw Cypher only with read_only; writes and file access are refused by the store, with a 400.
        no_flag = c.post("/query", json={"cypher": "MATCH (h:Host) RETURN h"})
        assert no_flag.status_code == 400 and "read_only" in no_flag.json()["detail"]
        write = c.post("/query", json={"cypher": "CREATE (:Host {name: 'evil'})", "read_only": True})
        assert write.status_code == 400 and "write" in write.json()["detail"]
        files = c.post(
            "/query",
            json={"cypher": "COPY (MATCH (h:Host) RETURN h.name) TO '/tmp/leak.csv'", "read_only": True},
        )
        assert files.status_code == 400
        bad = c.post("/query", json={"cypher": "MATCH (h:Host RETURN h", "read_only": True})
        assert bad.status_code == 400 and "query failed" in bad.json()["detail"]
        unknown = c.post("/query", json={"name": "no-such-question"})
        assert unknown.status_code == 400 and "unknown query" in unknown.json()["detail"]
        hosts = c.post("/query", json={"cypher": "MATCH (h:Host) RETURN h.name AS n", "read_only": True})
        assert hosts.json()["rows"] == [{"n": "testhost"}]


@pytest.mark.parametrize(
    "payload",
    [
        "x' OR 1=1 CREATE (:Host {name: 'evil'}) //",
        "x\") CREATE (:Host {name: 'evil'}) RETURN 1 //",
        "'}) MATCH (h:Host) DETACH DELETE h //",
    ],
)
def test_cypher_injection_through_parameters_cannot_write(daemon: Running, payload: str) -> None:
    """Values only ever travel as Cypher parameters: text that would be Cypher if pasted is just a
    value that matches nothing, through the filters, the named queries and raw Cypher's params."""
    probe = {"cypher": "MATCH (h:Host) RETURN h.name AS n ORDER BY n", "read_only": True}
    with daemon.client() as c:
        hosts_before = c.post("/query", json=probe).json()["rows"]
        assert c.get("/admin/packages", params={"days": 60, "name": payload}).json()["rows"] == []
        named = c.post("/query", json={"name": "package-history", "params": {"name": payload}})
        assert named.status_code == 200 and named.json()["rows"] == []
        raw = c.post(
            "/query",
            json={
                "cypher": "MATCH (s:Software) WHERE s.name = $n RETURN s",
                "params": {"n": payload},
                "read_only": True,
            },
        )
        assert raw.status_code == 200 and raw.json()["rows"] == []
        assert c.post("/query", json=probe).json()["rows"] == hosts_before == [{"n": "testhost"}]


def test_scan_publishes_a_command_whose_outcome_can_be_polled(daemon: Running) -> None:
    daemon.inst.brew_prefix.mkdir(parents=True, exist_ok=True)  # only a prefix that exists is scanned
    with daemon.client() as c:
        r = c.post("/admin/scan", json={"idempotency_key": "k1", "reason": "test"})
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["type"] == "TriggerScan" and accepted["host"] == "testhost"
        # The same idempotency key is the same command.
        again = c.post("/admin/scan", json={"idempotency_key": "k1", "reason": "test"}).json()
        assert again["command_id"] == accepted["command_id"]

        def done() -> dict[str, Any] | None:
            state: dict[str, Any] = c.get(accepted["status_url"]).json()
            return state if state["status"] != "pending" else None

        state = wait_for(done, what="command outcome")
        assert state["status"] == "succeeded"
        assert state["detail"].startswith("triggered ")
        assert f"brew:{daemon.inst.brew_prefix}" in state["detail"]  # the brew snapshot is a scanner
        assert state["issued_by"].startswith("api:") and daemon.token() not in state["issued_by"]
        # Run twice (two records, one id), recorded once in the audit trail.
        audit = c.post(
            "/query",
            json={
                "cypher": "MATCH (c:Command) WHERE c.id = $id RETURN count(c) AS n",
                "params": {"id": accepted["command_id"]},
                "read_only": True,
            },
        ).json()["rows"]
        assert audit == [{"n": 1}]

        nothing = c.post("/admin/scan", json={"scanners": ["no-such-scanner"]}).json()
        failed = wait_for(lambda: done_of(c, nothing["status_url"]), what="failed outcome")
        assert failed["status"] == "failed" and "no scanner matches" in failed["detail"]

        assert c.get("/admin/commands/" + "f" * 32).status_code == 404
        assert c.get("/admin/commands/not-an-id").status_code == 422


def test_rebuilding_the_graph_needs_explicit_confirmation(daemon: Running) -> None:
    with daemon.client() as c:
        before = c.get("/admin/packages", params={"days": 60}).json()["rows"]
        for body in ({}, {"confirm": False}, {"confirm": "yes"}):
            assert c.post("/admin/replay", json=body).status_code == 422, body
        r = c.post("/admin/replay", json={"confirm": True, "reason": "test"})
        assert r.status_code == 202, r.text
        state = wait_for(lambda: done_of(c, r.json()["status_url"]), what="rebuild outcome")
        assert state["status"] == "succeeded" and state["detail"].startswith("rebuilt the graph from ")
        assert c.get("/admin/packages", params={"days": 60}).json()["rows"] == before
    assert (daemon.inst.data_dir / "graph.previous").is_dir()


def test_an_embedded_daemon_refuses_commands_for_other_hosts(daemon: Running) -> None:
    with daemon.client() as c:
        r = c.post("/admin/scan", json={"host": "elsewhere"})
    assert r.status_code == 400 and "testhost" in r.json()["detail"]


def done_of(c: httpx.Client, url: str) -> dict[str, Any] | None:
    state: dict[str, Any] = c.get(url).json()
    return state if state["status"] != "pending" else None


def test_metrics_are_prometheus_text_with_every_stage(daemon: Running) -> None:
    with daemon.client() as c:
        r = c.get("/admin/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    apt = str(daemon.inst.apt_log)
    assert (
        f'watchman_events_in_total{{source="apt:{apt}",stage="ingest",topic="watchman.raw.packages"}} 4.0'
        in text
    )
    process = 'source="processors.packages",stage="process",topic="watchman.raw.packages"'
    assert f"watchman_events_in_total{{{process}}} 4.0" in text
    assert 'watchman_consumer_lag{group="projections",topic="watchman.events.packages"} 0.0' in text
    assert 'watchman_build_info{deployment="embedded",role="daemon",version="0.1.0"} 1.0' in text
    for name in (
        "watchman_batch_seconds_bucket",
        "watchman_projection_apply_seconds_count",
        "watchman_dead_letters_total",
        f'watchman_producer_cursor_age_seconds{{source="apt:{apt}"}}',
    ):
        assert name in text, name


def test_rotating_the_token_takes_effect_without_a_restart(daemon: Running) -> None:
    old = daemon.token()
    daemon.inst.cli("token", "rotate", "--yes")
    new = daemon.token()
    assert new != old and len(new) >= 40
    assert stat.S_IMODE(daemon.token_file.stat().st_mode) == 0o600
    with daemon.client(old) as c:
        assert c.get("/admin/metrics").status_code == 401
    with daemon.client(new) as c:
        assert c.get("/admin/metrics").status_code == 200
    assert daemon.inst.cli("token", "show").stdout.strip() == new


def test_query_command_goes_through_the_api(daemon: Running) -> None:
    rows = daemon.inst.query("last-updated", "-p", "name=nginx")
    assert rows[0]["version"] == "1.24.0-1"
    # A CLI user's COPY is refused like an API caller's.
    proc = daemon.inst.cli("query", "COPY (MATCH (h:Host) RETURN h.name) TO '/tmp/leak2.csv'", check=False)
    assert proc.returncode == 1 and "files" in proc.stderr


def test_openapi_is_published(daemon: Running) -> None:
    doc = httpx.get(daemon.url + "/openapi.json", timeout=10).json()
    assert {"/health", "/admin/metrics", "/admin/packages", "/query", "/admin/scan", "/admin/replay"} <= set(
        doc["paths"]
    )
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert httpx.get(daemon.url + "/docs", timeout=10).status_code == 200


# The OpenAPI document does not depend on the backend, so it is built here at collection time; the
# generated requests go over HTTP to the real daemon of the fixture.
schema = schemathesis.openapi.from_dict(create_app(None, None).openapi())  # type: ignore[arg-type]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_and_never_fails_with_5xx(
    case: schemathesis.Case, daemon: Running
) -> None:
    """Generated requests (valid and invalid) get documented answers, never a server error.

    Three checks are left out, on purpose: positive_data_acceptance (a schema-valid body may still be a
    400: Cypher that does not parse, a catalog parameter the named query does not take; the schema cannot
    say that), allow_header_conformance (Starlette answers 405 with the Allow header of the first route
    on a path, a known Starlette limitation, not ours to work around) and negative_data_rejection: it
    reports requests it believes invalid that were sent valid (an extra query parameter whose generated
    value serialises to nothing, so `?vault_id=v` alone arrives; the Authorization header it removed and
    this test adds back): about half the runs here with the wave-2 endpoints. What it would catch is
    tested directly: unknown and repeated query parameters and lax booleans are 422s
    (tests/integration/test_api_limits.py)."""
    case.call_and_validate(
        base_url=daemon.url,
        headers={"Authorization": f"Bearer {daemon.token()}"},
        excluded_checks=[
            checks.positive_data_acceptance,
            checks.allow_header_conformance,
            checks.negative_data_rejection,
        ],
    )
