"""`watchman plot` draws a time-series question to a PNG a test opens (size, a drawn line), through the
running daemon's API and on the graph directly; the API serves the same series as JSON."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image

from producers.resources.sampler import HostSampler
from projections.stores.ladybug import LadybugStore
from watchman import settings as settings_mod
from watchman.bus.sqlite_log import SqliteLog
from watchman.pipeline import EmbeddedPipeline

SAMPLES = 6
LINE = (31, 119, 180)  # matplotlib's first colour, C0 (#1f77b4)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose graph holds SAMPLES real host samples, a minute apart, ending now."""
    root = tmp_path_factory.mktemp("plot")
    config = root / "watchman.toml"
    config.write_text(
        f'data_dir = "{root / "data"}"\nhost = "testhost"\napi_listen = "127.0.0.1:0"\npoll_interval = 0.05\n'
        "[packages]\napt = []\ndpkg = []\ndnf_rpm = []\ndnf = []\ndnf5 = []\nbrew = []\ndpkg_status = []\n"
        "rpmdb = []\n[resources]\nenabled = false\n"
    )
    s = settings_mod.load(config, network={"enabled": False}, journald={"enabled": False},
                          docker={"enabled": False}, services={"metrics_enabled": False})  # fmt: skip
    s.data_dir.mkdir(parents=True)
    log = SqliteLog(Path(s.bus_url[len("sqlite://") :]))
    graph = LadybugStore(Path(s.graph_url[len("ladybug://") :]))
    clock = [datetime.now(UTC) - timedelta(minutes=SAMPLES)]
    pipeline = EmbeddedPipeline(log, graph, [HostSampler("testhost", interval=60, clock=lambda: clock[0])],
                                host="testhost")  # fmt: skip
    for _ in range(SAMPLES):
        pipeline.drain()
        clock[0] += timedelta(minutes=1)
    pipeline.close()
    graph.close()
    log.close()
    return config


def env(config: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("WATCHMAN_")}
    return {**e, "WATCHMAN_CONFIG": str(config), "WATCHMAN_NETWORK__ENABLED": "false",
            "WATCHMAN_JOURNALD__ENABLED": "false", "WATCHMAN_DOCKER__ENABLED": "false",
            "WATCHMAN_SERVICES__METRICS_ENABLED": "false", "WATCHMAN_AUTHLOG__ENABLED": "false"}  # fmt: skip


def plot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watchman", "plot", *args], env=env(config),
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def check_png(path: Path) -> None:
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (1000, 450)
        rgb = img.convert("RGB")
        drawn = sum(
            1
            for px in rgb.get_flattened_data()
            if all(abs(a - b) < 30 for a, b in zip(px, LINE, strict=True))
        )
    assert drawn > 200, f"only {drawn} pixels of the line colour"


@pytest.fixture(scope="module")
def daemon(data: Path) -> Iterator[tuple[str, str]]:
    from watchman.daemon import Daemon

    s = settings_mod.load(data, network={"enabled": False}, journald={"enabled": False},
                          docker={"enabled": False}, services={"metrics_enabled": False})  # fmt: skip
    d = Daemon(s)
    url = d.start_api()
    runner = threading.Thread(target=d.run, daemon=True)
    runner.start()
    try:
        yield url, s.api_token_path.read_text().strip()
    finally:
        d.stop.set()
        runner.join(60)


def test_plot_through_the_daemon_writes_a_png_and_the_api_serves_the_series(
    data: Path, daemon: tuple[str, str], tmp_path: Path
) -> None:
    url, token = daemon
    out = tmp_path / "cpu.png"
    done = plot(data, "metric-series", "-p", "series=memory.used_percent", "--since", "2h", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"({SAMPLES} points)" in done.stderr
    check_png(out)

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.get("/admin/series/metric-series", params={"series": "memory.used_percent", "since": "2h"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert list(body["series"]) == ["value"] and len(body["series"]["value"]) == SAMPLES
        assert all(0 < p["value"] < 100 for p in body["series"]["value"])
        cores = c.get("/admin/series/cpu-per-core", params={"since": "2h"}).json()["series"]
        assert "cpu.core0" in cores
        assert c.get("/admin/series/disk-usage").status_code == 400  # not a time series
        assert c.get("/admin/series/metric-series", params={"since": "soon"}).status_code == 400
        now = c.get("/admin/resources").json()
        assert now["host"]["rows"][0]["host"] == "testhost"
        assert any(r["mount"] == "/" for r in now["filesystems"]["rows"])


def test_plot_on_the_graph_directly_svg_and_terminal(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "cores.svg"
    done = plot(data, "cpu-per-core", "--since", "2h", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text().lstrip().startswith("<?xml") and "cpu.core0" in out.read_text()
    term = plot(data, "metric-series", "-p", "series=load1", "--since", "2h")
    assert term.returncode == 0, term.stderr
    assert "metric-series series=load1 (last 2h)" in term.stdout
    bad = plot(data, "disk-usage")
    assert bad.returncode == 2 and "not a time-series query" in bad.stderr
    now = subprocess.run([sys.executable, "-m", "watchman", "resources", "now"], env=env(data),
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert now.returncode == 0, now.stderr
    assert "filesystems" in now.stdout and "testhost" in now.stdout and "memory_used_percent" in now.stdout
