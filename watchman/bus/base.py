"""The bus port: an append-only, partitioned log of records with consumer-group positions."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from schemas.model import Topic
from schemas.topics import partition_for

__all__ = ["Bus", "Record", "StoredRecord", "UnknownTopic", "partition_for"]

# How often the default `wait_for_records` asks the log for its end offsets (and looks at `stop`).
END_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Record:
    key: str
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str
    value: bytes
    headers: Mapping[str, str]


class UnknownTopic(KeyError):
    """The topic was never created on this bus."""


class Bus(ABC):
    """What producers, processors and projections need from a log such as Kafka.

    Offsets are per partition and start at 0. A committed position is the NEXT offset to read.
    `append` returns only after the records are durable (acknowledged).
    """

    @abstractmethod
    def ensure_topics(self, topics: Iterable[Topic]) -> None: ...

    @abstractmethod
    def partitions(self, topic: str) -> int: ...

    @abstractmethod
    def append(self, topic: str, records: Sequence[Record]) -> list[tuple[int, int]]:
        """Append records (partitioned by key); return (partition, offset) of each, in order."""

    @abstractmethod
    def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[StoredRecord]:
        """Records of one partition from `offset` on (records removed by retention are skipped)."""

    @abstractmethod
    def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the offset the next appended record will get."""

    @abstractmethod
    def start_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the oldest offset still retained (== end offset when empty)."""

    @abstractmethod
    def commit(self, group: str, topic: str, positions: Mapping[int, int]) -> None:
        """Store, for a consumer group, the next offset to read per partition."""

    @abstractmethod
    def committed(self, group: str, topic: str) -> dict[int, int]:
        """The committed positions of a group (partitions never committed are absent)."""

    @abstractmethod
    def close(self) -> None: ...

    def wait_for_records(
        self,
        positions: Mapping[tuple[str, int], int],
        timeout: float,
        stop: threading.Event | None = None,
    ) -> bool:
        """Block until a partition holds a record at or past its position, `timeout` seconds pass or
        `stop` is set. `positions` maps (topic, partition) to the next offset to read. True when records
        are there to read; False on timeout or stop.

        This default polls `end_offsets` every END_POLL_SECONDS: cheap on a local log. A bus whose
        server can hold a request until records arrive overrides it.
        """
        deadline = time.monotonic() + timeout
        by_topic: dict[str, dict[int, int]] = {}
        for (topic, partition), offset in positions.items():
            by_topic.setdefault(topic, {})[partition] = offset
        while stop is None or not stop.is_set():
            for topic, wanted in by_topic.items():
                ends = self.end_offsets(topic)
                behind = {p: o for p, o in wanted.items() if ends.get(p, 0) > o}
                if not behind:
                    continue
                # A position below the oldest retained record: only what is still there counts, or a
                # log emptied by retention would wake the caller for ever.
                starts = self.start_offsets(topic)
                if any(ends[p] > max(o, starts.get(p, 0)) for p, o in behind.items()):
                    return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            pause = min(END_POLL_SECONDS, remaining)
            if stop is None:
                time.sleep(pause)
            elif stop.wait(pause):
                break
        return False

    def lag(self, group: str, topic: str) -> dict[int, int]:
        """Records not yet consumed by `group`, per partition."""
        done = self.committed(group, topic)
        start = self.start_offsets(topic)
        return {p: end - max(done.get(p, 0), start.get(p, 0)) for p, end in self.end_offsets(topic).items()}

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
