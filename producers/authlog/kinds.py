"""The auth-log kind of `watchman parse`: a syslog file of authentication lines (auth.log, secure)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

from producers.authlog.syslog import Numbering, SyslogLineError, expand, observation, parse_line, raw_envelope
from producers.parse_kind import BadRecord, Parsed, ParseKind, ParseOptions, excerpt, lines
from producers.text import decode
from schemas.events.services import RAW_JOURNAL


def _auth(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
    numbering = Numbering()
    tz = opts.tz if opts.tz is not None else UTC
    for item in lines(path, opts):
        if isinstance(item, BadRecord):
            yield item
            continue
        offset, raw = item
        try:
            record = parse_line(decode(raw), tz=tz, now=opts.now)
        except SyslogLineError as exc:
            yield BadRecord(f"offset {offset}", str(exc), excerpt(raw))
            continue
        for k, one in enumerate(expand(record)):
            yield raw_envelope(
                opts.host, observation(one, f"{path}:{offset}:{k}"), numbering.next(one), opts.now
            )


KINDS: tuple[ParseKind, ...] = (
    ParseKind(
        "auth", "/var/log/auth.log (Debian, Ubuntu) or /var/log/secure (RHEL): rsyslog", RAW_JOURNAL, _auth
    ),
)
