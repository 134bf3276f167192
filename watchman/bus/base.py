"""The bus port: an append-only, partitioned log of records with consumer-group positions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from schemas.topics import Topic, partition_for

__all__ = ["Bus", "Record", "StoredRecord", "UnknownTopic", "partition_for"]


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

    def lag(self, group: str, topic: str) -> dict[int, int]:
        """Records not yet consumed by `group`, per partition."""
        done = self.committed(group, topic)
        start = self.start_offsets(topic)
        return {p: end - max(done.get(p, 0), start.get(p, 0)) for p, end in self.end_offsets(topic).items()}

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
