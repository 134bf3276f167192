"""The port every package-log parser implements, its error record, and the time helpers they share."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from producers.text import clean, decode
from schemas.events.packages import PackageChangeObserved


class ParseError(BaseModel):
    """A line the parser could not make sense of; it travels to the dead-letter topic with its position."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    offset: int
    line: str
    error: str


ParseResult = PackageChangeObserved | ParseError

# Marks a ParseError raised by the safety net rather than by the format rules, so tests can tell them apart.
INTERNAL_ERROR_PREFIX = "internal parser error"


class LogParser(ABC):
    """Turns the lines of one package-manager log into observed changes, one line at a time.

    Multi-line records are emitted only once complete; `pending_start` tells the caller where the
    first still-incomplete record began, so its cursor never moves past a record it has not seen whole.
    """

    source: ClassVar[str]

    def feed(self, line: str, offset: int) -> list[ParseResult]:
        """Parse one line (without its newline) that starts at byte `offset` of the file.

        Terminal escape sequences are removed first (`producers.text.clean`), for every log kind.
        """
        line = clean(line)
        try:
            return self._feed(line, offset)
        except Exception as exc:  # a parser bug must not stop the pipeline; the line goes to the DLQ
            return [self.error(offset, line, f"{INTERNAL_ERROR_PREFIX}: {type(exc).__name__}: {exc}")]

    def flush(self) -> list[ParseResult]:
        """End of input: emit whatever a pending record holds, then forget it."""
        try:
            return self._flush()
        except Exception as exc:
            return [self.error(-1, "", f"{INTERNAL_ERROR_PREFIX}: {type(exc).__name__}: {exc}")]

    @abstractmethod
    def pending_start(self) -> int | None:
        """Offset of the first line of a record still being assembled, else None."""

    @abstractmethod
    def _feed(self, line: str, offset: int) -> list[ParseResult]: ...

    @abstractmethod
    def _flush(self) -> list[ParseResult]: ...

    def error(self, offset: int, line: str, message: str) -> ParseError:
        return ParseError(source=self.source, offset=offset, line=line, error=message)


def parse_bytes(parser: LogParser, data: bytes, start_offset: int = 0) -> list[ParseResult]:
    """Feed a whole log held in memory (split on newlines, byte offsets kept) and flush it.

    Undecodable bytes become U+FFFD rather than an error: one bad byte must not hide a whole line.
    """
    out: list[ParseResult] = []
    offset = start_offset
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for raw in lines:
        out.extend(parser.feed(decode(raw), offset))
        offset += len(raw) + 1
    out.extend(parser.flush())
    return out


def local_tz() -> tzinfo:
    """The machine's current UTC offset, for logs that write local time without one."""
    tz = datetime.now().astimezone().tzinfo
    return tz if tz is not None else UTC


_DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T]+(\d{2}):(\d{2}):(\d{2})")


def parse_local(text: str, tz: tzinfo) -> datetime | None:
    """`YYYY-MM-DD HH:MM:SS` (spaces or a T between) in zone `tz`, as aware UTC; None if invalid."""
    m = _DATE_TIME.fullmatch(text.strip())
    if m is None:
        return None
    try:
        y, mo, d, h, mi, s = (int(g) for g in m.groups())
        naive = datetime(y, mo, d, h, mi, s)
        return naive.replace(tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


_ISO_OFFSET = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(Z|[+-]\d{2}(?::?\d{2})?)")


def parse_iso_offset(text: str) -> datetime | None:
    """The dnf timestamp forms (`...Z`, `...+0000`, `...+00:00`, `...+00`) as aware UTC; None if invalid."""
    m = _ISO_OFFSET.fullmatch(text)
    if m is None:
        return None
    stamp, zone = m.groups()
    try:
        naive = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S")
        if zone == "Z":
            offset = timedelta(0)
        else:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        return naive.replace(tzinfo=timezone(offset)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
