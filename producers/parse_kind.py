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

from producers.tailer import MAX_LINE_BYTES, split_lines
from schemas.envelope import Envelope
from schemas.model import Topic

# Exit codes of `watchman parse` (README): 1 error, 2 usage, 3 malformed input.
ERROR, USAGE, MALFORMED = 1, 2, 3


class InputError(Exception):
    """The input cannot be read as this kind at all (a directory, not gzip, truncated, unreadable):
    `str(exc)` is one line for the user, `code` the documented exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


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
    # A longer line is a BadRecord with its length and first bytes, never read whole (as in the tailer).
    max_line_bytes: int = MAX_LINE_BYTES


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
    if path.is_dir():
        raise InputError(f"{path} is a directory: give a file", USAGE)
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", ERROR) from None


def lines(path: Path, opts: ParseOptions) -> Iterator[tuple[int, bytes] | BadRecord]:
    """(byte offset, line without its newline) of a file, or a BadRecord for a line longer than
    opts.max_line_bytes (its length and first bytes): memory is bounded by the limit, not the input."""
    limit = opts.max_line_bytes
    with open_input(path) as fh:
        for offset, raw, overlong in split_lines(fh, limit):
            if overlong is None:
                yield offset, raw
            else:
                error = f"line of {overlong:,} bytes is longer than max_line_bytes ({limit:,})"
                yield BadRecord(f"offset {offset}", error, excerpt(raw))


def excerpt(text: str | bytes, limit: int = 300) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"
