"""The distributed event log as a backup input: the domain topics exported by a consumer into segment
files, and loaded back (into a scratch log to verify, an embedded log to restore under a directory, or the
same Kafka topics when they are empty).

Layout inside the archive (all under `watchman/topics/`):

    index.json                          {topic: {partition: {start, end, records, segments}}, ...}
    <topic>/<partition>/<first offset>.jsonl    one record a line: {"o", "ts", "k", "h", "v" (base64)}

Each partition is read from its oldest retained offset up to the end it had when the export began (the
ends are taken first), so every partition is a prefix of the live one: what the graph's per-partition
positions need for a replay. Segments hold at most SEGMENT_RECORDS records; they are written to a private
scratch directory (the one local copy, as for the embedded log's SQLite copy) and then streamed through
tar -> zstd -> age -> storage like any other backup.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from schemas.topics import DOMAIN_TOPICS
from watchman.bus.base import Bus, Record, UnknownTopic

ROOT = "watchman/topics"
INDEX = f"{ROOT}/index.json"
SEGMENT_RECORDS = 50_000
READ_BATCH = 2000


class TopicsError(Exception):
    """An export or load that cannot be done as asked (a segment that disagrees with its index, a
    topic that is not empty for a load in place)."""


def _segment_name(topic: str, partition: int, first: int) -> str:
    return f"{topic}/{partition:03d}/{first:020d}.jsonl"


@contextlib.contextmanager
def export(bus: Bus, scratch: Path) -> Iterator[Path]:
    """A directory holding `watchman/topics/...` for every domain topic the bus has; removed afterwards."""
    scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix="topics-", dir=scratch))
    try:
        root = tmp / ROOT
        root.mkdir(parents=True)
        ends: dict[str, dict[int, int]] = {}
        for t in DOMAIN_TOPICS:
            with contextlib.suppress(UnknownTopic):
                ends[t.name] = bus.end_offsets(t.name)  # first: the export stops there
        index: dict[str, dict[str, dict[str, Any]]] = {}
        for topic, topic_ends in ends.items():
            starts = bus.start_offsets(topic)
            index[topic] = {}
            for partition, end in sorted(topic_ends.items()):
                index[topic][str(partition)] = _export_partition(
                    bus, root, topic, partition, starts.get(partition, 0), end
                )
        (root / "index.json").write_bytes(orjson.dumps(index, option=orjson.OPT_SORT_KEYS))
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _export_partition(
    bus: Bus, root: Path, topic: str, partition: int, start: int, end: int
) -> dict[str, Any]:
    offset, n, segments = start, 0, []
    out: IO[bytes] | None = None
    in_segment = 0
    try:
        while offset < end:
            records = bus.read(topic, partition, offset, READ_BATCH)
            if not records:
                break
            for r in records:
                if r.offset >= end:
                    break
                if out is None or in_segment >= SEGMENT_RECORDS:
                    if out is not None:
                        out.close()
                    name = _segment_name(topic, partition, r.offset)
                    path = root / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    out, in_segment = path.open("wb"), 0
                    segments.append(name)
                line = {
                    "o": r.offset,
                    "ts": r.timestamp_ms,
                    "k": r.key,
                    "h": dict(r.headers),
                    "v": base64.b64encode(r.value).decode(),
                }
                out.write(orjson.dumps(line) + b"\n")
                in_segment += 1
                n += 1
            offset = records[-1].offset + 1
    finally:
        if out is not None:
            out.close()
    return {"start": start, "end": end, "records": n, "segments": segments}


def read_index(root: Path) -> dict[str, dict[str, dict[str, Any]]]:
    index: dict[str, dict[str, dict[str, Any]]] = orjson.loads((root / INDEX).read_bytes())
    return index


def records_of(root: Path, topic: str, partition: str, entry: dict[str, Any]) -> Iterator[Record]:
    """The records of one exported partition, in order; TopicsError if they disagree with the index."""
    n, last = 0, -1
    for name in entry["segments"]:
        with (root / ROOT / name).open("rb") as f:
            for raw in f:
                line = orjson.loads(raw)
                if line["o"] <= last:
                    raise TopicsError(f"{topic}/{partition}: offset {line['o']} after {last}")
                last = line["o"]
                n += 1
                yield Record(str(line["k"]), base64.b64decode(line["v"]), dict(line["h"]))
    if n != entry["records"]:
        raise TopicsError(
            f"{topic}/{partition}: {n} records in the segments, the index says {entry['records']}"
        )


def load(root: Path, bus: Bus, *, require_empty: bool = False) -> int:
    """Append every exported record to the same topic of `bus` (created if missing), partition by
    partition in offset order; the number of records. `require_empty`: refuse, before writing anything,
    if any of the topics already holds records (a load into live topics would double them)."""
    from schemas.topics import TOPICS

    index = read_index(root)
    bus.ensure_topics([TOPICS[t] for t in index if t in TOPICS])
    if require_empty:
        busy = [t for t in index if any(bus.end_offsets(t)[p] > s for p, s in bus.start_offsets(t).items())]
        if busy:
            raise TopicsError(f"not empty, nothing loaded: {', '.join(busy[:5])}")
    total = 0
    for topic, partitions in index.items():
        for partition, entry in sorted(partitions.items(), key=lambda kv: int(kv[0])):
            batch: list[Record] = []
            for record in records_of(root, topic, partition, entry):
                batch.append(record)
                if len(batch) >= READ_BATCH:
                    bus.append(topic, batch)
                    total, batch = total + len(batch), []
            if batch:
                bus.append(topic, batch)
                total += len(batch)
    return total
