"""`watchman timeline`: every domain's changes in one list ordered by when they happened.

Read from the log (the truth, both deployments), found through the time machine's event-time index, so
a day's timeline reads that day's records and not the whole history. Each line carries the summary
the domain's own projection writes on its Event node, so it reads as `watchman query` shows it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from projections.graph_ops import UpsertNode
from projections.registry import PROJECTORS
from schemas.envelope import Envelope
from schemas.events import decode_payload
from watchman.timetravel.cut import TimeMachine, _runs


def domain_of(topic: str) -> str:
    return topic.split(".", 2)[2]


def line(env: Envelope, topic: str) -> dict[str, Any]:
    """One change: its time, host, domain, type, subject and the projection's one-line summary."""
    summary = ""
    fn = PROJECTORS.get(env.type)
    if fn is not None:
        try:
            ops = fn(env, decode_payload(env.type, env.schema_version, env.payload))
        except Exception:  # a record the projection cannot read is dead-lettered there; shown bare here
            ops = []
        for op in ops:
            if isinstance(op, UpsertNode) and op.label == "Event" and op.key == env.id:
                summary = str(op.props.get("summary") or "")
                break
    return {
        "ts": env.ts.isoformat(),
        "host": env.host,
        "domain": domain_of(topic),
        "type": env.type,
        "subject": env.subject,
        "summary": summary,
        "id": env.id,
    }


def timeline(
    tm: TimeMachine,
    since: datetime,
    until: datetime | None = None,
    *,
    domains: frozenset[str] = frozenset(),
    hosts: frozenset[str] = frozenset(),
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    """The changes with since <= ts <= until (every domain, or those named), oldest first."""
    tm.update_index()
    hi = int((until or datetime.now(UTC)).timestamp() * 1000)
    rows = tm.db.execute(
        "SELECT topic, partition, offset FROM cut_index WHERE ts_ms >= ? AND ts_ms <= ? "
        "ORDER BY ts_ms LIMIT ?",
        (int(since.timestamp() * 1000), hi, limit if not (domains or hosts) else 10 * limit),
    ).fetchall()
    plan: dict[tuple[str, int], list[int]] = {}
    for t, p, o in rows:
        if not domains or domain_of(t) in domains:
            plan.setdefault((t, int(p)), []).append(int(o))
    # An event may be told twice (apt's and dpkg's telling of one change, merged): one id, the last telling.
    out: dict[str, dict[str, Any]] = {}
    for (t, p), offsets in plan.items():
        for first, count in _runs(sorted(offsets)):
            o, last = first, first + count
            while o < last:
                got = tm.bus.read(t, p, o, min(1000, last - o))
                if not got:
                    break
                for r in got:
                    if r.offset >= last:
                        break
                    try:
                        env = Envelope.from_json(r.value)
                    except ValueError:
                        continue
                    if not hosts or env.host in hosts:
                        out[env.id] = line(env, t)
                o = got[-1].offset + 1
    return sorted(out.values(), key=lambda x: (x["ts"], x["id"]))[:limit]
