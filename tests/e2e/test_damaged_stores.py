"""A damaged log, a damaged graph, a lost WAL: said clearly, never a traceback; the graph rebuilt when it
can be (it is a projection), the way back named when it cannot (the log is the truth)."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.histories import History, generate, write
from tests.support.instance import Instance

SESSIONS = 300  # about 1.4k changes


@pytest.fixture(scope="module")
def history() -> History:
    return generate(SESSIONS, start=datetime(2023, 1, 1), seed=11)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, history: History) -> dict[str, object]:
    inst = _instance(tmp_path_factory.mktemp("clean"), history)
    inst.cli("run", "--once")
    return inst.graph_dump()


def _instance(root: Path, h: History) -> Instance:
    inst = Instance(root)
    inst.write_config(batch_size=300)
    write(h, inst.apt_log, inst.dpkg_log)
    return inst


def _scribble(path: Path, first_page: int, pages: int, page_size: int = 4096) -> None:
    with path.open("r+b") as f:
        f.seek(first_page * page_size)
        f.write(bytes([0xDE, 0xAD, 0xBE, 0xEF]) * (pages * page_size // 4))


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "Error:" not in proc.stderr.replace("error:", ""), proc.stderr


def test_a_damaged_log_is_named_with_the_way_back_by_every_command(tmp_path: Path, history: History) -> None:
    inst = _instance(tmp_path, history)
    inst.cli("run", "--once")
    log = inst.data_dir / "log.sqlite"
    _scribble(log, 50, 4)
    for args in (("check",), ("status",), ("run", "--once"), ("replay",)):
        proc = inst.cli(*args, check=False)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        _no_traceback(proc)
        assert "is damaged" in proc.stderr and ".dump" in proc.stderr and "backup" in proc.stderr, args
    assert not (inst.data_dir / "graph.replay").exists()

    # The way back the message names: salvage what SQLite can read, then replay.
    log.rename(log.with_name("log.sqlite.damaged"))
    for suffix in ("-wal", "-shm"):
        log.with_name("log.sqlite" + suffix).unlink(missing_ok=True)
    salvage = proc.stderr.split("salvage what SQLite can still read: `")[1].split("`")[0]
    subprocess.run(["sh", "-c", salvage], check=True)
    assert inst.cli("check").returncode == 0
    inst.cli("replay")
    inst.cli("run", "--once")
    assert inst.cli("status").returncode == 0


def test_a_damaged_graph_is_moved_aside_and_rebuilt_by_the_daemon(
    tmp_path: Path, history: History, clean: dict[str, object]
) -> None:
    inst = _instance(tmp_path, history)
    inst.cli("run", "--once")
    _scribble(inst.data_dir / "graph" / "graph.lbug", 2, 4)
    for args in (("check",), ("status",)):
        proc = inst.cli(*args, check=False)
        assert proc.returncode == 1, (args, proc.stderr)
        _no_traceback(proc)
        assert "the graph cannot be opened" in proc.stderr
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        headers = {"Authorization": f"Bearer {(inst.data_dir / 'api.token').read_text().strip()}"}
        api = (inst.data_dir / "api.url").read_text().strip()
        metrics = httpx.get(api + "/admin/metrics", headers=headers, timeout=30).text
        assert 'watchman_graph_rebuilds_total{reason="unreadable"} 1.0' in metrics
        deadline = time.monotonic() + 120
        while inst.cli("status", "--json").stdout.count('"graph_lag": 0') == 0:
            assert time.monotonic() < deadline, inst.daemon_log()
            time.sleep(0.3)
    finally:
        assert inst.stop(proc) == 0
    assert "moved it to" in inst.daemon_log() and "rebuilding it from the event log" in inst.daemon_log()
    assert len(list(inst.data_dir.glob("graph.corrupt-*"))) == 1
    assert inst.graph_dump() == clean
    assert inst.cli("check").returncode == 0


def _halves(h: History) -> tuple[History, History]:
    """The history before and from the middle session on (no change's two tellings cross the cut)."""
    starts = [i for i, line in enumerate(h.apt) if line.startswith("Start-Date: ")]
    at = starts[len(starts) // 2]
    cut = h.apt[at].removeprefix("Start-Date: ").replace("  ", " ")
    n = sum(1 for d in h.dpkg if d[:19] < cut)
    return History(apt=h.apt[:at], dpkg=h.dpkg[:n]), History(apt=h.apt[at:], dpkg=h.dpkg[n:])


def _append(inst: Instance, h: History) -> None:
    with inst.apt_log.open("a") as f:
        f.write("\n".join(h.apt) + "\n")
    with inst.dpkg_log.open("a") as f:
        f.write("\n".join(h.dpkg) + "\n")


def _caught_up(inst: Instance) -> bool:
    st = orjson.loads(inst.cli("status", "--json").stdout)
    return (
        st.get("graph_lag") == 0
        and all(c["lag"] == 0 for c in st["consumers"].values())
        and all(
            s["cursor"]["offset"] == Path(name.split(":", 1)[1]).stat().st_size
            for name, s in st["sources"].items()
            if name.startswith(("apt:", "dpkg:"))
        )
    )


def test_after_a_lost_wal_the_graph_ahead_of_the_log_is_rebuilt_not_doubled(
    tmp_path: Path, history: History
) -> None:
    first, second = _halves(history)
    # The clean run, in the same two steps.
    clean = _instance(tmp_path / "clean", first)
    clean.cli("run", "--once")
    _append(clean, second)
    clean.cli("run", "--once")
    expected = clean.graph_dump()
    assert len(expected["events"]) == history.changes

    inst = _instance(tmp_path / "lost", first)
    inst.cli("run", "--once")  # closed cleanly: the first half is checkpointed into log.sqlite
    _append(inst, second)
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        deadline = time.monotonic() + 120
        while not _caught_up(inst):
            assert time.monotonic() < deadline, inst.daemon_log()
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    wal = inst.data_dir / "log.sqlite-wal"
    assert wal.stat().st_size > 0, "the test needs the second half in the WAL only"
    wal.unlink()
    (inst.data_dir / "log.sqlite-shm").unlink(missing_ok=True)

    status = inst.cli("status", check=False)
    assert status.returncode == 1
    _no_traceback(status)
    assert "past the end of the event log" in status.stderr
    out = inst.cli("run", "--once")
    assert "rebuilding it from the log" in out.stderr
    assert len(list(inst.data_dir.glob("graph.ahead-*"))) == 1
    got = inst.graph_dump()
    assert len(got["events"]) == history.changes  # none doubled
    assert got == expected
    assert inst.cli("status").returncode == 0
