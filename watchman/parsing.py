"""`watchman parse KIND FILE`: a file through its kind's parser and the processors that decide its
observations, printed as JSON lines in the pipeline's own schema (the envelopes of the raw and domain
topics). Decisions are made as the pipeline makes them, in order, with state tables held in memory."""

from __future__ import annotations

import errno
import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, Literal

import orjson

from processors.registry import ROUTES
from processors.routing import DECODE_ERRORS
from processors.tables import MemoryTable
from producers.kinds import KINDS
from producers.parse_kind import (
    ERROR,
    MALFORMED,
    USAGE,
    BadRecord,
    InputError,
    Parsed,
    ParseKind,
    ParseOptions,
    excerpt,
)
from producers.tailer import MAX_LINE_BYTES

Stage = Literal["all", "observations", "decisions"]


def kinds_help() -> str:
    width = max(len(k) for k in KINDS)
    return "\n".join(f"  {name:<{width}}  {kind.produced_by}" for name, kind in KINDS.items())


@dataclass
class Counts:
    observations: int = 0
    decisions: int = 0
    bad: int = 0


def run(
    kind: ParseKind,
    path: Path,
    *,
    host: str,
    tz: tzinfo | None,
    out: IO[bytes],
    err: IO[str],
    stage: Stage = "all",
    now: datetime | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Counts:
    """Print each observation, then the decisions it led to; one JSON line on `err` per bad record.

    Raises InputError (one line, an exit code) when the input cannot be read as the kind at all; what
    was printed before stays printed (a truncated .gz shows the records before the cut)."""
    opts = ParseOptions(host=host, tz=tz, now=now or datetime.now(UTC), max_line_bytes=max_line_bytes)
    routes = [r for r in ROUTES if r.source == kind.topic]
    tables = {r.name: MemoryTable() for r in routes}
    counts = Counts()
    for item in _guarded(kind.parse(path, opts), path):
        if isinstance(item, BadRecord):
            counts.bad += 1
            err.write(orjson.dumps({"kind": kind.name, "file": str(path), **_bad(item)}).decode() + "\n")
            continue
        counts.observations += 1
        if stage != "decisions":
            out.write(item.to_json() + b"\n")
        value = item.to_json()
        for route in routes:
            try:
                decided = route.handle(value, tables[route.name])
            except DECODE_ERRORS as exc:  # a processor refusing a record: the pipeline dead-letters it too
                counts.bad += 1
                refused = {"kind": kind.name, "file": str(path), "processor": route.name, "error": str(exc)}
                err.write(orjson.dumps(refused).decode() + "\n")
                continue
            counts.decisions += len(decided)
            if stage != "observations":
                for d in decided:
                    out.write(d.to_json() + b"\n")
    return counts


def _guarded(items: Iterator[Parsed], path: Path) -> Iterator[Parsed]:
    """The kind's records, with every way of failing to read the file turned into an InputError."""
    try:
        yield from items
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{path} is not a readable gzip file: {exc}", MALFORMED) from None
    except EOFError:
        raise InputError(f"{path} is truncated (the compressed stream ends early)", MALFORMED) from None
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise InputError(f"{path} is a directory: give a file", USAGE) from None
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", ERROR) from None


def _bad(item: BadRecord) -> dict[str, str]:
    # An error may quote the offending value: both are cut short, so stderr stays a line per record.
    return {"position": item.position, "error": excerpt(item.error, 200), "text": excerpt(item.text, 200)}
