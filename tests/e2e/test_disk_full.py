"""A full disk: the daemon stays up degraded (status, /health, a metric), survives a restart while full,
resumes when space returns and loses nothing: the graph equals a clean run's, ids included.

The data directory is a real small filesystem (tmpfs, mounted here as root), filled with a file.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.graphs import assert_same_graph
from tests.support.histories import History, generate, write
from tests.support.instance import Instance

SESSIONS = 300  # about 1.4k changes: ~13 MB of log and graph, more than the room left


def _instance(root: Path, h: History) -> Instance:
    inst = Instance(root)
    inst.write_config(batch_size=300)
    write(h, inst.apt_log, inst.dpkg_log)
    return inst


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "full" / "data"
    where.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m,mode=0700", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def _health(inst: Instance) -> dict[str, Any]:
    api = (inst.data_dir / "api.url").read_text().strip()
    answer: dict[str, Any] = httpx.get(api + "/health", timeout=10).json()
    return answer


def _wait(what: str, inst: Instance, proc: subprocess.Popen[bytes], until: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the daemon died: {inst.daemon_log()}"
        try:
            if until():
                return
        except (OSError, httpx.HTTPError, ValueError):
            pass  # not answering yet
        assert time.monotonic() < deadline, f"not {what} after {timeout}s: {inst.daemon_log()}"
        time.sleep(0.3)


def _caught_up(inst: Instance) -> bool:
    st = orjson.loads(inst.cli("status", "--json", check=False).stdout)
    return (
        not st.get("problems")
        and st.get("graph_lag") == 0
        and all(c["lag"] == 0 for c in st["consumers"].values())
        and all(
            s["cursor"]["offset"] == Path(name.split(":", 1)[1]).stat().st_size
            for name, s in st["sources"].items()
            if name.startswith(("apt:", "dpkg:"))
        )
    )


@pytest.mark.parametrize(
    "where",
    [
        # The log fills the disk: SQLite says "database or disk is full".
        "log only",
        # The graph shares it: LadybugDB would abort the process on a full disk, so the daemon keeps
        # graph_min_free_mb free and degrades before the graph store runs out.
        "log and graph",
    ],
)
def test_a_full_disk_degrades_the_daemon_which_resumes_and_loses_nothing(
    tmp_path: Path, small_fs: Path, where: str
) -> None:
    history = generate(SESSIONS, start=datetime(2023, 1, 1), seed=11)
    clean = _instance(tmp_path / "clean", history)
    clean.cli("run", "--once")
    expected = clean.graph_dump()

    inst = _instance(tmp_path / "full", history)
    assert inst.data_dir == small_fs
    with inst.config.open("r+") as f:  # top-level keys go before the first [section]
        text = f.read()
        extra = (
            f'graph = "ladybug://{tmp_path / "graph"}"\ngraph_min_free_mb = 0\n'
            if where == "log only"
            else "graph_min_free_mb = 8\n"
        )
        f.seek(0)
        f.write(extra + text)
    filler = small_fs / "filler"
    filler.write_bytes(b"\0" * (28 * 1024 * 1024))  # ~12 MB left: less than the log and graph need
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        _wait("degraded", inst, proc, lambda: _health(inst)["status"] == "degraded")
        assert _health(inst)["detail"]["degraded"]["reason"] == "disk_full"
        token = (inst.data_dir / "api.token").read_text().strip()
        api = (inst.data_dir / "api.url").read_text().strip()
        metrics = httpx.get(api + "/admin/metrics", headers={"Authorization": f"Bearer {token}"}).text
        assert 'watchman_degraded{reason="disk_full"} 1.0' in metrics
        status = inst.cli("status", check=False)
        assert status.returncode == 1
        assert "DEGRADED  disk_full" in status.stdout and "free space in" in status.stderr
        assert "Traceback" not in status.stderr

        # Killed and restarted while the disk is still full: it comes back, still degraded.
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = inst.start()
        _wait("degraded again", inst, proc, lambda: _health(inst)["status"] == "degraded")

        filler.unlink()  # space returns
        _wait("resumed", inst, proc, lambda: _health(inst)["status"] == "ok" and _caught_up(inst))
    finally:
        if proc.poll() is None:
            assert inst.stop(proc) == 0
    reason = "database or disk is full" if where == "log only" else "below graph_min_free_mb"
    assert reason in inst.daemon_log()
    got = inst.graph_dump()
    assert len(got["events"]) == history.changes
    assert_same_graph(got, expected)
