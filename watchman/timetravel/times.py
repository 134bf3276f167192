"""Times and durations as the user writes them: ISO 8601, epoch seconds, `now`, or `30m` / `1d` ago (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_MAX_SECONDS = 100 * 366 * 86400


class BadTime(ValueError):
    """A time or duration this module cannot read; the message says what it can."""


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `2h`, `1d`, `1w` (one number, one unit)."""
    m = _DURATION.match(text)
    if m is None:
        raise BadTime(f"not a duration: {text!r} (write e.g. 90s, 30m, 2h, 1d, 1w)")
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds > _MAX_SECONDS:
        raise BadTime(f"duration too long: {text!r} (at most 100 years)")
    return timedelta(seconds=seconds)


def parse_time(text: str, now: datetime) -> datetime:
    """An absolute UTC time: ISO 8601 (naive = UTC), epoch seconds, `now`, or a duration ago (`30m`)."""
    t = text.strip()
    if t == "now":
        return now
    try:
        ago = parse_duration(t.removeprefix("-"))
    except BadTime as exc:
        if "too long" in str(exc):
            raise
    else:
        try:
            return now - ago
        except OverflowError:
            raise BadTime(f"{text!r} ago is before year 1") from None
    if re.fullmatch(r"\d{9,11}(\.\d+)?", t):
        try:
            return datetime.fromtimestamp(float(t), UTC)
        except (OverflowError, OSError, ValueError):
            raise BadTime(f"epoch seconds out of range: {text!r}") from None
    try:
        ts = datetime.fromisoformat(t)
    except ValueError:
        raise BadTime(
            f"not a time: {text!r} (write ISO 8601 like 2026-12-04T10:00:00Z, epoch seconds, now, "
            "or 30m/1d ago)"
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
