"""Prometheus side of operations: promtool checks, and every dashboard panel run on a real Prometheus."""

from __future__ import annotations

import json
import math
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml

from tests.support.instance import Instance

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "infra" / "prometheus"
RULES = PROMETHEUS_DIR / "rules" / "watchman.rules.yml"
RULE_TESTS = PROMETHEUS_DIR / "rules" / "watchman.rules.test.yml"
DASHBOARDS = sorted((ROOT / "infra" / "grafana" / "dashboards").glob("*.json"))
SCRAPE_SECONDS = 1
# Grafana's built-in variables, as a dashboard over the last few minutes of a 1 s scrape would set them
# ($__rate_interval is at least four scrape intervals; 15 s gives every rate several samples).
BUILTINS = {"$__rate_interval": "15s", "$__interval": "2s", "$__range": "5m"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, check=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_mounted(tmp: Path) -> Path:
    """infra/prometheus as the compose Prometheus sees it in /etc/prometheus, the token secret included."""
    etc = tmp / "etc-prometheus"
    shutil.copytree(PROMETHEUS_DIR, etc)
    (etc / "secrets").mkdir()
    (etc / "secrets" / "watchman_metrics_token").write_text("not-a-real-token\n")
    return etc / "prometheus.yml"


# -- promtool -------------------------------------------------------------------------------------


def test_promtool_checks_the_compose_config(tmp_path: Path) -> None:
    proc = _promtool("check", "config", str(_as_mounted(tmp_path)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 1 rule files found" in proc.stdout + proc.stderr


def test_promtool_checks_the_rules() -> None:
    proc = _promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} >= {
        "WatchmanConsumerStalled",
        "WatchmanConsumerLagGrowing",
        "WatchmanDeadLettersGrowing",
    }


def test_promtool_unit_tests_cover_every_alert_firing_and_silent() -> None:
    proc = _promtool("test", "rules", str(RULE_TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    alerts = {r["alert"] for r in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]}
    firing: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    assert firing == alerts, f"alerts never shown firing: {alerts - firing}"
    assert silent == alerts, f"alerts never shown silent: {alerts - silent}"


def test_rule_expressions_parse_with_promql_parser() -> None:
    for rule in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]:
        promql_parser.parse(rule["expr"])


def test_dashboards_json_is_what_build_py_writes() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "grafana" / "build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


# -- a real Prometheus scraping a running embedded daemon ------------------------------------------


@dataclass
class Pipeline:
    instance: Instance
    api_url: str
    token_file: Path


def _apt_entry(ts: datetime, package: str, version: str) -> str:
    start = ts.strftime("%Y-%m-%d  %H:%M:%S")
    return (
        f"\nStart-Date: {start}\nCommandline: apt install {package}\nRequested-By: alice (1000)\n"
        f"Install: {package}:amd64 ({version})\nEnd-Date: {start}\n"
    )


def _feed(inst: Instance, stop: threading.Event) -> None:
    """Package installs, a few a second, as apt and dpkg write them, so every rate has something to count."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    for i in range(2000):  # bounded even if nobody sets stop
        if stop.wait(0.25):
            return
        ts = base + timedelta(seconds=i)
        stamp = ts.strftime("%Y-%m-%d %H:%M:%S")
        with inst.dpkg_log.open("a") as f:
            f.write(f"{stamp} install pkg{i}:amd64 <none> 1.{i}-1\n")
        with inst.apt_log.open("a") as f:
            f.write(_apt_entry(ts, f"pkg{i}", f"1.{i}-1"))


def _wait(what: str, check: Any, timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} not within {timeout}s (last: {last!r})")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    inst = Instance(tmp_path_factory.mktemp("watchman"))
    inst.write_config()
    inst.dpkg_log.parent.mkdir(parents=True)
    inst.apt_log.parent.mkdir(parents=True)
    # One line no parser understands: the dead-letter panels need a dead letter.
    inst.dpkg_log.write_text("2024-05-01 10:00:00 install jq:amd64 <none> 1.6-2\nthis is not a dpkg line\n")
    inst.apt_log.write_text("")
    proc = inst.start()
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(inst, stop), name="feed-logs", daemon=True)
    try:
        inst.wait_ready(proc)
        url_file = inst.data_dir / "api.url"
        _wait("api.url", url_file.exists, 30)
        api_url = url_file.read_text().strip()
        _wait("/health", lambda: httpx.get(f"{api_url}/health", timeout=2).status_code == 200, 30)
        feeder.start()
        yield Pipeline(inst, api_url, inst.data_dir / "api.token")
    finally:
        stop.set()
        if feeder.is_alive():
            feeder.join(timeout=10)
        code = inst.stop(proc)
    assert code == 0, inst.daemon_log()


@pytest.fixture(scope="module")
def prometheus(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("prometheus")
    target = pipeline.api_url.removeprefix("http://").rstrip("/")
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                # As in infra/prometheus/prometheus.yml: the admin API, with the metrics-only token.
                "job_name": "watchman",
                "metrics_path": "/admin/metrics",
                "authorization": {
                    "type": "Bearer",
                    "credentials_file": str(pipeline.instance.data_dir / "metrics.token"),
                },
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    config_file = root / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    check = _promtool("check", "config", str(config_file))
    assert check.returncode == 0, check.stdout + check.stderr
    port = _free_port()
    log = (root / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config_file}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait("Prometheus ready", lambda: proc.poll() is None and httpx.get(f"{base}/-/ready").is_success, 60)
        # A handful of successful scrapes, so every rate over 15 s has samples to work with.
        _wait(
            "8 successful scrapes",
            lambda: _query(base, 'sum_over_time(up{job="watchman"}[1m]) >= 8'),
            90,
            interval=1,
        )
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _variables(board: dict[str, Any]) -> dict[str, str]:
    """Each template variable as Grafana sends it with "All" selected: its allValue regex."""
    return {f"${v['name']}": v["allValue"] for v in board["templating"]["list"]}


def _substitute(expr: str, variables: dict[str, str]) -> str:
    # longest names first: $__rate_interval before $__range, $instance before $in...
    for name in sorted({**BUILTINS, **variables}, key=len, reverse=True):
        expr = expr.replace(name, {**BUILTINS, **variables}[name])
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def _panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel, PromQL) for every target of every panel, variables substituted."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        variables = _variables(board)
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((board["title"], panel["title"], _substitute(target["expr"], variables)))
    return out


def test_there_are_two_dashboards_with_panels() -> None:
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS}
    assert titles == {"Watchman pipeline health", "Watchman package activity"}
    assert len(_panel_queries()) >= 15


def test_every_panel_query_parses_with_promql_parser() -> None:
    for board, panel, expr in _panel_queries():
        try:
            promql_parser.parse(expr)
        except Exception as exc:  # the parser raises plain exceptions
            raise AssertionError(f"{board} / {panel}: {expr}: {exc}") from None


def assert_every_panel_has_data(
    prometheus: str, api_url: str, token_file: Path, status_api: str = ""
) -> None:
    """Every target of every panel returns at least one number from `prometheus`, once a command has
    run (through the API at api_url; its outcome polled at status_api, the process with the graph)."""
    token = token_file.read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    accepted = httpx.post(f"{api_url.rstrip('/')}/admin/scan", json={}, headers=headers, timeout=10)
    assert accepted.status_code == 202, accepted.text
    status_url = (status_api or api_url).rstrip("/") + accepted.json()["status_url"]
    _wait(
        "the scan command to run",
        lambda: (
            httpx.get(status_url, headers=headers, timeout=5).json().get("status") not in (None, "pending")
        ),
        60,
    )
    queries = _panel_queries()
    deadline = time.monotonic() + 60
    while True:
        empty = []
        for board, panel, expr in queries:
            values = [float(r["value"][1]) for r in _query(prometheus, expr)]
            if not any(not math.isnan(v) for v in values):
                empty.append(f"{board} / {panel}: {expr} -> {values}")
        # The command counter appears with the scrape after the command ran: allow a few scrapes.
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(SCRAPE_SECONDS)
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_every_panel_returns_data_from_a_real_prometheus(pipeline: Pipeline, prometheus: str) -> None:
    assert_every_panel_has_data(prometheus, pipeline.api_url, pipeline.token_file)


def test_package_panels_see_each_log_source(prometheus: str) -> None:
    by_source = _query(
        prometheus,
        'sum by (source) (watchman_events_in_total{stage="ingest", topic="watchman.raw.packages"})',
    )
    sources = {r["metric"]["source"].split(":")[0] for r in by_source if float(r["value"][1]) > 0}
    assert {"apt", "dpkg"} <= sources
    # every source's series exists from the start (at zero); only dpkg had a malformed line
    dead = _query(prometheus, 'watchman_dead_letters_total{stage="ingest"} > 0')
    assert [(r["metric"]["source"].split(":")[0], r["value"][1]) for r in dead] == [("dpkg", "1")]


def test_template_variables_have_values(prometheus: str) -> None:
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        variables = _variables(board)
        for var in board["templating"]["list"]:
            m = re.fullmatch(r"label_values\((.*), (\w+)\)", var["query"])
            assert m, var["query"]
            match, label = _substitute(m.group(1), variables), m.group(2)
            r = httpx.get(f"{prometheus}/api/v1/label/{label}/values", params={"match[]": match}, timeout=10)
            assert r.json()["data"], f"{board['title']}: variable {var['name']} has no values"
            all_value = re.compile(var["allValue"])
            assert all(all_value.fullmatch(v) for v in r.json()["data"]), (var["name"], r.json()["data"])


def test_alert_rules_load_and_evaluate_in_a_real_prometheus(prometheus: str) -> None:
    def loaded() -> list[dict[str, Any]]:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) else []

    rules = _wait("rules evaluated", loaded, 30)
    assert {r["health"] for r in rules} == {"ok"}, [(r["name"], r.get("lastError")) for r in rules]
    # A healthy pipeline fires nothing (the one dead letter was there before the first scrape: no growth).
    assert {r["name"] for r in rules if r["state"] == "firing"} == set()
