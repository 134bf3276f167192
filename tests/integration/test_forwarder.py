"""The producer's spool forwarder: nothing lost, nothing reordered, while the target bus fails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from schemas.core import DLQ
from schemas.events.packages import RAW_PACKAGES
from watchman.bus.base import Record
from watchman.bus.sqlite_log import SqliteLog
from watchman.forwarder import GROUP, Forwarder


class FlakyLog(SqliteLog):
    """A real SQLite log whose appends fail while `down` is set: a stand-in for a broker outage."""

    down = False

    def append(self, topic: str, records: Sequence[Record]) -> list[tuple[int, int]]:
        if self.down:
            raise ConnectionError("broker down")
        return super().append(topic, records)

    def ensure_topics(self, topics: object) -> None:
        if self.down:
            raise ConnectionError("broker down")
        super().ensure_topics(topics)  # type: ignore[arg-type]


def _values(log: SqliteLog) -> Mapping[int, list[bytes]]:
    return {
        p: [r.value for r in log.read(RAW_PACKAGES.name, p, 0, 100_000)]
        for p in range(log.partitions(RAW_PACKAGES.name))
    }


def test_spool_survives_an_outage_and_catches_up_in_order(tmp_path: Path) -> None:
    spool = SqliteLog(tmp_path / "spool.sqlite")
    spool.ensure_topics([RAW_PACKAGES, DLQ])
    target = FlakyLog(tmp_path / "bus.sqlite")
    target.down = True
    fwd = Forwarder(spool, target, [RAW_PACKAGES, DLQ], batch_size=7, ensure=[RAW_PACKAGES, DLQ])
    spool.append(RAW_PACKAGES.name, [Record(f"h/p{i % 5}", f"{i}".encode()) for i in range(50)])
    assert fwd.forward_once() == 0
    assert fwd.failing
    assert fwd.backlog() == 50
    spool.append(RAW_PACKAGES.name, [Record(f"h/p{i % 5}", f"{i}".encode()) for i in range(50, 80)])
    target.down = False
    fwd._retry_at = 0  # skip the back-off wait
    while fwd.forward_once():
        pass
    assert not fwd.failing
    assert fwd.backlog() == 0
    assert _values(target) == _values(spool)
    assert sum(spool.lag(GROUP, RAW_PACKAGES.name).values()) == 0
