"""The vulnerabilities kinds of `watchman parse`: an OSV export and the Debian Security Tracker's JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from producers.parse_kind import USAGE, BadRecord, InputError, Parsed, ParseKind, ParseOptions
from producers.vulnerabilities.feed import Bad, FeedError, read_feed
from producers.vulnerabilities.source import advisory_envelope
from schemas.events.vulnerabilities import RAW_VULNERABILITIES


def _advisories(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
    try:
        for position, rec in read_feed(path):
            if isinstance(rec, Bad):
                yield BadRecord(position, rec.error)
            else:
                yield advisory_envelope(opts.host, rec, opts.now)
    except FeedError as exc:
        raise InputError(str(exc), USAGE) from None


KINDS: tuple[ParseKind, ...] = (
    ParseKind(
        "osv",
        "an OSV export: a per-ecosystem all.zip (osv-vulnerabilities bucket) or a record",
        RAW_VULNERABILITIES,
        _advisories,
    ),
    ParseKind(
        "debian-tracker",
        "https://security-tracker.debian.org/tracker/data/json",
        RAW_VULNERABILITIES,
        _advisories,
    ),
)
