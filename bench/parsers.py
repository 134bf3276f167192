"""Parser throughput: apt, dpkg and dnf-rpm logs fed line by line, against only reading the same file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import dnf_rpm
from bench.common import HISTORY_START, fmt, median_time, say, sessions_for
from bench.results import Figure, Section, Target
from producers.packages import make_parser
from producers.packages.base import ParseError
from tests.support.histories import generate

KINDS = ("apt", "dpkg", "dnf-rpm")
TARGET = Target(">=", 200_000, "lines/s")
UTC = ZoneInfo("UTC")


def make_log(kind: str, lines: int, path: Path, *, seed: int = 7) -> int:
    """Write a `kind` log of at least `lines` lines, ending on a whole record; returns its line count."""
    if kind == "dnf-rpm":
        text = dnf_rpm.generate(lines, start=HISTORY_START, seed=seed)
    else:
        sessions = sessions_for(lines // 2)
        while True:
            h = generate(sessions, start=HISTORY_START, seed=seed)
            if len(h.apt) >= lines and len(h.dpkg) >= lines:
                break
            sessions = sessions * 3 // 2 + 1
        if kind == "apt":  # cut after the blank line that ends an apt record
            end = next((i + 1 for i in range(lines - 1, len(h.apt)) if h.apt[i] == ""), len(h.apt))
            text = h.apt[:end]
        else:  # dpkg writes three lines per change
            text = h.dpkg[: -(-lines // 3) * 3]
    path.write_text("\n".join(text) + "\n")
    return len(text)


@dataclass
class Parsed:
    lines: int = 0
    changes: int = 0
    errors: int = 0


def read_only(path: Path) -> Parsed:
    """The baseline: what parse() does except the parsing (read, split, decode, count offsets)."""
    out = Parsed()
    offset = 0
    with path.open("rb") as fh:
        for raw in fh:
            raw.rstrip(b"\n").decode("utf-8", errors="replace")
            offset += len(raw)
            out.lines += 1
    return out


def parse(kind: str, path: Path) -> Parsed:
    """Read `path` line by line and feed every line to a fresh parser, as the log tailer does."""
    parser = make_parser(kind, tz=UTC)
    out = Parsed()
    offset = 0

    def count(results: Sequence[object]) -> None:
        for r in results:
            if isinstance(r, ParseError):
                out.errors += 1
            else:
                out.changes += 1

    with path.open("rb") as fh:
        for raw in fh:
            count(parser.feed(raw.rstrip(b"\n").decode("utf-8", errors="replace"), offset))
            offset += len(raw)
            out.lines += 1
    count(parser.flush())
    return out


def run(work: Path, *, lines: int = 200_000, repeat: int = 3) -> Section:
    section = Section("parsers")
    section.details += [
        f"Each log holds at least {lines:,} generated lines; times are medians of {repeat} run(s).",
        "",
        "| log | lines | changes parsed | errors | parse s | read-only s |",
        "|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        path = work / f"{kind}.log"
        n = make_log(kind, lines, path)
        say(f"parsers: {kind}, {n:,} lines")
        result = parse(kind, path)  # also warms the page cache for both timings
        parse_s = median_time(partial(parse, kind, path), repeat)
        read_s = median_time(partial(read_only, path), repeat)
        section.figures.append(
            Figure(
                f"{kind} parser",
                n / parse_s,
                "lines/s",
                baseline=n / read_s,
                baseline_label="read the file, no parsing",
                target=TARGET,
            )
        )
        section.details.append(
            f"| {kind} | {n:,} | {result.changes:,} | {result.errors} | {fmt(parse_s)} | {fmt(read_s)} |"
        )
        path.unlink()
    return section
