"""Parser for `dnf history info` (dnf 4) and `yum history info` (yum 3) output: one transaction per
`Transaction ID :` block, one change per package of its `Packages Altered:` list (pure).

dnf 4 lists each change's new side then its old side (`Upgrade new` / `Upgraded old`, `Downgrade` /
`Downgraded`, `Reinstall` / `Reinstalled`, `Obsoleting` / `Obsoleted`); yum 3 lists the old side first
with the name (`Updated name-evr.arch`) and the new side as a bare evr (`Update evr.arch`). Times are
`time.ctime()` (`Tue Mar  2 14:05:03 2021`) or the C/en_US `%c` of newer dnf
(`Tue 02 Mar 2021 02:05:03 PM UTC`), local time, read in `tz`. A line that cannot be read is an error;
a change without its partner is an error, never an install or a removal guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from producers.packages.base import LogParser, ParseResult, local_tz
from producers.packages.dnf import rpm_change
from producers.packages.nevra import Nevra, parse_evr, parse_nevra
from producers.text import broken
from schemas.events.packages import PackageAction

_FIELD = re.compile(r"^([A-Z][A-Za-z -]*?)\s*:\s?(.*)$")
_ALTERED = re.compile(r"^\s+(\*{0,2})\s*([A-Z][A-Za-z-]*(?: [A-Z][a-z]+)?)\s+(\S+)(?:\s+(\S+))?\s*$")
_TIME_FORMATS = ("%a %b %d %H:%M:%S %Y", "%a %d %b %Y %I:%M:%S %p", "%a %d %b %Y %H:%M:%S")

# New-side words and the old-side word that completes them.
_PAIRS: dict[str, tuple[PackageAction, str]] = {
    "Upgrade": ("upgrade", "Upgraded"),
    "Update": ("upgrade", "Updated"),
    "Downgrade": ("downgrade", "Downgraded"),
    "Reinstall": ("reinstall", "Reinstalled"),
}
_OLD_SIDES = {old: new for new, (_a, old) in _PAIRS.items()}
_INSTALLS = frozenset({"Install", "Dep-Install", "Installed", "Obsoleting"})
_REMOVALS = frozenset({"Removed", "Erase", "Obsoleted", "Remove"})
_IGNORED = frozenset({"Reason Change", "Reason-Change"})


@dataclass
class _Side:
    word: str
    nevra: Nevra | None
    evr_text: str
    repo: str | None
    offset: int
    line: str


@dataclass
class _Txn:
    start_offset: int
    fields: dict[str, str] = field(default_factory=dict)
    sides: list[_Side] = field(default_factory=list)
    in_altered: bool = False


class HistoryInfoParser(LogParser):
    source = "dnf"

    def __init__(self, tz: tzinfo | None = None) -> None:
        self._tz = tz if tz is not None else local_tz()
        self._txn: _Txn | None = None

    def pending_start(self) -> int | None:
        return None if self._txn is None else self._txn.start_offset

    def _flush(self) -> list[ParseResult]:
        return self._close()

    def _feed(self, line: str, offset: int) -> list[ParseResult]:
        if not line.strip():
            return []
        f = _FIELD.match(line)
        if f is not None and not line[0].isspace():
            key, value = f.group(1).strip(), f.group(2).strip()
            out: list[ParseResult] = []
            if key == "Transaction ID":
                out = self._close()
                self._txn = _Txn(offset)
            if self._txn is not None:
                self._txn.fields[key] = value
                self._txn.in_altered = key == "Packages Altered"
            return out
        txn = self._txn
        if txn is None:
            return []  # `Loaded plugins:` and other lines before the first transaction
        if not line[0].isspace():
            txn.in_altered = line.rstrip().endswith("Altered:")
            return []
        if not txn.in_altered:
            return []  # `Transaction performed with:`, scriptlet output
        if broken(line):
            return [self.error(offset, line, "Packages Altered line holds bytes that are not UTF-8")]
        m = _ALTERED.match(line)
        if m is None:
            return [self.error(offset, line, "not an `Action package repo` line")]
        word, pkg, repo = m.group(2), m.group(3), m.group(4)
        repo = None if repo is None else repo.lstrip("@") or None
        if repo == "System":
            repo = None
        txn.sides.append(_Side(word, parse_nevra(pkg), pkg, repo, offset, line))
        return []

    def _when(self, txn: _Txn) -> datetime | None:
        text = txn.fields.get("Begin time", "")
        text = re.sub(r"\s+[A-Z]{2,5}$", "", text.strip())  # `... PM UTC`: the zone name is the local one
        for fmt in _TIME_FORMATS:
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=self._tz).astimezone(UTC)
            except ValueError:
                continue
        return None

    def _close(self) -> list[ParseResult]:
        txn, self._txn = self._txn, None
        if txn is None:
            return []
        ts = self._when(txn)
        if ts is None:
            begin = txn.fields.get("Begin time", "")
            return [self.error(txn.start_offset, f"Begin time : {begin}", f"invalid Begin time {begin!r}")]
        cmd = txn.fields.get("Command Line") or None
        code = txn.fields.get("Return-Code", "Success")
        error = None if code in ("Success", "") else f"Return-Code: {code}"
        out: list[ParseResult] = []
        sides = list(txn.sides)
        i = 0
        while i < len(sides):
            s = sides[i]
            i += 1
            if s.word in _IGNORED:
                continue
            if s.word in _PAIRS or s.word in _OLD_SIDES:
                partner = sides[i] if i < len(sides) else None
                got = self._pair(s, partner, ts, cmd, error)
                if got is not None:
                    out.append(got)
                    i += 1
                    continue
                out.append(
                    self.error(s.offset, s.line, f"{s.word} without its other side: cannot tell the change")
                )
                continue
            if s.nevra is None:
                out.append(self.error(s.offset, s.line, f"cannot split package {s.evr_text!r}"))
            elif s.word in _INSTALLS:
                out.append(self._change("install", s.nevra, None, s.nevra, s.repo, ts, cmd, error))
            elif s.word in _REMOVALS:
                out.append(self._change("remove", s.nevra, s.nevra, None, s.repo, ts, cmd, error))
            else:
                out.append(self.error(s.offset, s.line, f"unknown action {s.word!r}"))
        return out

    def _pair(
        self, s: _Side, partner: _Side | None, ts: datetime, cmd: str | None, error: str | None
    ) -> ParseResult | None:
        if partner is None:
            return None
        if s.word in _PAIRS and partner.word == _PAIRS[s.word][1]:
            new, old = s.nevra, partner.nevra  # dnf 4: new side first
        elif s.word in _OLD_SIDES and partner.word == _OLD_SIDES[s.word]:
            old = s.nevra  # yum 3: old side first, the new side a bare evr[.arch]
            new = partner.nevra
            if old is not None and (new is None or new.name != old.name):
                evr = parse_evr(
                    partner.evr_text.rsplit(".", 1)[0] if "." in partner.evr_text else partner.evr_text
                )
                if evr is not None:
                    new = Nevra(old.name, evr.epoch, evr.version, evr.release, old.arch)
        else:
            return None
        if new is None or old is None or new.name != old.name:
            return None
        action = _PAIRS[s.word if s.word in _PAIRS else _OLD_SIDES[s.word]][0]
        repo = s.repo if s.word in _PAIRS else partner.repo
        return self._change(action, new, old, new, repo, ts, cmd, error)

    def _change(
        self,
        action: PackageAction,
        subject: Nevra,
        old: Nevra | None,
        new: Nevra | None,
        repo: str | None,
        ts: datetime,
        cmd: str | None,
        error: str | None,
    ) -> ParseResult:
        return rpm_change(action, ts, "dnf", subject.name, subject.arch, new=new, old=old, repo=repo,
                          commandline=cmd, error=error)  # fmt: skip
