"""Helpers shared by the parser tests: fixture paths, feeding whole files, crash-and-resume runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from producers.packages.base import INTERNAL_ERROR_PREFIX, LogParser, ParseError, ParseResult, parse_bytes
from schemas.events.packages import PackageChangeObserved

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "packages"


def lines_with_offsets(data: bytes) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    offset = 0
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for raw in raw_lines:
        out.append((offset, raw.decode("utf-8", errors="replace")))
        offset += len(raw) + 1
    return out


def parse_fixture(parser: LogParser, name: str) -> list[ParseResult]:
    return parse_bytes(parser, (FIXTURES / name).read_bytes())


def parse_text(parser: LogParser, text: str) -> list[ParseResult]:
    return parse_bytes(parser, text.encode("utf-8"))


def changes(results: list[ParseResult]) -> list[PackageChangeObserved]:
    return [r for r in results if isinstance(r, PackageChangeObserved)]


def errors(results: list[ParseResult]) -> list[ParseError]:
    return [r for r in results if isinstance(r, ParseError)]


def internal_errors(results: list[ParseResult]) -> list[ParseError]:
    return [e for e in errors(results) if e.error.startswith(INTERNAL_ERROR_PREFIX)]


def by_package(results: list[ParseResult]) -> dict[tuple[str, str], PackageChangeObserved]:
    """Changes keyed by (package, action), multilib twins left out; a repeat fails, so duplicates show."""
    out: dict[tuple[str, str], PackageChangeObserved] = {}
    arches: dict[tuple[str, str], set[str | None]] = {}
    for c in changes(results):
        arches.setdefault((c.package, c.action), set()).add(c.arch)
    twins = {key for key, seen in arches.items() if len(seen) > 1}
    for c in changes(results):
        key = (c.package, c.action)
        if key in twins:
            continue
        assert key not in out, f"duplicate change {key}"
        out[key] = c
    return out


def crash_and_resume(factory: Callable[[], LogParser], data: bytes, crash_after: int) -> list[ParseResult]:
    """Results of a run killed after `crash_after` lines that restarts at the checkpoint it would have saved.

    The checkpoint is `pending_start()` when a record is incomplete, else the start of the next line:
    exactly what the producer stores as its cursor.
    """
    lines = lines_with_offsets(data)
    first = factory()
    out: list[ParseResult] = []
    for offset, line in lines[:crash_after]:
        out.extend(first.feed(line, offset))
    pending = first.pending_start()
    cursor = (
        pending if pending is not None else (lines[crash_after][0] if crash_after < len(lines) else len(data))
    )
    second = factory()
    for offset, line in lines:
        if offset >= cursor:
            out.extend(second.feed(line, offset))
    out.extend(second.flush())
    return out


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
