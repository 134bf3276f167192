"""`watchman parse KIND FILE`: a file through its kind's parser and the processors that decide its
observations, printed as JSON lines in the pipeline's own schema (the envelopes of the raw and domain
topics). Decisions are made as the pipeline makes them, in order, with state tables held in memory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, Literal

import orjson

from processors.registry import ROUTES
from processors.routing import DECODE_ERRORS
from processors.tables import MemoryTable
from producers.kinds import KINDS
from producers.parse_kind import BadRecord, ParseKind, ParseOptions

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
) -> Counts:
    """Print each observation, then the decisions it led to; one JSON line on `err` per bad record."""
    opts = ParseOptions(host=host, tz=tz, now=now or datetime.now(UTC))
    routes = [r for r in ROUTES if r.source == kind.topic]
    tables = {r.name: MemoryTable() for r in routes}
    counts = Counts()
    for item in kind.parse(path, opts):
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


def _bad(item: BadRecord) -> dict[str, str]:
    return {"position": item.position, "error": item.error, "text": item.text}
