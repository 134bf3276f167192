"""Decide package domain events from raw package observations (pure: no I/O, no clock).

One real change is often told twice: apt's history.log and dpkg's dpkg.log both report it, and so do
dnf.log and dnf.rpm.log. Those "twins" become ONE domain event. Whichever twin arrives first is emitted
at once (so a change reaches the graph without waiting); when the other arrives, the event is emitted
again under the SAME id with the merged fields: the rich log's fields (requested_by, commandline,
automatic, repo, error) win, the plain log's per-package timestamp wins because it is the precise one.
Projections upsert by event id, so the graph holds one Event either way. Re-read observations (same
raw id) are dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events import PACKAGE_EVENT_BY_ACTION, PackageChangeObserved, ecosystem_of

SOURCE = "processors.packages"
# rich source -> the plain log that tells the same changes with less context
TWIN_OF = {"apt": "dpkg", "dpkg": "apt", "dnf": "dnf-rpm", "dnf-rpm": "dnf"}
RICH = frozenset({"apt", "dnf"})
RICH_FIELDS = ("automatic", "requested_by", "commandline", "repo", "error")
# How far the plain log's timestamp may lie outside the rich log's session and still be the same change.
SLACK = timedelta(minutes=2)
# A session without an end (apt killed mid-run) is taken to cover this long.
OPEN_SESSION = timedelta(hours=6)
KEEP_PER_PACKAGE = 32


def state_key(host: str, obs: PackageChangeObserved) -> str:
    return f"{host}/{ecosystem_of(obs.source)}/{obs.package}"


def _window(rec: dict[str, Any]) -> tuple[datetime, datetime] | None:
    start = rec.get("session_start")
    if start is None:
        return None
    s = datetime.fromisoformat(start)
    end = rec.get("session_end")
    e = datetime.fromisoformat(end) if end else s + OPEN_SESSION
    return s - SLACK, e + SLACK


def _is_twin(rec: dict[str, Any], obs: PackageChangeObserved) -> bool:
    twin = TWIN_OF.get(obs.source)
    if twin is None or twin not in rec["sources"] or obs.source in rec["sources"]:
        return False
    if rec["action"] != obs.action or rec["version"] != obs.version:
        return False
    if not _arch_compatible(rec["arch"], obs.arch):
        return False
    if obs.source in RICH:
        window = _window({"session_start": _iso(obs.session_start), "session_end": _iso(obs.session_end)})
        plain_ts = datetime.fromisoformat(rec["ts"])
    else:
        window = _window(rec)
        plain_ts = obs.ts
    if window is None:  # a rich record without session times: fall back to closeness in time
        rich_ts = obs.ts if obs.source in RICH else datetime.fromisoformat(rec["ts"])
        return abs(plain_ts - rich_ts) <= SLACK
    return window[0] <= plain_ts <= window[1]


def _arch_compatible(a: str | None, b: str | None) -> bool:
    # apt writes the native arch for Architecture: all packages (perl-modules:amd64) where dpkg.log
    # writes :all; the old apt format writes no arch at all.
    return a is None or b is None or a == b or "all" in (a, b)


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def _record(eid: str, raw_id: str, obs: PackageChangeObserved) -> dict[str, Any]:
    fields = obs.model_dump(mode="json", exclude={"ts", "action", "source", "session_start", "session_end"})
    return {
        "id": eid,
        "raw_ids": [raw_id],
        "action": obs.action,
        "version": obs.version,
        "arch": obs.arch,
        "ts": obs.ts.isoformat(),
        "sources": [obs.source],
        "session_start": _iso(obs.session_start),
        "session_end": _iso(obs.session_end),
        "fields": fields,
    }


def _merge(rec: dict[str, Any], raw_id: str, obs: PackageChangeObserved) -> dict[str, Any]:
    new = dict(rec)
    fields = dict(rec["fields"])
    incoming = obs.model_dump(mode="json")
    rich_incoming = obs.source in RICH
    for name, value in incoming.items():
        if name not in fields:
            continue
        if fields[name] is None or (rich_incoming and name in RICH_FIELDS and value is not None):
            fields[name] = value
    if obs.arch is not None and (fields.get("arch") is None or not rich_incoming):
        fields["arch"] = obs.arch  # the plain log's arch is the package's own (all, not amd64)
    new["fields"] = fields
    new["arch"] = fields.get("arch")
    new["sources"] = sorted({*rec["sources"], obs.source})
    new["raw_ids"] = [*rec["raw_ids"], raw_id]
    if rich_incoming:
        new["session_start"] = _iso(obs.session_start)
        new["session_end"] = _iso(obs.session_end)
    else:
        new["ts"] = obs.ts.isoformat()  # the plain log's timestamp is per package, the rich one per session
    return new


def _event(host: str, rec: dict[str, Any], raw: Envelope) -> Envelope:
    cls = PACKAGE_EVENT_BY_ACTION[rec["action"]]
    payload = cls.model_validate(
        {
            **rec["fields"],
            "action": rec["action"],
            "ecosystem": ecosystem_of(rec["sources"][0]),
            "sources": tuple(rec["sources"]),
        }
    )
    return Envelope(
        id=rec["id"],
        type=cls.TYPE,
        schema_version=cls.VERSION,
        host=host,
        source=SOURCE,
        ts=datetime.fromisoformat(rec["ts"]),
        observed_at=raw.observed_at,
        subject=payload.package,
        causation_id=raw.id,
        correlation_id=raw.correlation_id,
        payload=payload.model_dump(mode="json"),
    )


def decide(raw: Envelope, obs: PackageChangeObserved, table: Table) -> list[Envelope]:
    """Turn one raw observation into zero or one domain event, updating the per-package state."""
    key = state_key(raw.host, obs)
    state: dict[str, Any] = table.get(key) or {"recent": []}
    recent: list[dict[str, Any]] = state["recent"]
    if any(raw.id in rec["raw_ids"] for rec in recent):
        return []
    for i, rec in enumerate(recent):
        if _is_twin(rec, obs):
            merged = _merge(rec, raw.id, obs)
            recent[i] = merged
            table.set(key, state)
            if merged["fields"] == rec["fields"] and merged["ts"] == rec["ts"]:
                return []
            return [_event(raw.host, merged, raw)]
    rec = _record(event_id("packages", raw.id), raw.id, obs)
    recent.append(rec)
    del recent[:-KEEP_PER_PACKAGE]
    table.set(key, state)
    return [_event(raw.host, rec, raw)]
