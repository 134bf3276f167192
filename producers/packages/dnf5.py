"""Parser for dnf5's /var/log/dnf5.log: sessions by process id, changes from rpm's per-package callbacks."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from producers.packages.base import LogParser, ParseError, ParseResult, parse_iso_offset
from producers.packages.dnf import rpm_change
from producers.packages.nevra import Nevra, parse_nevra
from producers.packages.versions import classify, compare_rpm
from producers.text import broken
from schemas.events.packages import PackageAction, PackageChangeObserved

_RECORD = re.compile(r"(\d{4}-\d{2}-\d{2}T\S*) \[(\d+)\] (\S+)(?: (.*))?")
_LAUNCHED = re.compile(r'--- DNF5 launched with arguments: "(.*)" ---')
_STOP = re.compile(r'RPM callback (install|uninstall) stop "([^"]+)"(?: .*)?')
_TX_START = "RPM callback transaction start"
_ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})

# Packages rpm keeps several versions of side by side: a new one arriving and an old one leaving in the
# same transaction are two changes (install + remove of the oldest), not an upgrade. dnf's default
# installonlypkgs are kernel-ish provides; these are the package names that carry them.
DEFAULT_INSTALLONLY = frozenset(
    {
        "kernel", "kernel-core", "kernel-modules", "kernel-modules-core", "kernel-modules-extra",
        "kernel-modules-internal", "kernel-devel", "kernel-devel-matched", "kernel-uki-virt",
        "kernel-PAE", "kernel-PAE-core", "kernel-PAE-devel", "kernel-debug", "kernel-debug-core",
        "kernel-debug-modules", "kernel-debug-modules-core", "kernel-debug-modules-extra",
        "kernel-debug-devel", "kernel-rt", "kernel-rt-core", "kernel-rt-modules", "kernel-64k",
        "kernel-64k-core", "kernel-64k-modules", "kernel-64k-modules-core", "kernel-lpae",
    }
)  # fmt: skip


@dataclass
class _Step:
    nevra: Nevra
    ts: datetime
    offset: int
    line: str


@dataclass
class _Session:
    start_offset: int
    start: datetime | None
    commandline: str | None
    last_ts: datetime
    inbound: list[_Step] = field(default_factory=list)
    outbound: list[_Step] = field(default_factory=list)
    in_transaction: bool = False
    # Where the transaction now being collected began: all a resumed run needs of a process whose launch
    # line it never saw (a long-lived dnf5daemon would otherwise pin the checkpoint at its first line).
    group_offset: int | None = None
    error: str | None = None
    # Offset of a line of this transaction that may have been an rpm callback but cannot be read (bytes
    # that are not UTF-8): the transaction's unpaired changes are then unknown, not installs or removals.
    damaged_at: int | None = None


class Dnf5LogParser(LogParser):
    """dnf5.log: `TS [pid] LEVEL message`; one session per pid from `DNF5 launched` to `DNF5 finished`.

    rpm logs `install stop` for each package it put in place and `uninstall stop` for each it took
    away, without saying why; an arriving and a leaving package of the same name (and arch) in one
    transaction are paired into an upgrade, downgrade or reinstall by comparing versions. Changes are
    emitted when the session ends, or when the same process starts another transaction (dnf5daemon),
    or after `idle_after` without a line from that process.
    """

    source = "dnf5"

    def __init__(
        self,
        tz: tzinfo | None = None,
        idle_after: timedelta = timedelta(hours=1),
        installonly: Collection[str] = DEFAULT_INSTALLONLY,
    ) -> None:
        del tz
        self._idle_after = idle_after
        self._installonly = frozenset(installonly)
        self._sessions: dict[str, _Session] = {}

    def pending_start(self) -> int | None:
        starts = [s.start_offset if s.start is not None else s.group_offset for s in self._sessions.values()]
        return min((o for o in starts if o is not None), default=None)

    def _flush(self) -> list[ParseResult]:
        out: list[ParseResult] = []
        for pid in list(self._sessions):
            out.extend(self._close(pid, None))
        return out

    def _feed(self, line: str, offset: int) -> list[ParseResult]:
        m = _RECORD.fullmatch(line)
        if m is None:
            if broken(line):
                # A record whose stamp or pid is damaged could be a callback of any open transaction.
                for s in self._sessions.values():
                    if s.in_transaction and s.damaged_at is None:
                        s.damaged_at = offset
                return [self.error(offset, line, "line holds bytes that are not UTF-8")]
            return []  # continuation of a multi-line message (scriptlet output, solver problems)
        stamp, pid, level, message = m.group(1), m.group(2), m.group(3), (m.group(4) or "").strip()
        ts = parse_iso_offset(stamp)
        if ts is None:
            return [self.error(offset, line, f"invalid timestamp {stamp!r}")]
        out = self._expire(ts)

        if (launched := _LAUNCHED.fullmatch(message)) is not None:
            out.extend(self._close(pid, None))
            self._sessions[pid] = _Session(offset, ts, launched.group(1), ts)
            return out
        session = self._sessions.get(pid)
        if session is None:
            # A process whose launch we did not see (dnf5daemon-server, or a file starting mid-run).
            session = self._sessions[pid] = _Session(offset, None, None, ts)
        session.last_ts = ts

        if message == "DNF5 finished":
            return out + self._close(pid, ts)
        if message.startswith("Command returned error:"):
            session.error = session.error or message
            return out + self._close(pid, ts)
        if message.startswith(_TX_START):
            if session.inbound or session.outbound:  # the same process runs its next transaction
                out.extend(self._emit(session, None))
                session.error = None
            session.damaged_at = None
            session.in_transaction = True
            session.group_offset = offset
            return out
        stop = _STOP.fullmatch(message)
        if broken(message) and (stop is not None or session.in_transaction):
            # A damaged callback: which package it names, or whether it arrived or left, is unknown.
            if session.damaged_at is None:
                session.damaged_at = offset
            session.in_transaction = True
            return [*out, self.error(offset, line, "rpm callback line holds bytes that are not UTF-8")]
        if stop is not None:
            nevra = parse_nevra(stop.group(2))
            if nevra is None:
                return [*out, self.error(offset, line, f"cannot split package {stop.group(2)!r}")]
            session.in_transaction = True
            if session.group_offset is None:
                session.group_offset = offset
            step = _Step(nevra, ts, offset, line)
            (session.inbound if stop.group(1) == "install" else session.outbound).append(step)
            return out
        if level in _ERROR_LEVELS and session.in_transaction and session.error is None:
            session.error = message
        return out

    def _expire(self, now: datetime) -> list[ParseResult]:
        out: list[ParseResult] = []
        for pid, s in list(self._sessions.items()):
            if now - s.last_ts > self._idle_after:
                out.extend(self._close(pid, None))
        return out

    def _close(self, pid: str, end: datetime | None) -> list[ParseResult]:
        session = self._sessions.pop(pid, None)
        return [] if session is None else self._emit(session, end)

    def _emit(self, s: _Session, end: datetime | None) -> list[ParseResult]:
        def change(
            action: PackageAction, step: _Step, new: Nevra | None, old: Nevra | None
        ) -> PackageChangeObserved:
            return rpm_change(
                action,
                step.ts,
                "dnf5",
                step.nevra.name,
                step.nevra.arch,
                new=new,
                old=old,
                commandline=s.commandline,
                error=s.error,
                session_start=s.start,
                session_end=end,
            )

        out: list[ParseResult] = []
        leaving = list(s.outbound)
        for step in s.inbound:
            new = step.nevra
            partner = None
            if new.name not in self._installonly:
                partner = _pop_partner(leaving, new)
            if partner is None and s.damaged_at is not None:
                out.append(self._unpaired(step, "arrived", s.damaged_at))
            elif partner is None:
                out.append(change("install", step, new, None))
            else:
                action: PackageAction = "upgrade"
                with contextlib.suppress(ValueError):
                    action = classify(compare_rpm(new.evr, partner.nevra.evr))
                out.append(change(action, step, new, partner.nevra))
        for step in leaving:
            if s.damaged_at is not None:
                out.append(self._unpaired(step, "left", s.damaged_at))
            else:
                out.append(change("remove", step, None, step.nevra))
        s.inbound, s.outbound, s.group_offset = [], [], None
        return out

    def _unpaired(self, step: _Step, way: str, damaged_at: int) -> ParseError:
        """Never guess: with a damaged callback in the transaction, a package that arrived (or left)
        without a partner may be an upgrade (or the old side of one) whose other side is the damage."""
        return self.error(
            step.offset,
            step.line,
            f"{step.nevra.name} {way} without a partner and the transaction has a damaged rpm callback "
            f"line (offset {damaged_at}): cannot tell install, upgrade, downgrade or remove",
        )


def _pop_partner(leaving: list[_Step], new: Nevra) -> _Step | None:
    for exact in (True, False):
        for i, step in enumerate(leaving):
            if step.nevra.name == new.name and (not exact or step.nevra.arch == new.arch):
                return leaving.pop(i)
    return None
