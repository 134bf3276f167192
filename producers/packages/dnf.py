"""Parsers for dnf 4's two logs: dnf.rpm.log (what rpm did to each package) and dnf.log (each command run)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal

from producers.packages.base import LogParser, ParseResult, parse_iso_offset
from producers.packages.nevra import Evr, Nevra, parse_evr, parse_nevra, split_name_arch
from producers.text import broken
from schemas.events.packages import PackageAction, PackageChangeObserved

# `2024-01-15T10:23:45+0000 LEVEL message`; older dnf wrote `...Z` (UTC), newer ones the local offset.
_RECORD = re.compile(r"(\d{4}-\d{2}-\d{2}T\S*)\s+(\S+)(?:\s(.*))?")
# dnf 1.x stamped `Jan 15 10:23:45`: no year, so no instant can be derived from it.
_YEARLESS = re.compile(r"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} ")
_ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})


# parse_iso_offset's forms, with the fields as groups: building the datetime from them is ~5x faster than
# its strptime, and gives the same instant (or None) for every ASCII input (other digits: see _timestamp).
_STAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:Z|([+-])(\d{2})(?::?(\d{2}))?)")
_ZONES: dict[tuple[str, str, str | None], tzinfo] = {}


def _timestamp(text: str) -> datetime | None:
    """`parse_iso_offset`, faster: dnf.rpm.log has a timestamp on every line."""
    if not text.isascii():  # strptime's own rules for non-ASCII digits: leave those to it
        return parse_iso_offset(text)
    m = _STAMP.fullmatch(text)
    if m is None:
        return None
    y, mo, d, h, mi, s, sign, oh, om = m.groups()
    try:
        if sign is None:
            return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
        zone = _ZONES.get((sign, oh, om))
        if zone is None:
            offset = timedelta(hours=int(oh), minutes=int(om or 0))
            zone = _ZONES[(sign, oh, om)] = timezone(-offset if sign == "-" else offset)
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _split_record(line: str) -> tuple[str, str, str] | None:
    m = _RECORD.fullmatch(line)
    if m is None:
        return None
    return m.group(1), m.group(2), (m.group(3) or "")


# --------------------------------------------------------------------------------------------------
# dnf.rpm.log
# --------------------------------------------------------------------------------------------------

_RPM_VERB = re.compile(
    r"(Installed|Install|Upgrade|Upgraded|Downgrade|Downgraded|Reinstall|Reinstalled|"
    r"Erase|Erased|Removed|Obsolete|Obsoleted|Cleanup|Verified|Running scriptlet|Preparing):\s*(.*)"
)

_Pair = Literal["upgrade", "downgrade", "reinstall"]


@dataclass
class _Half:
    """One side of a change whose other side rpm logs later (new version first, old one at cleanup)."""

    kind: _Pair
    # "new": dnf 4 writes `Upgrade: new`, and `Upgraded: old` later.
    # "old": dnf 2 wrote `Upgraded: new`, and `Cleanup: old` later.
    style: Literal["new", "old"]
    nevra: Nevra
    ts: datetime
    offset: int


def rpm_change(
    action: PackageAction,
    ts: datetime,
    source: Literal["dnf-rpm", "dnf", "dnf5"],
    name: str,
    arch: str | None,
    *,
    new: Evr | Nevra | None,
    old: Evr | Nevra | None,
    repo: str | None = None,
    automatic: bool | None = None,
    commandline: str | None = None,
    error: str | None = None,
    session_start: datetime | None = None,
    session_end: datetime | None = None,
) -> PackageChangeObserved:
    """One rpm change in our conventions: `version-release` strings, epoch and release of the new side."""
    described = new if new is not None else old
    return PackageChangeObserved(
        ts=ts,
        action=action,
        source=source,
        package=name,
        arch=arch,
        old_version=None if old is None else old.vr,
        new_version=None if new is None else new.vr,
        epoch=None if described is None else described.epoch,
        release=None if described is None else described.release,
        repo=repo,
        automatic=automatic,
        commandline=commandline,
        error=error,
        session_start=session_start,
        session_end=session_end,
    )


class DnfRpmLogParser(LogParser):
    """dnf.rpm.log: one `SUBDEBUG Verb: nevra` line per package rpm has finished with.

    An upgrade is two lines (`Upgrade: new` ... `Upgraded: old`, often far apart because rpm erases
    the old versions after installing all new ones), paired here by name and arch into one change.
    A half still waiting for its partner holds `pending_start`; after `stale_after` without a
    partner it is emitted alone (old version unknown).
    """

    source = "dnf-rpm"

    def __init__(self, tz: tzinfo | None = None, stale_after: timedelta = timedelta(hours=6)) -> None:
        del tz  # every line carries its offset
        self._stale_after = stale_after
        self._halves: list[_Half] = []

    def pending_start(self) -> int | None:
        return min((h.offset for h in self._halves), default=None)

    def _flush(self) -> list[ParseResult]:
        out: list[ParseResult] = [self._alone(h) for h in self._halves]
        self._halves = []
        return out

    def _feed(self, line: str, offset: int) -> list[ParseResult]:
        record = _split_record(line)
        if record is None:
            if _YEARLESS.match(line) and _RPM_VERB.search(line):
                return [self.error(offset, line, "dnf 1.x timestamp has no year; cannot place the change")]
            return []  # scriptlet output and other continuation lines of a multi-line record
        stamp, _level, message = record
        ts = _timestamp(stamp)
        if ts is None:
            return [self.error(offset, line, f"invalid timestamp {stamp!r}")]
        out: list[ParseResult] = self._expire(ts)
        m = _RPM_VERB.fullmatch(message.strip())
        if m is None:
            return out  # logging markers, scriptlet output, rpm warnings
        verb, subject = m.group(1), m.group(2).strip()
        if verb in ("Verified", "Running scriptlet", "Preparing"):
            return out
        if broken(subject):
            return [*out, self.error(offset, line, f"{verb}: {subject!r} holds bytes that are not UTF-8")]
        nevra = parse_nevra(subject)
        if nevra is None:
            return [
                *out,
                self.error(offset, line, f"cannot split package {subject!r} into name-version-release"),
            ]
        out.extend(self._verb(verb, nevra, ts, offset))
        return out

    def _verb(self, verb: str, nevra: Nevra, ts: datetime, offset: int) -> list[ParseResult]:
        if verb in ("Installed", "Install", "Obsolete"):
            return [rpm_change("install", ts, "dnf-rpm", nevra.name, nevra.arch, new=nevra, old=None)]
        if verb in ("Erase", "Erased", "Removed", "Obsoleted"):
            return [rpm_change("remove", ts, "dnf-rpm", nevra.name, nevra.arch, new=None, old=nevra)]
        if verb in ("Upgrade", "Downgrade", "Reinstall"):
            kind: _Pair = (
                "upgrade" if verb == "Upgrade" else "downgrade" if verb == "Downgrade" else "reinstall"
            )
            out: list[ParseResult] = []
            earlier = self._take(kind, "new", nevra, exact_only=True)
            if earlier is not None:  # its partner never came; do not let the new one swallow it
                out.append(self._alone(earlier))
            self._halves.append(_Half(kind, "new", nevra, ts, offset))
            return out
        if verb in ("Upgraded", "Downgraded", "Reinstalled"):
            kind = "upgrade" if verb == "Upgraded" else "downgrade" if verb == "Downgraded" else "reinstall"
            half = self._take(kind, "new", nevra)
            if half is not None:
                return [self._paired(half, nevra)]
            if kind == "reinstall":
                return [rpm_change("reinstall", ts, "dnf-rpm", nevra.name, nevra.arch, new=nevra, old=nevra)]
            # Old dnf: this line names the new version; the old one follows as `Cleanup:`.
            self._halves.append(_Half(kind, "old", nevra, ts, offset))
            return []
        # Cleanup: the erased old version. It completes an old-style pair, or says nothing new.
        for kind in ("upgrade", "downgrade", "reinstall"):
            half = self._take(kind, "old", nevra)
            if half is not None:
                return [self._paired(half, nevra)]
        return []

    def _take(self, kind: _Pair, style: str, other: Nevra, exact_only: bool = False) -> _Half | None:
        for exact in (True, False) if not exact_only else (True,):
            for i, h in enumerate(self._halves):
                if h.kind != kind or h.style != style or h.nevra.name != other.name:
                    continue
                if exact and h.nevra.arch != other.arch:
                    continue
                return self._halves.pop(i)
        return None

    def _paired(self, half: _Half, old: Nevra) -> PackageChangeObserved:
        new = half.nevra
        return rpm_change(half.kind, half.ts, "dnf-rpm", new.name, new.arch, new=new, old=old)

    def _alone(self, half: _Half) -> PackageChangeObserved:
        new = half.nevra
        old = new if half.kind == "reinstall" else None
        return rpm_change(half.kind, half.ts, "dnf-rpm", new.name, new.arch, new=new, old=old)

    def _expire(self, now: datetime) -> list[ParseResult]:
        stale = [h for h in self._halves if now - h.ts > self._stale_after]
        if not stale:
            return []
        self._halves = [h for h in self._halves if h not in stale]
        return [self._alone(h) for h in stale]


# --------------------------------------------------------------------------------------------------
# dnf.log
# --------------------------------------------------------------------------------------------------

# Section headings of dnf's transaction table (output.py list_transaction) that list packages.
_SECTIONS: dict[str, tuple[PackageAction, bool | None]] = {
    "Installing": ("install", False),
    "Installing dependencies": ("install", True),
    "Installing weak dependencies": ("install", True),
    "Installing group/module packages": ("install", None),
    "Upgrading": ("upgrade", None),
    "Reinstalling": ("reinstall", None),
    "Downgrading": ("downgrade", None),
    "Removing": ("remove", None),
    "Removing dependent packages": ("remove", None),
    "Removing unused dependencies": ("remove", None),
}

# Commands that never run a transaction: their sessions must not be handed another session's table.
_READ_ONLY_COMMANDS = frozenset(
    {
        "makecache", "mc", "repolist", "repoinfo", "list", "ls", "info", "if", "search", "se",
        "check-update", "check-upgrade", "repoquery", "rq", "provides", "whatprovides", "wp",
        "updateinfo", "upif", "clean", "help", "alias", "deplist", "check", "download",
        "config-manager", "needs-restarting", "repomanage", "repodiff", "reposync", "changelog",
        "leaves", "repograph", "repoclosure", "debug-dump", "versionlock",
    }
)  # fmt: skip

_DEPSOLVE = re.compile(r"---> Package (\S+) (\S+) will be (.+)")
_OLD_SIDE = frozenset({"upgraded", "downgraded", "updated"})

_Phase = Literal["init", "table", "running", "done"]


@dataclass
class _Row:
    action: PackageAction
    name: str
    arch: str | None
    evr: Evr
    repo: str | None
    automatic: bool | None


@dataclass
class _Session:
    start_offset: int
    start: datetime
    commandline: str
    last_ts: datetime
    base_command: str | None = None
    phase: _Phase = "init"
    rows: list[_Row] = field(default_factory=list)
    replaced: list[tuple[str, str | None, Evr]] = field(default_factory=list)
    old_evr: dict[tuple[str, str | None], Evr] = field(default_factory=dict)
    run_ts: datetime | None = None
    error: str | None = None

    @property
    def may_transact(self) -> bool:
        return self.base_command not in _READ_ONLY_COMMANDS


@dataclass
class _Table:
    """The continuation lines of the one log record that holds a transaction table."""

    session: _Session
    seen_header: bool = False
    section: tuple[PackageAction, bool | None] | None = None
    row: list[str] = field(default_factory=list)
    row_at: tuple[int, str] = (0, "")
    finished: bool = False


class DnfLogParser(LogParser):
    """dnf.log: sessions from `Command: dnf ...` to `Cleaning up.`, with the transaction table they print.

    Lines carry no process id, so sessions of concurrent dnf runs (a `dnf makecache --timer` firing
    while the user sits at the `Is this ok` prompt) interleave. A table is given to the newest open
    session that can run a transaction and has none yet; `Running transaction`, `Complete!` and
    errors go to the newest session that owns a table; `Cleaning up.` closes the newest session not
    in the middle of a transaction. Changes are emitted only for tables whose transaction ran: at
    `Complete!`, or, with an error, when the session ends without it.
    """

    source = "dnf"

    def __init__(
        self,
        tz: tzinfo | None = None,
        stale_after: timedelta = timedelta(hours=24),
        max_open: int = 16,
    ) -> None:
        del tz
        self._stale_after = stale_after
        self._max_open = max_open
        self._sessions: list[_Session] = []
        self._table: _Table | None = None

    def pending_start(self) -> int | None:
        return min((s.start_offset for s in self._sessions), default=None)

    def _flush(self) -> list[ParseResult]:
        out = self._end_table()
        for s in list(self._sessions):
            out.extend(self._close(s, None))
        return out

    def _feed(self, line: str, offset: int) -> list[ParseResult]:
        record = _split_record(line)
        if record is None:
            return self._continuation(line, offset)
        out = self._end_table()
        stamp, level, message = record
        ts = _timestamp(stamp)
        if ts is None:
            return [*out, self.error(offset, line, f"invalid timestamp {stamp!r}")]
        out.extend(self._expire(ts))
        out.extend(self._message(level, message.strip(), ts, offset))
        return out

    # --- one timestamped record -------------------------------------------------------------------

    def _message(self, level: str, msg: str, ts: datetime, offset: int) -> list[ParseResult]:
        if msg.startswith("Command:"):
            self._sessions.append(_Session(offset, ts, msg[len("Command:") :].strip(), ts))
            return self._overflow()
        if msg.startswith("Base command:"):
            for s in reversed(self._sessions):
                if s.base_command is None:
                    s.base_command = msg[len("Base command:") :].strip()
                    break
            return []
        if msg == "Cleaning up.":
            return self._cleaning_up(ts)

        if (m := _DEPSOLVE.fullmatch(msg)) is not None:
            target = self._newcomer()
            if target is not None and m.group(3) in _OLD_SIDE and (evr := parse_evr(m.group(2))):
                target.old_evr[split_name_arch(m.group(1))] = evr
                target.last_ts = ts
            return []
        if msg.startswith("====="):
            target = self._newcomer()
            if target is not None:
                target.phase = "table"
                target.last_ts = ts
                self._table = _Table(target)
            return []

        owner = self._owner()
        if owner is None:
            return []
        if msg == "Running transaction":
            owner.phase, owner.run_ts, owner.last_ts = "running", ts, ts
        elif msg == "Complete!":
            owner.last_ts = ts
            if owner.phase == "running":
                owner.phase = "done"
                # An error on the way (a failed %post scriptlet) did not stop rpm; the changes keep it.
                return self._emit(owner, ts, owner.error)
            owner.phase = "done"  # --downloadonly: a table, a download, nothing installed
        elif "Operation aborted" in msg or msg.startswith("DNF will only download"):
            owner.phase, owner.last_ts = "done", ts
        elif (level in _ERROR_LEVELS or msg.startswith("Error")) and owner.error is None:
            owner.error, owner.last_ts = msg, ts
        return []

    def _newcomer(self) -> _Session | None:
        """The session a table (or depsolve line) belongs to: newest that may transact and has none."""
        for s in reversed(self._sessions):
            if s.phase == "init" and s.may_transact:
                return s
        return None

    def _owner(self) -> _Session | None:
        """The session transaction progress belongs to: the newest one holding an unfinished table."""
        for s in reversed(self._sessions):
            if s.phase in ("table", "running"):
                return s
        return None

    def _cleaning_up(self, ts: datetime) -> list[ParseResult]:
        if not self._sessions:
            return []
        idle = [s for s in self._sessions if s.phase not in ("table", "running")]
        return self._close((idle or self._sessions)[-1], ts)

    def _close(self, s: _Session, end: datetime | None) -> list[ParseResult]:
        self._sessions.remove(s)
        if self._table is not None and self._table.session is s:
            self._table = None
        if s.phase != "running":
            return []  # never ran (aborted, download-only, test) or already emitted at Complete!
        return self._emit(s, end, s.error or "dnf session ended without `Complete!`")

    def _expire(self, now: datetime) -> list[ParseResult]:
        out: list[ParseResult] = []
        for s in [s for s in self._sessions if now - s.last_ts > self._stale_after]:
            out.extend(self._close(s, None))
        return out

    def _overflow(self) -> list[ParseResult]:
        out: list[ParseResult] = []
        while len(self._sessions) > self._max_open:
            out.extend(self._close(self._sessions[0], None))
        return out

    def _emit(self, s: _Session, end: datetime | None, error: str | None) -> list[ParseResult]:
        ts = s.run_ts or s.start
        cmd = s.commandline or None
        out: list[ParseResult] = []
        for row in s.rows:
            new: Evr | None = row.evr
            old: Evr | None = None
            if row.action == "remove":
                new, old = None, row.evr
            elif row.action == "reinstall":
                old = row.evr
            elif row.action in ("upgrade", "downgrade"):
                old = s.old_evr.get((row.name, row.arch)) or _by_name(s.old_evr, row.name)
            out.append(
                rpm_change(
                    row.action,
                    ts,
                    "dnf",
                    row.name,
                    row.arch,
                    new=new,
                    old=old,
                    repo=row.repo,
                    automatic=row.automatic,
                    commandline=cmd,
                    error=error,
                    session_start=s.start,
                    session_end=end,
                )
            )
        for name, arch, evr in s.replaced:
            out.append(
                rpm_change(
                    "remove",
                    ts,
                    "dnf",
                    name,
                    arch,
                    new=None,
                    old=evr,
                    commandline=cmd,
                    error=error,
                    session_start=s.start,
                    session_end=end,
                )
            )
        return out

    # --- the transaction table --------------------------------------------------------------------

    def _continuation(self, line: str, offset: int) -> list[ParseResult]:
        table = self._table
        if table is None or table.finished:
            return []  # tracebacks, scriptlet output, the post-transaction summary
        stripped = line.strip()
        if not stripped:
            return self._end_row()
        if not table.seen_header:
            table.seen_header = True  # ` Package  Arch(itecture)  Version  Repository  Size`
            return []
        if set(stripped) == {"="}:
            return []
        if stripped == "Transaction Summary":
            out = self._end_row()
            table.finished = True
            return out
        if not line[0].isspace():
            out = self._end_row()
            if stripped.endswith(":"):
                table.section = _SECTIONS.get(stripped[:-1])
            elif not stripped.startswith("("):  # `(add '--best' to command line ...)` under Skipping
                table.section = None
            return out
        if stripped.startswith("replacing "):
            out = self._end_row()
            replaced = _replaced(stripped[len("replacing ") :].split())
            if broken(stripped):
                return [*out, self.error(offset, line, "`replacing` line holds bytes that are not UTF-8")]
            if replaced is None:
                return [*out, self.error(offset, line, "unparsable `replacing` line")]
            row_names = {r.name for r in table.session.rows}
            if table.section is not None and replaced[0] not in row_names:
                table.session.replaced.append(replaced)
            return out
        if len(line) > 1 and not line[1].isspace():
            out = self._end_row()
            table.row, table.row_at = stripped.split(), (offset, line)
            return out
        # A row whose name (or version) overflowed its column continues, indented, on the next line.
        if table.row:
            table.row.extend(stripped.split())
        return []

    def _end_row(self) -> list[ParseResult]:
        table = self._table
        if table is None or not table.row:
            return []
        tokens, (offset, line) = table.row, table.row_at
        table.row = []
        if table.section is None:
            return []
        if len(tokens) < 4:
            return [self.error(offset, line, "transaction table row without name, arch, version and repo")]
        if any(broken(t) for t in tokens[:4]):
            return [self.error(offset, line, "transaction table row holds bytes that are not UTF-8")]
        evr = parse_evr(tokens[2])
        if evr is None:
            return [self.error(offset, line, f"invalid version {tokens[2]!r} in transaction table")]
        action, automatic = table.section
        table.session.rows.append(
            _Row(
                action,
                tokens[0],
                tokens[1],
                evr,
                _repo(tokens[3]),
                automatic if action == "install" else None,
            )
        )
        return []

    def _end_table(self) -> list[ParseResult]:
        out = self._end_row()
        self._table = None
        return out


def _by_name(old_evr: dict[tuple[str, str | None], Evr], name: str) -> Evr | None:
    found = [evr for (n, _arch), evr in old_evr.items() if n == name]
    return found[0] if len(found) == 1 else None


def _repo(token: str) -> str | None:
    # Removal rows name the repo a package came from as `@repo`; `@System` means dnf does not know.
    repo = token.removeprefix("@")
    return None if repo in ("", "System") else repo


def _replaced(tokens: list[str]) -> tuple[str, str | None, Evr] | None:
    """`name.arch evr` (dnf 4) or a whole NEVRA (older dnf) after `replacing`."""
    if len(tokens) >= 2:
        name, arch = split_name_arch(tokens[0])
        evr = parse_evr(tokens[1])
        return None if evr is None else (name, arch, evr)
    if len(tokens) == 1:
        nevra = parse_nevra(tokens[0])
        if nevra is not None:
            return nevra.name, nevra.arch, Evr(nevra.epoch, nevra.version, nevra.release)
    return None
