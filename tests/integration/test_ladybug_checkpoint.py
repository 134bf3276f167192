"""LadybugStore checkpoints after writes (once a minute, or after CHECKPOINT_OPS operations), so a daemon
that overwrites the same nodes every minute does not keep every row version in memory (see the store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import projections.stores.ladybug as ladybug_store
from projections.graph_ops import UpsertNode
from projections.stores.ladybug import LadybugStore

T = datetime(2026, 1, 1, tzinfo=UTC)


def points(i: int) -> list[UpsertNode]:
    ts = T + timedelta(minutes=i)
    return [
        UpsertNode(
            "MetricPoint",
            f"h|s{s}|m|0",
            {
                "host": "h",
                "series": f"s{s}",
                "resolution": "m",
                "ts": ts,
                "value": float(i),
                "max": 1.0,
                "updated_at": ts,
            },
            ts=ts,
        )
        for s in range(20)
    ]


def wal_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.wal"))


def test_updates_are_checkpointed_once_the_interval_or_the_count_is_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ladybug_store, "CHECKPOINT_SECONDS", 3600.0)
    monkeypatch.setattr(ladybug_store, "CHECKPOINT_OPS", 100)
    with LadybugStore(tmp_path / "g") as store:
        store.ensure_schema()
        store.apply(points(0), {"t/0": 0})
        store.apply(points(1), {"t/0": 1})
        assert wal_bytes(tmp_path / "g") > 0  # 40 operations: not yet
        for i in range(2, 5):
            store.apply(points(i), {"t/0": i})
        assert wal_bytes(tmp_path / "g") == 0  # 100 operations: checkpointed
        monkeypatch.setattr(ladybug_store, "CHECKPOINT_SECONDS", 0.0)  # "a minute later"
        store.apply(points(5), {"t/0": 5})
        assert wal_bytes(tmp_path / "g") == 0
        rows = store.query("MATCH (p:MetricPoint) RETURN count(p), max(p.value)", {}, read_only=True).rows
        assert rows == [[20, 5.0]]
