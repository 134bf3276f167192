"""The package-log kinds of `watchman parse`: apt, dpkg, dnf-rpm, dnf, dnf5 and brew."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from producers.packages import ParserFactory, brew, make_parser
from producers.packages.base import ParseError, ParseResult
from producers.packages.envelopes import raw_envelope
from producers.packages.history import HistoryInfoParser
from producers.parse_kind import (
    USAGE,
    BadRecord,
    InputError,
    Parsed,
    ParseFn,
    ParseKind,
    ParseOptions,
    excerpt,
    lines,
)
from producers.text import decode
from schemas.events.packages import RAW_PACKAGES


def _log(kind: str, factory: ParserFactory | None = None) -> ParseFn:
    def parse(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
        parser = factory(tz=opts.tz) if factory is not None else make_parser(kind, tz=opts.tz)

        def emit(results: list[ParseResult]) -> Iterator[Parsed]:
            for r in results:
                if isinstance(r, ParseError):
                    yield BadRecord(f"offset {r.offset}", r.error, excerpt(r.line))
                else:
                    yield raw_envelope(opts.host, r, opts.now)

        for item in lines(path, opts):
            if isinstance(item, BadRecord):
                yield item
                continue
            offset, raw = item
            yield from emit(parser.feed(decode(raw), offset))
        yield from emit(parser.flush())

    return parse


def _brew(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
    if not path.is_dir():
        raise InputError(f"{path} is not a directory: for brew give a Homebrew prefix or its Cellar", USAGE)
    if path.name != "Cellar" and not (path / "Cellar").is_dir() and not (path / "Caskroom").is_dir():
        raise InputError(f"{path} holds no Cellar or Caskroom: is it a Homebrew prefix?", USAGE)
    for change in brew.parse_dir(path, opts.now):
        yield raw_envelope(opts.host, change, opts.now)


KINDS: tuple[ParseKind, ...] = (
    ParseKind("apt", "/var/log/apt/history.log (apt)", RAW_PACKAGES, _log("apt")),
    ParseKind("dpkg", "/var/log/dpkg.log (dpkg)", RAW_PACKAGES, _log("dpkg")),
    ParseKind("dnf-rpm", "/var/log/dnf.rpm.log (dnf 4)", RAW_PACKAGES, _log("dnf-rpm")),
    ParseKind("dnf", "/var/log/dnf.log (dnf 4)", RAW_PACKAGES, _log("dnf")),
    ParseKind("dnf5", "/var/log/dnf5.log (dnf5)", RAW_PACKAGES, _log("dnf5")),
    ParseKind("brew", "a Homebrew prefix or Cellar directory", RAW_PACKAGES, _brew),
    ParseKind(
        "dnf-history",
        "dnf history info [ID...] (dnf 4) or yum history info [ID...] (yum 3)",
        RAW_PACKAGES,
        _log("dnf-history", HistoryInfoParser),
    ),
)
