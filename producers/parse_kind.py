"""The port of `watchman parse KIND FILE`: one named input format, the command that produces it, and a
parse of a file of it into the raw observations the pipeline would carry (or a bad record each).

Each producer package declares its kinds (`producers/<package>/kinds.py`, a tuple KINDS); producers/kinds.py
only collects them. A kind parses a whole file at once: the running sources read the same formats
incrementally, through the same pure parsers.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO

from schemas.envelope import Envelope
from schemas.model import Topic


@dataclass(frozen=True, slots=True)
class BadRecord:
    """Input that is not a record of the kind: where it is, why, and (a bounded piece of) its text."""

    position: str
    error: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class ParseOptions:
    host: str
    tz: tzinfo | None
    now: datetime


Parsed = Envelope | BadRecord
ParseFn = Callable[[Path, ParseOptions], Iterator[Parsed]]


@dataclass(frozen=True, slots=True)
class ParseKind:
    name: str
    produced_by: str  # the command (or file) that produces the input, for --help
    topic: Topic  # the raw topic the observations go to (the processors reading it decide them)
    parse: ParseFn


def open_input(path: Path) -> IO[bytes]:
    """A file to parse, read through gzip when it ends in .gz (rotated logs)."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line without its newline) of a file: memory bounded by the longest line."""
    offset = 0
    with open_input(path) as fh:
        for raw in fh:
            yield offset, raw.rstrip(b"\n")
            offset += len(raw)


def excerpt(text: str | bytes, limit: int = 300) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"
