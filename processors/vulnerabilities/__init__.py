"""Decide vulnerability events from imported advisories and the installed packages (pure: no I/O).

Two inputs meet in one state table (the raw topic has one partition, so every advisory and every host
are in it):

- an advisory (AdvisoryObserved) is stored with its affected packages and indexed by (release, source
  package); a record whose digest is unchanged decides nothing, so re-importing the same file is free
  and an updated file decides only what changed. A new or changed advisory is VulnerabilityPublished
  and is matched against every known host's packages of those sources;
- a host's packages (InstalledSourcesObserved) are diffed against the previous snapshot; each added,
  changed or removed package is matched against the advisories of its source.

A match that starts is VulnerabilityFound, one that ends VulnerabilityFixed (reason: upgraded,
removed, or the advisory changed). Matching a package is a function of its source version and the
advisories' ranges (processors/vulnerabilities/match.py); event ids derive from the raw record's id, so
redelivery decides the same ids.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from processors.routing import Route, typed
from processors.tables import Table
from processors.vulnerabilities.match import comparator, match, release_of
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.vulnerabilities import (
    EVENTS_VULNERABILITIES,
    RAW_VULNERABILITIES,
    AdvisoryObserved,
    FindingEvent,
    InstalledPackage,
    InstalledSourcesObserved,
    VulnerabilityFixed,
    VulnerabilityFound,
    VulnerabilityPublished,
)

SOURCE = "processors.vulnerabilities"
HOSTS = "hosts"


def _adv_key(vid: str) -> str:
    return f"adv/{vid}"


def _idx_key(release: str, name: str) -> str:
    return f"idx/{release}/{name}"


def _host_key(host: str) -> str:
    return f"host/{host}"


def _envelope(
    raw: Envelope, payload: EventPayload, host: str, ts: datetime, subject: str, *extra: object
) -> Envelope:
    return Envelope(
        id=event_id("vulnerabilities", raw.id, payload.TYPE, *extra),
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host=host,
        source=SOURCE,
        ts=ts,
        observed_at=raw.observed_at,
        subject=subject,
        causation_id=raw.id,
        payload=payload.model_dump(mode="json"),
    )


def _names(adv: dict[str, Any]) -> set[tuple[str, str]]:
    return {(release_of(a["ecosystem"]), a["name"]) for a in adv.get("affected", ())}


def evaluate(adv: dict[str, Any], release: str | None, source: str, version: str) -> tuple[bool, str | None]:
    """Is `source` at `version` on a host of `release` affected by the stored advisory? (and the fix)"""
    if release is None or adv.get("withdrawn"):
        return False, None
    cmp = comparator(release)
    if cmp is None:
        return False, None
    hit, fix = False, None
    for a in adv.get("affected", ()):
        if a["name"] != source or release_of(a["ecosystem"]) != release:
            continue
        try:
            affected, fixed = match(version, list(a.get("ranges", ())), list(a.get("versions", ())), cmp)
        except ValueError:
            continue  # a version the order cannot read: no finding rather than a wrong one
        if affected:
            hit = True
            if fixed is not None and (fix is None or cmp(fixed, fix) < 0):
                fix = fixed
    return hit, fix


# A host's packages are stored in shards of about this many (by a hash of the software key): one table
# value must stay well under Kafka's 1 MiB record limit (a Faust table's changelog is a topic), and a
# desktop holds 3-8k packages at ~160 bytes each.
SHARD_PACKAGES = 1000


def _shard_key(host: str, i: int) -> str:
    return f"host/{host}/packages/{i}"


def _shard_of(key: str, shards: int) -> int:
    return zlib.crc32(key.encode()) % shards


class _Host:
    """One host's stored packages and open findings: findings[software key][vulnerability] = fix."""

    def __init__(self, table: Table, host: str) -> None:
        self.table, self.host = table, host
        st = table.get(_host_key(host)) or {}
        self.release: str | None = st.get("release")
        self.digest: str | None = st.get("digest")
        self.shards: int = st.get("shards", 0)
        # key -> [name, version, source, source_version]
        self.packages: dict[str, list[str]] = st.get("packages", {})  # the unsharded layout, before 2026-12
        for i in range(self.shards):
            self.packages.update(table.get(_shard_key(host, i)) or {})
        self.by_source: dict[str, list[str]] = {}
        for key, row in sorted(self.packages.items()):
            self.by_source.setdefault(row[2], []).append(key)
        self.packages_changed = "packages" in st  # rewrite an old layout in shards at the next save
        self.findings: dict[str, dict[str, str | None]] = st.get("findings", {})
        # vulnerability -> software keys with an open finding of it (so an advisory's update does not
        # walk every finding of the host)
        self.by_vuln: dict[str, list[str]] = st.get("by_vuln", {})

    def set_packages(self, packages: dict[str, list[str]]) -> None:
        self.packages = packages
        self.by_source = {}
        for key, row in sorted(packages.items()):
            self.by_source.setdefault(row[2], []).append(key)
        self.packages_changed = True

    def save(self) -> None:
        shards = self.shards
        if self.packages_changed:
            shards = max(1, -(-len(self.packages) // SHARD_PACKAGES))
            parts: list[dict[str, list[str]]] = [{} for _ in range(shards)]
            for key, row in self.packages.items():
                parts[_shard_of(key, shards)][key] = row
            for i, part in enumerate(parts):
                self.table.set(_shard_key(self.host, i), part)
            for i in range(shards, self.shards):
                self.table.delete(_shard_key(self.host, i))
        self.table.set(
            _host_key(self.host),
            {
                "release": self.release,
                "digest": self.digest,
                "shards": shards,
                "findings": self.findings,
                "by_vuln": self.by_vuln,
            },
        )
        self.shards, self.packages_changed = shards, False


def _finding(
    cls: type[FindingEvent],
    adv: dict[str, Any],
    vid: str,
    key: str,
    pkg: list[str],
    release: str | None,
    fixed: str | None,
    reason: str,
) -> FindingEvent:
    return cls(
        vulnerability=vid,
        software=key,
        finding=f"{vid}|{key}",
        package=pkg[0],
        version=pkg[1],
        source=pkg[2],
        release=release,
        fixed_version=fixed,
        severity=adv.get("severity"),
        cvss=adv.get("cvss"),
        reason=reason,
    )


def _rematch(
    raw: Envelope,
    h: _Host,
    key: str,
    vid: str,
    adv: dict[str, Any],
    ts: datetime,
    reason_found: str,
    reason_fixed: str,
    old_pkg: list[str] | None = None,
) -> list[Envelope]:
    """Match one package against one advisory and emit the change of its finding, if any."""
    pkg = h.packages.get(key)
    before = h.findings.get(key, {})
    was = vid in before
    now, fix = (False, None) if pkg is None else evaluate(adv, h.release, pkg[2], pkg[3])
    out: list[Envelope] = []
    if now and (not was or before[vid] != fix):
        assert pkg is not None
        h.findings.setdefault(key, {})[vid] = fix
        if not was:
            h.by_vuln.setdefault(vid, []).append(key)
            ev = _finding(VulnerabilityFound, adv, vid, key, pkg, h.release, fix, reason_found)
            out.append(_envelope(raw, ev, h.host, ts, f"{vid}|{key}", vid, key))
    elif was and not now:
        del before[vid]
        if not before:
            h.findings.pop(key, None)
        keys = [k for k in h.by_vuln.get(vid, []) if k != key]
        if keys:
            h.by_vuln[vid] = keys
        else:
            h.by_vuln.pop(vid, None)
        gone = pkg or old_pkg or [key.rsplit("/", 1)[-1], "", "", ""]
        ev = _finding(
            VulnerabilityFixed, adv, vid, key, gone, h.release, adv_fix(adv, h.release, gone), reason_fixed
        )
        out.append(_envelope(raw, ev, h.host, ts, f"{vid}|{key}", vid, key))
    return out


def adv_fix(adv: dict[str, Any], release: str | None, pkg: list[str]) -> str | None:
    """The advisory's fixed version for this package's source on this release (for a Fixed event)."""
    for a in adv.get("affected", ()):
        if a["name"] == pkg[2] and release is not None and release_of(a["ecosystem"]) == release:
            for r in a.get("ranges", ()):
                for e in r.get("events", ()):
                    if e["kind"] == "fixed":
                        return str(e["version"])
    return None


def decide_advisory(raw: Envelope, p: AdvisoryObserved, table: Table) -> list[Envelope]:
    prev = table.get(_adv_key(p.id))
    if prev is not None and prev.get("digest") == p.digest:
        return []
    adv = {
        "digest": p.digest,
        "severity": p.severity,
        "cvss": p.cvss,
        "withdrawn": p.withdrawn is not None,
        "affected": [a.model_dump(mode="json") for a in p.affected],
    }
    old_names = _names(prev) if prev else set()
    new_names = _names(adv)
    for release, name in old_names - new_names:
        ids = [i for i in table.get(_idx_key(release, name)) or [] if i != p.id]
        if ids:
            table.set(_idx_key(release, name), ids)
        else:
            table.delete(_idx_key(release, name))
    for release, name in new_names - old_names:
        ids = table.get(_idx_key(release, name)) or []
        if p.id not in ids:
            table.set(_idx_key(release, name), sorted([*ids, p.id]))
    table.set(_adv_key(p.id), adv)
    ts = raw.ts
    published = VulnerabilityPublished(
        id=p.id,
        feed=p.feed,
        aliases=p.aliases,
        summary=p.summary,
        severity=p.severity,
        cvss=p.cvss,
        published=p.published,
        modified=p.modified,
        withdrawn=p.withdrawn is not None,
        packages=tuple(sorted({f"{a.ecosystem}/{a.name}" for a in p.affected})),
    )
    out = [_envelope(raw, published, raw.host, ts, p.id)]
    for host in table.get(HOSTS) or []:
        h = _Host(table, host)
        sources = {name for release, name in old_names | new_names if release == h.release}
        keys = {k for s in sources for k in h.by_source.get(s, ())}
        keys |= set(h.by_vuln.get(p.id, ()))
        changed: list[Envelope] = []
        for key in sorted(keys):
            changed += _rematch(raw, h, key, p.id, adv, ts, "advisory", "advisory")
        if changed:
            h.save()
            out += changed
    return out


def _parts_key(host: str) -> str:
    return f"installed-parts/{host}"


def _part_key(host: str, i: int) -> str:
    return f"installed-parts/{host}/{i}"


def _assemble(host: str, p: InstalledSourcesObserved, table: Table) -> list[InstalledPackage] | None:
    """The whole snapshot once every part of it has arrived (None until then). A large package database
    comes in parts (producers/vulnerabilities/source.py); each part waits in its own table value. A
    part of a newer snapshot drops what is left of an older, unfinished one."""
    if p.parts == 1:
        return list(p.packages)
    meta = table.get(_parts_key(host)) or {}
    if meta.get("digest") != p.digest:
        for i in range(meta.get("parts", 0)):
            table.delete(_part_key(host, i))
        meta = {"digest": p.digest, "parts": p.parts}
        table.set(_parts_key(host), meta)
    table.set(_part_key(host, p.part), [x.model_dump(mode="json") for x in p.packages])
    rows: list[dict[str, Any]] = []
    for i in range(p.parts):
        got = table.get(_part_key(host, i))
        if got is None:
            return None
        rows += got
    for i in range(p.parts):
        table.delete(_part_key(host, i))
    table.delete(_parts_key(host))
    return [InstalledPackage.model_validate(r) for r in rows]


def decide_installed(raw: Envelope, p: InstalledSourcesObserved, table: Table) -> list[Envelope]:
    h = _Host(table, raw.host)
    if h.digest == p.digest:
        return []
    packages = _assemble(raw.host, p, table)
    if packages is None:
        return []  # more parts of this snapshot to come
    old_packages, old_release = h.packages, h.release
    h.set_packages({x.key: [x.name, x.version, x.source, x.source_version] for x in packages})
    h.release, h.digest = p.release, p.digest
    hosts = table.get(HOSTS) or []
    if raw.host not in hosts:
        table.set(HOSTS, sorted([*hosts, raw.host]))
    keys = set(h.packages) | set(old_packages)
    if old_release == h.release:
        keys = {k for k in keys if h.packages.get(k) != old_packages.get(k)}
    cmp = comparator(h.release) if h.release else None
    out: list[Envelope] = []
    for key in sorted(keys):
        pkg, old = h.packages.get(key), old_packages.get(key)
        if pkg is None:
            found, fixed = "installed", "removed"
        elif old is None:
            found, fixed = "installed", "upgraded"
        else:
            direction = 0
            if cmp is not None:
                try:
                    direction = cmp(pkg[1], old[1])
                except ValueError:
                    direction = 0
            found = "downgraded" if direction < 0 else "upgraded"
            fixed = "downgraded" if direction < 0 else "upgraded"
        vids = set(h.findings.get(key, {}))
        if pkg is not None and h.release is not None:
            vids |= set(table.get(_idx_key(h.release, pkg[2])) or [])
        for vid in sorted(vids):
            adv = table.get(_adv_key(vid))
            if adv is None:
                continue
            out += _rematch(raw, h, key, vid, adv, p.ts, found, fixed, old_pkg=old)
    h.save()
    return out


ROUTES: tuple[Route, ...] = (
    Route(
        name="vulnerabilities",
        source=RAW_VULNERABILITIES,
        sink=EVENTS_VULNERABILITIES,
        table="vulnerabilities",
        decide={
            AdvisoryObserved.TYPE: typed(AdvisoryObserved, decide_advisory),
            InstalledSourcesObserved.TYPE: typed(InstalledSourcesObserved, decide_installed),
        },
    ),
)
