"""Advisory records (pure): an OSV record, or one CVE of the Debian Security Tracker's JSON, to an
AdvisoryObserved. No I/O: producers/vulnerabilities/feed.py reads the files.

OSV: https://ossf.github.io/osv-schema/ (id, aliases/upstream, summary/details, severity[] of CVSS
vectors, affected[] with package.ecosystem/name, ranges[].events introduced/fixed/last_affected/limit,
versions[], withdrawn, database_specific/ecosystem_specific severity).

Debian tracker (https://security-tracker.debian.org/tracker/data/json): {source package: {CVE: {
description, scope, debianbug, releases: {codename: {status, repositories, fixed_version, urgency,
nodsa, nodsa_reason}}}}}. status `resolved` with fixed_version "0" means the release was never
affected; `resolved` with a version is fixed there; `open` is affected with no fix; `undetermined`
says nothing yet and is left out (no finding is better than a guessed one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import orjson
from cvss import CVSS2, CVSS3, CVSS4  # type: ignore[import-untyped]

from schemas.events.vulnerabilities import (
    AdvisoryObserved,
    AffectedPackage,
    AffectedRange,
    RangeEvent,
    RangeEventKind,
    Severity,
)

# Debian codenames -> release numbers, as OSV's Debian ecosystem names them (Debian:12).
DEBIAN_RELEASES: dict[str, str] = {
    "buzz": "1.1",
    "rex": "1.2",
    "bo": "1.3",
    "hamm": "2.0",
    "slink": "2.1",
    "potato": "2.2",
    "woody": "3.0",
    "sarge": "3.1",
    "etch": "4",
    "lenny": "5",
    "squeeze": "6",
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "duke": "15",
}
_RANGE_KINDS: tuple[RangeEventKind, ...] = ("introduced", "fixed", "last_affected", "limit")
_WORDS: dict[str, Severity] = {
    "critical": "critical",
    "high": "high",
    "important": "high",  # Red Hat's word
    "moderate": "medium",
    "medium": "medium",
    "low": "low",
    "negligible": "low",
    "unimportant": "low",  # the Debian tracker's urgency
}
# The Debian tracker's urgencies, which are the security team's, not CVSS.
_URGENCY: dict[str, Severity] = {"high": "high", "medium": "medium", "low": "low", "unimportant": "low"}


class AdvisoryError(ValueError):
    """The record is not an advisory of the format: the message says why."""


def band(score: float) -> Severity | None:
    """CVSS v3/v4 qualitative bands (FIRST): 9.0+ critical, 7.0+ high, 4.0+ medium, 0.1+ low."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0:
        return "low"
    return None


def cvss_score(vector: str) -> float | None:
    """The base score of a CVSS v2, v3.x or v4 vector (the `cvss` library); None if it is not one."""
    try:
        if vector.startswith("CVSS:4"):
            return float(CVSS4(vector).base_score)
        if vector.startswith("CVSS:3"):
            return float(CVSS3(vector).base_score)
        return float(CVSS2(vector).base_score)
    except Exception:  # the library raises its own error classes for every kind of bad vector
        return None


def _str(v: object, what: str) -> str:
    if not isinstance(v, str) or not v:
        raise AdvisoryError(f"{what} must be a non-empty string")
    return v


def _time(v: object) -> datetime | None:
    if not isinstance(v, str) or not v:
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None


def _word(v: object) -> Severity | None:
    return _WORDS.get(v.strip().lower()) if isinstance(v, str) else None


def _digest(obs: Mapping[str, Any]) -> str:
    return hashlib.blake2b(orjson.dumps(obs, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def _ranges(raw: object) -> tuple[AffectedRange, ...]:
    out: list[AffectedRange] = []
    for r in raw if isinstance(raw, list) else ():
        if not isinstance(r, dict):
            raise AdvisoryError("a range must be an object")
        events: list[RangeEvent] = []
        for e in r.get("events") or ():
            if not isinstance(e, dict):
                raise AdvisoryError("a range event must be an object")
            for kind in _RANGE_KINDS:
                if kind in e:
                    events.append(RangeEvent(kind=kind, version=_str(e[kind], f"range event {kind}")))
        out.append(AffectedRange(type=_str(r.get("type"), "range type"), events=tuple(events)))
    return tuple(out)


def osv_advisory(record: object) -> AdvisoryObserved:
    """One OSV record to an AdvisoryObserved; AdvisoryError if it is not one."""
    if not isinstance(record, dict):
        raise AdvisoryError("an OSV record is a JSON object")
    rid = _str(record.get("id"), "id")
    affected: list[AffectedPackage] = []
    severity: Severity | None = None
    for a in record.get("affected") or ():
        if not isinstance(a, dict) or not isinstance(a.get("package"), dict):
            raise AdvisoryError("affected[] entries need a package object")
        pkg = a["package"]
        versions = a.get("versions") or []
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            raise AdvisoryError("affected[].versions must be strings")
        affected.append(
            AffectedPackage(
                ecosystem=_str(pkg.get("ecosystem"), "package.ecosystem"),
                name=_str(pkg.get("name"), "package.name"),
                ranges=_ranges(a.get("ranges")),
                versions=tuple(versions),
            )
        )
        for extra in ("ecosystem_specific", "database_specific"):
            spec = a.get(extra)
            if isinstance(spec, dict):
                severity = severity or _word(spec.get("severity"))
    db = record.get("database_specific")
    if isinstance(db, dict):
        severity = _word(db.get("severity")) or severity
    vector: str | None = None
    score: float | None = None
    for s in record.get("severity") or ():
        if isinstance(s, dict) and isinstance(s.get("score"), str):
            got = cvss_score(s["score"])
            if got is not None and (score is None or str(s.get("type", "")) >= "CVSS_V3"):
                vector, score = s["score"], got
    if severity is None and score is not None:
        severity = band(score)
    aliases = [a for a in (record.get("aliases") or ()) if isinstance(a, str)]
    # Debian's DSA/DLA records name their CVEs in `upstream` rather than `aliases`.
    aliases += [u for u in (record.get("upstream") or ()) if isinstance(u, str) and u not in aliases]
    summary = record.get("summary") or record.get("details")
    fields: dict[str, Any] = {
        "id": rid,
        "feed": "osv",
        "aliases": tuple(aliases),
        "summary": summary[:500] if isinstance(summary, str) else None,
        "severity": severity,
        "cvss": score,
        "cvss_vector": vector,
        "published": _time(record.get("published")),
        "modified": _time(record.get("modified")),
        "withdrawn": _time(record.get("withdrawn")),
        "affected": tuple(affected),
    }
    # The record as published is the content: any change to it (a new fix, a new alias) is a new digest.
    return AdvisoryObserved(digest=_digest(record), **fields)


def tracker_advisories(data: object) -> Iterable[AdvisoryObserved | AdvisoryError]:
    """The Debian tracker's JSON, regrouped by CVE (one advisory per CVE, an affected entry per source
    package and release). A malformed package entry is an AdvisoryError in the output, not the end."""
    if not isinstance(data, dict):
        raise AdvisoryError("the Debian tracker JSON is an object keyed by source package")
    by_cve: dict[str, dict[str, Any]] = {}
    for package, cves in data.items():
        if not isinstance(cves, dict):
            yield AdvisoryError(f"{package}: not an object of CVEs")
            continue
        for cve, entry in cves.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("releases", {}), dict):
                yield AdvisoryError(f"{package}/{cve}: not a tracker entry")
                continue
            acc = by_cve.setdefault(cve, {"summary": None, "urgency": [], "affected": []})
            if acc["summary"] is None and isinstance(entry.get("description"), str):
                acc["summary"] = entry["description"][:500]
            for codename, rel in cast(dict[str, Any], entry.get("releases", {})).items():
                number = DEBIAN_RELEASES.get(codename)
                if number is None or not isinstance(rel, dict):
                    continue  # sid/experimental: no OSV ecosystem to match a host against
                status, fixed = rel.get("status"), rel.get("fixed_version")
                urgency = rel.get("urgency")
                if isinstance(urgency, str) and urgency in _URGENCY:
                    acc["urgency"].append(_URGENCY[urgency])
                events: tuple[RangeEvent, ...]
                if status == "resolved" and isinstance(fixed, str) and fixed and fixed != "0":
                    events = (
                        RangeEvent(kind="introduced", version="0"),
                        RangeEvent(kind="fixed", version=fixed),
                    )
                elif status == "open":
                    events = (RangeEvent(kind="introduced", version="0"),)
                else:
                    continue  # never affected (fixed "0"), or undetermined
                acc["affected"].append(
                    AffectedPackage(
                        ecosystem=f"Debian:{number}",
                        name=str(package),
                        ranges=(AffectedRange(type="ECOSYSTEM", events=events),),
                    )
                )
    order = ("critical", "high", "medium", "low")
    for cve in sorted(by_cve):
        acc = by_cve[cve]
        urg = sorted(acc["urgency"], key=order.index)
        fields: dict[str, Any] = {
            "id": cve,
            "feed": "debian-tracker",
            "summary": acc["summary"],
            "severity": urg[0] if urg else None,
            "affected": tuple(sorted(acc["affected"], key=lambda a: (a.ecosystem, a.name))),
        }
        obs = AdvisoryObserved(digest="", **fields)
        yield obs.model_copy(update={"digest": _digest(obs.model_dump(mode="json", exclude={"digest"}))})
