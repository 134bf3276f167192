"""The dashboards on the distributed deployment: a real Prometheus scrapes produce, worker and project."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests.e2e.test_distributed import KAFKA, NEO4J, NEO4J_USER, reset_servers
from tests.integration.test_prometheus import (
    RULES,
    SCRAPE_SECONDS,
    _feed,
    _free_port,
    _promtool,
    _query,
    _wait,
    assert_every_panel_has_data,
)
from tests.support.instance import Instance

# Resets the infra/ Kafka topics and Neo4j: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

# The compose job names (infra/prometheus/prometheus.yml), one process each.
ROLES = {"produce": "watchman-producer", "worker": "watchman-worker", "project": "watchman-projector"}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, dict[str, str]]]:
    reset_servers()
    inst = Instance(tmp_path_factory.mktemp("distributed"))
    inst.write_config(bus=f"kafka://{KAFKA}", graph=NEO4J, neo4j_user=NEO4J_USER, batch_size=500)
    inst.dpkg_log.parent.mkdir(parents=True)
    inst.apt_log.parent.mkdir(parents=True)
    inst.dpkg_log.write_text("2024-05-01 10:00:00 install jq:amd64 <none> 1.6-2\nthis is not a dpkg line\n")
    inst.apt_log.write_text("")
    # One token for the three processes (one data directory), made before they race to create it.
    inst.cli("token", "show")
    inst.cli("token", "show", "--metrics")
    urls = {cmd: f"http://127.0.0.1:{_free_port()}" for cmd in ROLES}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(inst, stop), name="feed-logs", daemon=True)
    try:
        for cmd, url in urls.items():
            procs[cmd] = inst.start(cmd, "--api-listen", url.removeprefix("http://"))
        for cmd, url in urls.items():

            def healthy(cmd: str = cmd, url: str = url) -> bool:
                assert procs[cmd].poll() is None, inst.daemon_log(cmd)
                return httpx.get(f"{url}/health", timeout=2).status_code == 200

            _wait(f"{cmd} /health", healthy, 120, interval=0.5)
        feeder.start()
        yield inst, urls
    finally:
        stop.set()
        if feeder.is_alive():
            feeder.join(timeout=10)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def prometheus(
    deployment: tuple[Instance, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    inst, urls = deployment
    root = tmp_path_factory.mktemp("prometheus")
    token_file = inst.data_dir / "metrics.token"  # the metrics-only token, as in compose
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/admin/metrics",
                "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                "static_configs": [{"targets": [urls[cmd].removeprefix("http://")]}],
            }
            for cmd, job in ROLES.items()
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
        _wait(
            "8 successful scrapes of each process",
            lambda: len(_query(base, 'sum_over_time(up{job=~"watchman-.*"}[1m]) >= 8')) == len(ROLES),
            120,
            interval=1,
        )
        # Records all the way through: the projector has applied package events.
        _wait(
            "package events projected",
            lambda: _query(
                base, 'sum(watchman_events_in_total{stage="project", topic="watchman.events.packages"}) > 0'
            ),
            120,
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


def test_every_panel_returns_data_from_the_distributed_deployment(
    deployment: tuple[Instance, dict[str, str]], prometheus: str
) -> None:
    inst, urls = deployment
    # The scan command goes through the producer's API and runs on the producer; the projector
    # (which has the graph) reports its outcome.
    assert_every_panel_has_data(
        prometheus, urls["produce"], inst.data_dir / "api.token", status_api=urls["project"]
    )


def test_each_role_reports_build_info_and_its_own_stages(prometheus: str) -> None:
    roles = {
        r["metric"]["role"]: r["metric"]["job"]
        for r in _query(prometheus, 'watchman_build_info{deployment="distributed"}')
    }
    assert roles == {
        "producer": "watchman-producer",
        "worker": "watchman-worker",
        "projector": "watchman-projector",
    }
    stages = {
        (r["metric"]["job"], r["metric"]["stage"])
        for r in _query(prometheus, "sum by (job, stage) (watchman_events_in_total) > 0")
    }
    assert {
        ("watchman-producer", "ingest"),
        ("watchman-producer", "forward"),
        ("watchman-worker", "process"),
        ("watchman-projector", "project"),
    } <= stages


def test_no_alert_fires_on_a_healthy_deployment(prometheus: str) -> None:
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert rules and {r["health"] for r in rules} == {"ok"}
    assert {r["name"] for r in rules if r["state"] == "firing"} == set()
