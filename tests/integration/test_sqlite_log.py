"""The bus suite against the embedded SQLite log, plus what only the embedded log offers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schemas.model import Topic
from tests.integration.bus_suite import BusSuite
from watchman.bus.base import Bus, Record
from watchman.bus.sqlite_log import SqliteLog


class TestSqliteLog(BusSuite):
    @pytest.fixture
    def bus(self, tmp_path: Path) -> Iterator[Bus]:
        b = SqliteLog(tmp_path / "log.sqlite")
        yield b
        b.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[Bus], Bus]:
        def _reopen(old: Bus) -> Bus:
            old.close()
            return SqliteLog(tmp_path / "log.sqlite")

        return _reopen


AGED = Topic("test.aged", partitions=1, retention_days=1)
SIZED = Topic("test.sized", partitions=2, retention_days=None, retention_bytes=100)


def test_retention_by_age_keeps_offsets(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "l.sqlite")
    log.ensure_topics([AGED])
    log.append(AGED.name, [Record("k", b"old")])
    now = int(time.time() * 1000)
    assert log.enforce_retention(now_ms=now + 2 * 86_400_000) == 1
    assert log.read(AGED.name, 0, 0) == []
    assert log.start_offsets(AGED.name) == {0: 1}
    # offsets are never reused after deletion
    assert log.append(AGED.name, [Record("k", b"new")]) == [(0, 1)]


def test_retention_by_size_drops_oldest(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "l.sqlite")
    log.ensure_topics([SIZED])
    log.append(SIZED.name, [Record("a", b"x" * 30) for _ in range(10)])
    deleted = log.enforce_retention()
    assert deleted > 0
    (p,) = {p for p, n in log.end_offsets(SIZED.name).items() if n}
    kept = log.read(SIZED.name, p, 0)
    assert 0 < sum(len(r.value) + len(r.key) for r in kept) <= 100
    assert kept[-1].offset == 9


def test_transaction_is_atomic(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "l.sqlite")
    log.ensure_topics([AGED])
    with pytest.raises(RuntimeError), log.transaction():
        log.append(AGED.name, [Record("k", b"a")])
        log.kv_put("cursors", "apt", b"{}")
        raise RuntimeError("crash in the middle")
    assert log.read(AGED.name, 0, 0) == []
    assert log.kv_get("cursors", "apt") is None


def _writer(path: str, n: int) -> None:
    log = SqliteLog(path)
    for i in range(n):
        with log.transaction():
            log.append("test.aged", [Record("k", str(i).encode())])
            log.kv_put("cursors", "w", str(i + 1).encode())


def test_kill_during_appends_keeps_cursor_and_log_in_step(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    log = SqliteLog(path)
    log.ensure_topics([AGED])
    log.close()
    proc = multiprocessing.get_context("spawn").Process(target=_writer, args=(str(path), 1_000_000))
    proc.start()
    time.sleep(1.5)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    log = SqliteLog(path)
    cursor = int(log.kv_get("cursors", "w") or b"0")
    assert cursor > 0
    assert log.end_offsets(AGED.name) == {0: cursor}
    assert [int(r.value) for r in log.read(AGED.name, 0, 0, max_records=cursor + 10)] == list(range(cursor))


def test_reader_in_other_connection_sees_committed_data(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    log = SqliteLog(path)
    log.ensure_topics([AGED])
    log.append(AGED.name, [Record("k", b"v")])
    ro = SqliteLog(path, read_only=True)
    assert [r.value for r in ro.read(AGED.name, 0, 0)] == [b"v"]
    ro.close()
