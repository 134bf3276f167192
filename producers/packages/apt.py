"""Parser for apt's /var/log/apt/history.log: one entry per apt run, one change per package it lists."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from producers.packages.base import LogParser, ParseResult, local_tz, parse_local
from producers.packages.versions import split_deb_epoch
from producers.text import broken
from schemas.events.packages import PackageAction, PackageChangeObserved

_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9-]*):(?:[ \t]+(.*)|)")
# One `name[:arch] (v1[, v2][, automatic])` item; names and versions hold no spaces, commas or parentheses.
_ITEM = re.compile(r"\s*([^\s(),]+)\s*\(([^()]*)\)\s*(,|$)")

_ACTIONS: dict[str, PackageAction] = {
    "Install": "install",
    "Upgrade": "upgrade",
    "Downgrade": "downgrade",
    "Remove": "remove",
    "Purge": "purge",
    "Reinstall": "reinstall",
}


@dataclass
class _Field:
    key: str
    value: str
    offset: int
    line: str


@dataclass
class _Entry:
    start_offset: int
    start: datetime | None
    start_line: str
    fields: list[_Field] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Item:
    package: str
    arch: str | None
    old: str | None
    new: str | None
    automatic: bool | None


class AptHistoryParser(LogParser):
    """apt history.log: blank-line separated entries from `Start-Date:` to `End-Date:`.

    An entry's changes are emitted at its End-Date, or at the next Start-Date when apt died before
    writing one (then without session_end). Dates are local time without offset, read in `tz`.
    """

    source = "apt"

    def __init__(self, tz: tzinfo | None = None) -> None:
        self._tz = tz if tz is not None else local_tz()
        self._entry: _Entry | None = None

    def pending_start(self) -> int | None:
        return None if self._entry is None else self._entry.start_offset

    def _feed(self, line: str, offset: int) -> list[ParseResult]:
        if not line.strip():
            return []
        entry = self._entry
        if line[0] in " \t":
            # RFC 822 style folding: apt indents the continuation of a multi-line value.
            if entry is None or not entry.fields:
                return [self.error(offset, line, "continuation line outside an entry")]
            last = entry.fields[-1]
            last.value = f"{last.value}\n{line.strip()}"
            return []
        m = _FIELD.fullmatch(line)
        if m is None:
            return [self.error(offset, line, "not a `Key: value` line")]
        key, value = m.group(1), (m.group(2) or "").strip()

        if key == "Start-Date":
            out = self._complete(None, None) if entry is not None else []
            start = parse_local(value, self._tz)
            self._entry = _Entry(start_offset=offset, start=start, start_line=line)
            if start is None:
                out.append(self.error(offset, line, f"invalid Start-Date {value!r}"))
            return out
        if entry is None:
            return [self.error(offset, line, f"{key} line outside an entry (no Start-Date before it)")]
        if key == "End-Date":
            end = parse_local(value, self._tz)
            out = [] if end is not None else [self.error(offset, line, f"invalid End-Date {value!r}")]
            return out + self._complete(end, (offset, line))
        entry.fields.append(_Field(key, value, offset, line))
        return []

    def _flush(self) -> list[ParseResult]:
        return self._complete(None, None) if self._entry is not None else []

    def _complete(self, end: datetime | None, end_line: tuple[int, str] | None) -> list[ParseResult]:
        entry = self._entry
        self._entry = None
        if entry is None:
            return []
        ts = entry.start or end
        if ts is None:
            where = end_line or (entry.start_offset, entry.start_line)
            return [self.error(where[0], where[1], "entry has neither a valid Start-Date nor End-Date")]

        values: dict[str, str] = {}
        for f in entry.fields:
            values.setdefault(f.key, f.value)
        commandline = values.get("Commandline") or None
        requested_by = _user_name(values.get("Requested-By"))
        error = values.get("Error") or None

        out: list[ParseResult] = []
        for f in entry.fields:
            action = _ACTIONS.get(f.key)
            if action is None:
                continue  # Commandline, Requested-By, Error, and tags newer apt may add
            items, problems = _parse_items(action, f.value)
            out.extend(self.error(f.offset, f.line, problem) for problem in problems)
            for item in items:
                version = item.new if item.new is not None else item.old
                out.append(
                    PackageChangeObserved(
                        ts=ts,
                        action=action,
                        source="apt",
                        package=item.package,
                        arch=item.arch,
                        old_version=item.old,
                        new_version=item.new,
                        epoch=split_deb_epoch(version),
                        automatic=item.automatic,
                        requested_by=requested_by,
                        commandline=commandline,
                        error=error,
                        session_start=entry.start,
                        session_end=end,
                    )
                )
        return out


def _user_name(value: str | None) -> str | None:
    """`Requested-By: alice (1000)` -> `alice`."""
    if not value:
        return None
    name = re.sub(r"\s*\(\d+\)\s*$", "", value).strip()
    return name or None


def _split_name(text: str) -> tuple[str, str | None]:
    # Multiarch apt writes `name:arch`; apt before 0.8.13 wrote the bare name.
    name, sep, arch = text.partition(":")
    return (name, arch or None) if sep else (text, None)


_NEXT_ITEM = re.compile(r"\)\s*,")


def _parse_items(action: PackageAction, value: str) -> tuple[list[_Item], list[str]]:
    """Every well-formed item of an action line, and a description of each item that was not.

    A damaged item (bytes that were not UTF-8, or a broken shape) is reported and skipped: the items
    after it on the line are still read.
    """
    items: list[_Item] = []
    problems: list[str] = []
    pos = 0
    text = value.replace("\n", " ")
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if m is None or m.end() == pos:
            resync = _NEXT_ITEM.search(text, pos)
            end = len(text) if resync is None else resync.end()
            problems.append(f"unparsable {action} item at {text[pos:end].strip()[:60]!r}")
            pos = end
            continue
        pos = m.end()
        item, problem = _item(action, m)
        if problem is not None:
            problems.append(problem)
        elif item is not None:
            items.append(item)
        if m.group(3) == "":
            break
    return items, problems


def _item(action: PackageAction, m: re.Match[str]) -> tuple[_Item | None, str | None]:
    whole = m.group(0).strip().rstrip(",")
    if broken(whole):
        return None, f"{action} item {whole!r} holds bytes that are not UTF-8"
    package, arch = _split_name(m.group(1))
    tokens = [t.strip() for t in m.group(2).split(",")]
    automatic = False
    if tokens and tokens[-1] == "automatic":
        automatic = True
        tokens.pop()
    versions = [t or None for t in tokens]
    if action in ("upgrade", "downgrade"):
        if len(versions) != 2:
            return None, f"{action} item {whole!r} needs (old, new) versions"
        old, new = versions
    elif len(versions) != 1:
        return None, f"{action} item {whole!r} needs one version"
    elif action == "install":
        old, new = None, versions[0]
    elif action == "reinstall":
        old = new = versions[0]
    else:
        old, new = versions[0], None
    return _Item(package, arch, old, new, automatic if action == "install" else None), None
