"""Package-manager log parsers by kind of log: apt, dpkg, dnf-rpm, dnf, dnf5 (and brew snapshots)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from producers.packages import brew
from producers.packages.apt import AptHistoryParser
from producers.packages.base import LogParser, ParseError, ParseResult, parse_bytes
from producers.packages.dnf import DnfLogParser, DnfRpmLogParser
from producers.packages.dnf5 import Dnf5LogParser
from producers.packages.dpkg import DpkgLogParser
from schemas.events.packages import PackageChangeObserved

ParserFactory = Callable[..., LogParser]

# Every factory accepts `tz=` (the zone of logs that write local time without an offset; others ignore it).
PARSERS: dict[str, ParserFactory] = {
    "apt": AptHistoryParser,
    "dpkg": DpkgLogParser,
    "dnf-rpm": DnfRpmLogParser,
    "dnf": DnfLogParser,
    "dnf5": Dnf5LogParser,
}

# Homebrew has no log to tail: its kind reads a directory and diffs snapshots instead.
SNAPSHOT_KINDS: dict[str, Callable[..., list[PackageChangeObserved]]] = {"brew": brew.parse_dir}

KINDS: tuple[str, ...] = (*PARSERS, *SNAPSHOT_KINDS)


def make_parser(kind: str, tz: tzinfo | None = None) -> LogParser:
    """A fresh parser for a log kind; KeyError names the kinds there are."""
    try:
        factory = PARSERS[kind]
    except KeyError:
        raise KeyError(f"unknown log kind {kind!r}; known: {', '.join(PARSERS)}") from None
    return factory(tz=tz)


__all__ = [
    "KINDS",
    "PARSERS",
    "SNAPSHOT_KINDS",
    "AptHistoryParser",
    "Dnf5LogParser",
    "DnfLogParser",
    "DnfRpmLogParser",
    "DpkgLogParser",
    "LogParser",
    "ParseError",
    "ParseResult",
    "brew",
    "make_parser",
    "parse_bytes",
]
