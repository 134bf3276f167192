"""Parser for /var/log/dpkg.log: one line per dpkg action; install/upgrade/remove/purge are changes."""

from __future__ import annotations

import contextlib
import re
from datetime import tzinfo

from producers.packages.base import LogParser, ParseResult, local_tz, parse_local
from producers.packages.versions import classify, compare_deb, split_deb_epoch
from producers.text import broken
from schemas.events.packages import PackageAction, PackageChangeObserved

_LINE = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (\S+)(?: (.*))?")

# Progress and state lines dpkg writes around every change; they carry nothing the change lines do not.
_NOISE = frozenset({"startup", "status", "configure", "trigproc", "conffile"})
_CHANGES = frozenset({"install", "upgrade", "remove", "purge"})


def _version(token: str) -> str | None:
    # dpkg writes `<none>`; dpkg before 1.17 translated it (`<无>`, `<aucune>`), so any <...> means none.
    if token.startswith("<") and token.endswith(">"):
        return None
    return token


class DpkgLogParser(LogParser):
    """dpkg.log: `DATE TIME action pkg[:arch] old new`, local time without offset, read in `tz`.

    `upgrade` is dpkg's word for unpacking over an installed version; which way it went is decided
    by comparing the versions (downgrade, or reinstall when equal). Every record is one line.
    """

    source = "dpkg"

    def __init__(self, tz: tzinfo | None = None) -> None:
        self._tz = tz if tz is not None else local_tz()

    def pending_start(self) -> int | None:
        return None

    def _flush(self) -> list[ParseResult]:
        return []

    def _feed(self, line: str, offset: int) -> list[ParseResult]:
        if not line.strip():
            return []
        m = _LINE.fullmatch(line)
        if m is None:
            return [self.error(offset, line, "not a dpkg log line (`YYYY-MM-DD HH:MM:SS action ...`)")]
        stamp, verb, rest = m.group(1), m.group(2), m.group(3) or ""
        if verb in _NOISE:
            return []
        if verb not in _CHANGES:
            return [self.error(offset, line, f"unknown dpkg action {verb!r}")]
        ts = parse_local(stamp, self._tz)
        if ts is None:
            return [self.error(offset, line, f"invalid timestamp {stamp!r}")]
        parts = rest.split()
        if len(parts) != 3:
            return [self.error(offset, line, f"{verb} needs `package old-version new-version`")]
        if broken(rest):
            return [self.error(offset, line, f"{verb} of {parts[0]!r}: bytes that are not UTF-8")]
        name, sep, arch = parts[0].partition(":")
        if not name or (sep and not arch):
            return [self.error(offset, line, f"invalid package {parts[0]!r}")]
        old, new = _version(parts[1]), _version(parts[2])

        action: PackageAction
        if verb in {"remove", "purge"}:
            action = "remove" if verb == "remove" else "purge"
            new = None
        elif verb == "install" or old is None:
            # `install` over a config-files remnant keeps the remnant's version as old; still an install.
            action = "install"
        else:
            action = "upgrade"
            # An unparsable version cannot be ordered; then dpkg's own word stands.
            with contextlib.suppress(ValueError):
                if new is not None:
                    action = classify(compare_deb(new, old))
        if action in ("install", "upgrade", "downgrade", "reinstall") and new is None:
            return [self.error(offset, line, f"{verb} without the new version")]

        version = new if new is not None else old
        return [
            PackageChangeObserved(
                ts=ts,
                action=action,
                source="dpkg",
                package=name,
                arch=arch or None,
                old_version=old,
                new_version=new,
                epoch=split_deb_epoch(version),
            )
        ]
