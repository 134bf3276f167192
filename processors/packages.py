"""Decide package domain events from raw package observations (pure: no I/O, no clock).

One real change is often told twice: apt's history.log and dpkg's dpkg.log both report it, and so do
dnf.log and dnf.rpm.log. Those "twins" become ONE domain event. Whichever arrives first is emitted at
once (so a change reaches the graph without waiting); when the other arrives, the event is emitted
again under the SAME id with the merged fields: the rich log's fields (requested_by, commandline,
automatic, repo, error) win; the plain log's per-package timestamp and arch win because they are the
precise ones. Projections upsert by event id, so the graph holds one Event whatever the order.

A purge is one change even where dpkg logs it as two steps: `remove` then `purge` (and only `remove`
for packages without conffiles, even under `apt purge`). So a plain log's remove and purge of the
same version within moments, and apt's Purge, all fold into one PackagePurged event.

A re-read observation (same raw id) re-emits the change as it stands, under its id: harmless for
the graph, and the only safe answer under at-least-once delivery, where table state can outlive a
lost output.

An event's id is a hash of its state key (host, ecosystem, package, action family, version) and
the change's ordinal among that key's changes: a function of the logs' content alone, not of which
twin happened to be read first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events import (
    OBSERVED_EVENT_BY_STATE,
    PACKAGE_EVENT_BY_ACTION,
    PackageChangeObserved,
    PackageInventoried,
    ecosystem_of,
)
from schemas.events.packages import EVENTS_PACKAGES, RAW_PACKAGES

SOURCE = "processors.packages"
# the plain log that tells the same changes as a rich one, with less context
PLAIN_OF = {"apt": "dpkg", "dnf": "dnf-rpm"}
RICH = frozenset(PLAIN_OF)
PLAIN = frozenset(PLAIN_OF.values())
RICH_FIELDS = ("automatic", "requested_by", "commandline", "repo", "error")
REMOVALS = frozenset({"remove", "purge"})
# How far the plain log's timestamp may lie outside the rich log's session and still be the same change.
SLACK = timedelta(minutes=2)
# A session without an end (apt killed mid-run) is taken to cover this long.
OPEN_SESSION = timedelta(hours=6)
# Changes kept per state key; a key is one package, action family and version, so this only bounds
# how often the very same change may recur (reinstalls of one version).
KEEP_PER_KEY = 64
# Of those, changes that expect no further telling are kept only among the newest few: they are
# needed only to recognise a record delivered again (at-least-once), and a state that grows with
# the history is read and written whole on every decision (measured: a 1M-change backfill slowed
# the processor 3-4x as states grew to 64 changes).
KEEP_DONE = 8


def state_key(host: str, obs: PackageChangeObserved) -> str:
    """Twins can only be the same package, action family and version: keying the state by all three
    makes matching a lookup, however far one log runs ahead of the other during a backfill (apt's
    history covers many more changes per line than dpkg.log)."""
    family = "removal" if obs.action in REMOVALS else obs.action
    return f"{host}/{ecosystem_of(obs.source)}/{obs.package}/{family}/{obs.version}"


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def _arch_compatible(a: str | None, b: str | None) -> bool:
    # apt writes the native arch for Architecture: all packages (perl-modules:amd64) where dpkg.log
    # writes :all; the old apt format writes no arch at all.
    return a is None or b is None or a == b or "all" in (a, b)


def _actions_compatible(a: str, b: str) -> bool:
    return a == b or (a in REMOVALS and b in REMOVALS)


def _session(start: str | None, end: str | None) -> tuple[datetime, datetime] | None:
    if start is None:
        return None
    s = _ts(start)
    e = _ts(end) if end else s + OPEN_SESSION
    return s - SLACK, e + SLACK


def _within(plain_ts: datetime, rich_ts: datetime, session: tuple[datetime, datetime] | None) -> bool:
    if session is None:  # a rich record without session times: closeness in time decides
        return abs(plain_ts - rich_ts) <= SLACK
    return session[0] <= plain_ts <= session[1]


def _matches(rec: dict[str, Any], obs: PackageChangeObserved) -> bool:
    """Is `obs` another telling of the change `rec` records?"""
    if rec["version"] != obs.version or not _arch_compatible(rec["arch"], obs.arch):
        return False
    if not _actions_compatible(rec["action"], obs.action):
        return False
    sources = set(rec["sources"])
    if obs.source in RICH:
        if sources & RICH or PLAIN_OF[obs.source] not in sources:
            return False
        session = _session(_iso(obs.session_start), _iso(obs.session_end))
        return _within(_ts(rec["ts"]), obs.ts, session)
    if obs.source not in PLAIN or obs.action in rec["plain_actions"]:
        return False
    rich = sources & RICH
    if rich and PLAIN_OF[next(iter(rich))] == obs.source:
        session = _session(rec["session_start"], rec["session_end"])
        return _within(obs.ts, _ts(rec["rich_ts"]), session)
    # plain after plain: only dpkg's remove-then-purge of one package, moments apart
    return sources == {obs.source} and obs.action == "purge" and abs(obs.ts - _ts(rec["ts"])) <= SLACK


def _record(eid: str, raw_id: str, obs: PackageChangeObserved) -> dict[str, Any]:
    fields = obs.model_dump(mode="json", exclude={"ts", "action", "source", "session_start", "session_end"})
    rich = obs.source in RICH
    return {
        "id": eid,
        "raw_ids": [raw_id],
        "action": obs.action,
        "version": obs.version,
        "arch": obs.arch,
        "ts": obs.ts.isoformat(),
        "rich_ts": obs.ts.isoformat() if rich else None,
        "sources": [obs.source],
        "plain_actions": [] if rich else [obs.action],
        "session_start": _iso(obs.session_start),
        "session_end": _iso(obs.session_end),
        "told": [obs.ts.isoformat(), obs.ts.isoformat()],
        "fields": fields,
    }


def _told(rec: dict[str, Any]) -> list[str]:
    """[earliest, latest] time any telling gave; state saved before it was kept has ts and rich_ts."""
    told = rec.get("told")
    if told is not None:
        return list(told)
    times = [_ts(t) for t in (rec["ts"], rec["rich_ts"]) if t is not None]
    return [min(times).isoformat(), max(times).isoformat()]


def _merge(rec: dict[str, Any], raw_id: str, obs: PackageChangeObserved) -> dict[str, Any]:
    new = dict(rec)
    fields = dict(rec["fields"])
    rich = obs.source in RICH
    for name, value in obs.model_dump(mode="json").items():
        if name in fields and (fields[name] is None or (rich and name in RICH_FIELDS and value is not None)):
            fields[name] = value
    if not rich and obs.arch is not None:
        fields["arch"] = obs.arch  # the plain log's arch is the package's own (all, not amd64)
    new["fields"] = fields
    new["arch"] = fields["arch"]
    first, last = _told(rec)
    new["told"] = [min(_ts(first), obs.ts).isoformat(), max(_ts(last), obs.ts).isoformat()]
    new["sources"] = sorted({*rec["sources"], obs.source})
    new["raw_ids"] = [*rec["raw_ids"], raw_id]
    if "purge" in (rec["action"], obs.action):
        new["action"] = "purge"
    if rich:
        new["session_start"] = _iso(obs.session_start)
        new["session_end"] = _iso(obs.session_end)
        new["rich_ts"] = obs.ts.isoformat()
    else:
        new["plain_actions"] = [*rec["plain_actions"], obs.action]
        new["ts"] = obs.ts.isoformat()  # per package, where the rich log's time is per session
    return new


def _event(host: str, rec: dict[str, Any], raw: Envelope) -> Envelope:
    cls = PACKAGE_EVENT_BY_ACTION[rec["action"]]
    first_told, last_told = _told(rec)
    payload = cls.model_validate(
        {
            **rec["fields"],
            "action": rec["action"],
            "ecosystem": ecosystem_of(rec["sources"][0]),
            "sources": tuple(rec["sources"]),
            "first_told": first_told,
            "last_told": last_told,
        }
    )
    return Envelope(
        id=rec["id"],
        type=cls.TYPE,
        schema_version=cls.VERSION,
        host=host,
        source=SOURCE,
        ts=_ts(rec["ts"]),
        observed_at=raw.observed_at,
        subject=payload.package,
        causation_id=raw.id,
        correlation_id=raw.correlation_id,
        payload=payload.model_dump(mode="json"),
    )


def decide(raw: Envelope, obs: PackageChangeObserved, table: Table) -> list[Envelope]:
    """Turn one raw observation into zero or one domain event, updating the per-package state (and
    what the history says of the package now, for the inventory: decide_inventory)."""
    events = _decide_change(raw, obs, table)
    for event in events:
        _remember(table, event)
    return events


def _decide_change(raw: Envelope, obs: PackageChangeObserved, table: Table) -> list[Envelope]:
    key = state_key(raw.host, obs)
    state: dict[str, Any] = table.get(key) or {"recent": []}
    recent: list[dict[str, Any]] = state["recent"]
    for rec in recent:
        if raw.id in rec["raw_ids"]:
            # Seen before: at-least-once delivery (or a log line read twice). Re-emit the change as it
            # stands instead of nothing: if the state was saved but the event was lost in a crash,
            # this is what brings it back; if not, the same id makes it a no-op downstream.
            return [_event(raw.host, rec, raw)]
    for i, rec in enumerate(recent):
        if _matches(rec, obs):
            merged = _merge(rec, raw.id, obs)
            recent[i] = merged
            table.set(key, state)
            if all(merged.get(k) == rec.get(k) for k in ("fields", "ts", "sources", "action", "told")):
                return []
            return [_event(raw.host, merged, raw)]
    # The id is the change's place among the changes of its key (package, action family, version): the
    # first telling's raw id would depend on which twin was read first, and that depends on where a
    # restart (a crash, a full disk) cut the reading. The n-th change of a key is the n-th whichever
    # twin tells it first, as each log is read in order and the twins' records share one partition.
    n = int(state.get("n", 0))
    state["n"] = n + 1
    rec = _record(event_id("packages", key, str(n)), raw.id, obs)
    recent.append(rec)
    if len(recent) > KEEP_DONE:
        waiting = [r for r in recent[:-KEEP_DONE] if not _done(r)]
        keep = max(KEEP_PER_KEY - KEEP_DONE, 0)
        recent[:] = waiting[len(waiting) - keep :] + recent[-KEEP_DONE:]
    table.set(key, state)
    return [_event(raw.host, rec, raw)]


def _done(rec: dict[str, Any]) -> bool:
    """Will no further telling of this change come? True once both logs told it (a purge once the
    plain log's purge step came too), and for a plain log's change with no rich telling: sources
    are read level in time (producers.pacing), so newer changes of the same key mean its rich
    telling, if any, has had its chance."""
    sources = set(rec["sources"])
    rich = sources & RICH
    if not rich:
        return True
    if not sources & PLAIN:
        return False
    return rec["action"] != "purge" or "purge" in rec["plain_actions"]


# --- the inventory: what the package database says, against what the history says ---------------------

STATE_AFTER = {
    "install": "installed",
    "upgrade": "installed",
    "downgrade": "installed",
    "reinstall": "installed",
    "remove": "removed",
    "purge": "purged",
}
NEUTRAL_ARCHES = frozenset({"all", "noarch", "any"})


def current_key(host: str, ecosystem: str, package: str, arch: str | None, native_arch: str | None) -> str:
    """One package on one host as the graph's Software key names it (a foreign arch only: the logs and
    the database write an Architecture: all package differently), in its own key space."""
    foreign = arch and (native_arch is None or (arch != native_arch and arch not in NEUTRAL_ARCHES))
    return f"current/{host}/{ecosystem}/{package}" + (f":{arch}" if foreign else "")


def _remember(table: Table, event: Envelope) -> None:
    """Keep what the history says of the package now: its newest change's version and state."""
    p = event.payload
    key = current_key(event.host, p["ecosystem"], p["package"], p.get("arch"), p.get("native_arch"))
    cur = table.get(key)
    if cur is not None and _ts(cur["ts"]) > event.ts:
        return  # a newer telling (a later change, or a snapshot taken after it) already stands
    version = p.get("new_version") if p.get("new_version") is not None else p.get("old_version")
    now = {"version": version, "state": STATE_AFTER[p["action"]], "ts": event.ts.isoformat()}
    if now != cur:  # a twin's second telling mostly changes nothing: spare the write
        table.set(key, now)


def decide_inventory(raw: Envelope, obs: PackageInventoried, table: Table) -> list[Envelope]:
    """The package database's word on one package, against the history's.

    Nothing when they agree. Otherwise one PackageObserved* event at the snapshot's time: a package
    installed before observation began (no history), or a change the logs never told (a version they
    do not know; a removal or purge). A history newer than the snapshot wins: that change happened
    after the database was read. The inventory source takes its first snapshot only once the logs
    were read to their end, so the history of a package is known here before its inventory entry.
    """
    ecosystem = ecosystem_of(obs.source)
    key = current_key(raw.host, ecosystem, obs.package, obs.arch, obs.native_arch)
    cur: dict[str, Any] | None = table.get(key)
    if cur is not None and cur.get("raw_id") == raw.id:
        # Delivered again (at-least-once): re-emit the decision as it stands, under its id.
        return [Envelope.model_validate(cur["event"])]
    if cur is not None and _ts(cur["ts"]) > obs.ts:
        return []
    if obs.state == "purged" and (cur is None or cur["state"] != "installed"):
        # Not there, and the history does not call it installed: nothing to say (dpkg drops a package
        # without conffiles from its database on `remove`, and logs no purge).
        return []
    if cur is not None and cur["state"] == obs.state and cur["version"] == obs.new_version:
        return []
    known_version = None if cur is None else cur["version"]
    cls = OBSERVED_EVENT_BY_STATE[obs.state]
    if obs.state == "installed":
        new_version, old_version = obs.new_version, known_version
    else:  # the removed version: the database's (configuration kept), else the last one known
        new_version, old_version = None, obs.new_version or known_version or obs.old_version
    payload = cls(
        package=obs.package,
        arch=obs.arch,
        native_arch=obs.native_arch,
        new_version=new_version,
        old_version=old_version,
        epoch=obs.epoch,
        release=obs.release,
        ecosystem=ecosystem,
        source=obs.source,
        state=obs.state,
        known_version=known_version,
        known_state=None if cur is None else cur["state"],
    )
    event = Envelope(
        id=event_id("packages", raw.id),
        type=cls.TYPE,
        schema_version=cls.VERSION,
        host=raw.host,
        source=SOURCE,
        ts=obs.ts,
        observed_at=raw.observed_at,
        subject=obs.package,
        causation_id=raw.id,
        correlation_id=raw.correlation_id,
        payload=payload.model_dump(mode="json"),
    )
    version = new_version if new_version is not None else old_version
    table.set(
        key,
        {
            "version": version,
            "state": obs.state,
            "ts": obs.ts.isoformat(),
            "raw_id": raw.id,
            "event": event.model_dump(mode="json"),
        },
    )
    return [event]


# Which raw event types this domain decides, and where the decisions go (processors/registry.py collects it).
ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_PACKAGES,
        sink=EVENTS_PACKAGES,
        table="packages",
        decide={
            PackageChangeObserved.TYPE: typed(PackageChangeObserved, decide),
            PackageInventoried.TYPE: typed(PackageInventoried, decide_inventory),
        },
    ),
)
