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


def test_hot_keys_serve_committed_values_across_batches(tmp_path: Path) -> None:
    """With hot_keys, a key a committed batch used is served from memory by the next batches (so a value
    removed behind the table's back is still seen: only the table writes its namespace), at most
    `hot_keys` of them, the least recently used out first; without, every batch reads the log."""
    log = SqliteLog(tmp_path / "l.sqlite")
    hot, cold = SqliteTable(log, "t", hot_keys=2), SqliteTable(log, "t")
    for table in (hot, cold):
        with log.transaction(), table.batch():
            table.set("a", 1)
            table.set("b", 2)
        table.committed()
    log.kv_delete("table:t", "a")
    with log.transaction(), hot.batch(), cold.batch():
        assert hot.get("a") == 1
        assert cold.get("a") is None
        hot.set("c", 3)  # the third key: "b", used least recently, goes
    hot.committed()
    log.kv_delete("table:t", "b")
    log.kv_delete("table:t", "c")
    with log.transaction(), hot.batch():
        assert (hot.get("a"), hot.get("b"), hot.get("c")) == (1, None, 3)


def test_hot_keys_never_keep_what_did_not_commit(tmp_path: Path) -> None:
    """A batch whose transaction rolled back after the batch ended (its writes were already handed to the
    log) leaves nothing in memory once discard() is called, nor if committed() is never called."""
    log = SqliteLog(tmp_path / "l.sqlite")
    table = SqliteTable(log, "t", hot_keys=10)
    with log.transaction(), table.batch():
        table.set("a", 1)
    table.committed()
    with pytest.raises(RuntimeError), log.transaction():
        with table.batch():
            table.set("a", 2)
        raise RuntimeError("the commit failed")
    table.discard()
    with log.transaction(), table.batch():
        assert table.get("a") == 1
        table.set("a", 3)
    # never confirmed: the next batch must not see 3 from memory (the log has it: it committed)
    log.kv_put("table:t", "a", b"4")
    with log.transaction(), table.batch():
        assert table.get("a") == 4


def test_pipeline_inside_a_callers_transaction_keeps_no_hot_values(tmp_path: Path) -> None:
    """The pipeline promotes a batch's values only when no outer transaction can still roll it back."""
    log = SqliteLog(tmp_path / "l.sqlite")
    table = SqliteTable(log, "t", hot_keys=10)
    with log.transaction():
        assert log.in_transaction
        with log.transaction(), table.batch():
            table.set("a", 1)
        assert log.in_transaction  # what EmbeddedPipeline._process_route checks before committed()
    assert not log.in_transaction
