"""Processor tables in the embedded log: a batch cache commits with its transaction, or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchman.bus.sqlite_log import SqliteLog
from watchman.state import SqliteTable


def test_batch_writes_commit_with_the_transaction(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "l.sqlite")
    table = SqliteTable(log, "t")
    with log.transaction(), table.batch():
        table.set("a", {"n": 1})
        table.set("a", {"n": 2})
        assert table.get("a") == {"n": 2}
        table.set("b", [1])
        table.delete("b")
    again = SqliteTable(SqliteLog(tmp_path / "l.sqlite"), "t")
    assert again.get("a") == {"n": 2}
    assert again.get("b") is None


def test_batch_after_rollback_serves_no_stale_values(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "l.sqlite")
    table = SqliteTable(log, "t")
    table.set("a", 1)
    with pytest.raises(RuntimeError), log.transaction(), table.batch():
        table.set("a", 2)
        assert table.get("a") == 2
        raise RuntimeError("crash mid-batch")
    assert table.get("a") == 1
    with log.transaction(), table.batch():
        assert table.get("a") == 1
