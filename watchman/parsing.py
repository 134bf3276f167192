"""`watchman parse`: read one package log (or a Homebrew prefix) with bounded memory, for debugging a parser.

Every way the input can be wrong ends in an InputError holding one line for the user and the
documented exit code, never a traceback.
"""

from __future__ import annotations

import errno
import gzip
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import BinaryIO

from producers.packages import brew, make_parser
from producers.packages.base import ParseError, ParseResult
from producers.tailer import split_lines

# Exit codes (README): 2 usage, 3 malformed input.
USAGE = 2
MALFORMED = 3
ERROR = 1
# How much of an offending line an error message repeats.
ECHO_CHARS = 200


class InputError(Exception):
    """The input cannot be read as asked: `str(exc)` is the message, `code` the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def short(text: str, limit: int = ECHO_CHARS) -> str:
    """text, or its first `limit` characters and how long it was: an error never repeats a huge line."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def _open(path: Path) -> BinaryIO:
    if path.is_dir():
        raise InputError(f"{path} is a directory: give a log file", USAGE)
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads bytes
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", ERROR) from None


def read_log(kind: str, path: Path, *, tz: tzinfo | None, max_line_bytes: int) -> Iterator[ParseResult]:
    """The changes and errors of one log, line by line; a line over max_line_bytes is an error
    holding its first bytes and length, never parsed and never held whole."""
    parser = make_parser(kind, tz=tz)
    fh = _open(path)
    try:
        try:
            for offset, raw, overlong in split_lines(fh, max_line_bytes):
                if overlong is not None:
                    message = f"line of {overlong:,} bytes is longer than max_line_bytes ({max_line_bytes:,})"
                    yield parser.error(offset, raw.decode("utf-8", "replace"), message)
                    continue
                yield from parser.feed(raw.decode("utf-8", "replace"), offset)
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(f"{path} is not a readable gzip file: {exc}", MALFORMED) from None
        except EOFError:
            raise InputError(f"{path} is truncated (the compressed stream ends early)", MALFORMED) from None
        except OSError as exc:
            if exc.errno == errno.EISDIR:
                raise InputError(f"{path} is a directory: give a log file", USAGE) from None
            raise InputError(f"cannot read {path}: {exc.strerror or exc}", ERROR) from None
        yield from parser.flush()
    finally:
        fh.close()


def read_brew(path: Path) -> list[ParseResult]:
    """Everything installed under a Homebrew prefix or Cellar, as installs at their receipt times."""
    if not path.is_dir():
        raise InputError(f"{path} is not a directory: for brew give a Homebrew prefix or its Cellar", USAGE)
    if path.name != "Cellar" and not (path / "Cellar").is_dir() and not (path / "Caskroom").is_dir():
        raise InputError(f"{path} holds no Cellar or Caskroom: is it a Homebrew prefix?", USAGE)
    return list(brew.parse_dir(path, datetime.now(UTC)))


def error_json(r: ParseError) -> dict[str, object]:
    """A ParseError for stderr, its line cut short."""
    data = r.model_dump(mode="json")
    data["line"] = short(r.line)
    data["error"] = short(r.error)  # some quote the offending value
    return data
