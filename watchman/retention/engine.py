"""Plan, preview, archive and restore (the retention executor and the API's preview use this).

`plan()` asks the graph (read-only queries, either store) what one policy would remove: its criteria
(cutoff, exempt record ids and date ranges, the newest record of each month kept by `keep_monthly`
through watchman/keep.py), the records and bytes it would remove, the oldest and newest of them, and for
every class kept the rule that kept it (as restic's `forget --dry-run` gives reasons).

An archive is a gzip of JSON lines (one record's properties per line) and a manifest beside it
(`.manifest.json`: run id, label, policy, count and sha256 of the lines). `write_archive` writes both,
reads the object back and checks count and sha256 before it returns: only then may records be removed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from projections.purge import DELETED_AT, PurgeNodes
from projections.stores.purging import criteria
from schemas.graph import NODES
from watchman.domains.retention import PolicySettings, RetentionSettings
from watchman.keep import KeepPolicy, Snapshot
from watchman.keep import apply as keep_apply
from watchman.storage import StorageTarget

Query = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]
SAMPLE = 200  # records read to estimate the bytes of a soft or hard delete
PAGE = 5_000  # records per archive object (and per RetentionApplied of an archive)


class RetentionError(ValueError):
    """A policy that cannot be applied (unknown label, no archive storage, an archive that did not verify)."""


@dataclass(frozen=True)
class Exemption:
    label: str = ""
    key: str = ""
    tag: str = ""
    from_ts: datetime | None = None
    to_ts: datetime | None = None
    reason: str = ""


@dataclass
class Plan:
    policy: str
    label: str
    action: str
    days: int
    time_property: str
    cutoff: datetime
    exempt_keys: tuple[str, ...] = ()
    exempt_ranges: tuple[tuple[datetime, datetime], ...] = ()
    records: int = 0
    bytes: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    kept: dict[str, int] = field(default_factory=dict)

    def rule(self, run_id: str, at: datetime, keys: Sequence[str] = ()) -> PurgeNodes:
        return PurgeNodes(
            rule=run_id,
            label=self.label,
            mode="archive" if keys else self.action,  # type: ignore[arg-type]
            at=at,
            time_property=self.time_property,
            cutoff=None if keys else self.cutoff,
            keys=tuple(keys),
            exempt_keys=() if keys else self.exempt_keys,
            exempt_ranges=() if keys else self.exempt_ranges,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "label": self.label,
            "action": self.action,
            "retention_days": self.days,
            "cutoff": self.cutoff.isoformat(),
            "records": self.records,
            "bytes": self.bytes,
            "oldest": _iso(self.oldest),
            "newest": _iso(self.newest),
            "kept": self.kept,
            "exempt_records": len(self.exempt_keys),
            "exempt_ranges": len(self.exempt_ranges),
        }


def _iso(t: datetime | None) -> str | None:
    return None if t is None else _aware(t).isoformat()


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def exemptions(query: Query, settings: RetentionSettings) -> list[Exemption]:
    """The exemptions of watchman.toml and those added through the API (RetentionExemption nodes)."""
    out = [Exemption(e.label, e.key, e.tag, e.from_ts, e.to_ts, e.reason) for e in settings.exemptions]
    rows = query(
        "MATCH (x:RetentionExemption) RETURN x.label AS label, x.record_key AS key, x.tag AS tag, "
        "x.from_ts AS from_ts, x.to_ts AS to_ts, x.reason AS reason ORDER BY x.id",
        {},
    )
    for r in rows:
        out.append(
            Exemption(
                r["label"] or "",
                r["key"] or "",
                r["tag"] or "",
                r["from_ts"] and _aware(r["from_ts"]),
                r["to_ts"] and _aware(r["to_ts"]),
                r["reason"] or "",
            )
        )
    return out


def describe(s: RetentionSettings) -> dict[str, Any]:
    """The policies as configured (defaults filled in), the schedule and the exemptions of watchman.toml:
    what `GET /admin/retention/policies` and `watchman retention policies` show."""
    return {
        "enforcement_schedule": s.enforcement_schedule,
        "dry_run": s.dry_run,
        "policies": [
            {
                "policy": n,
                "label": s.label(n, p),
                "retention_days": s.days(p),
                "purge_strategy": s.strategy(p),
                "keep_monthly": p.keep_monthly,
                "exempt_tagged": p.exempt_tagged,
                "enabled": p.enabled,
            }
            for n, p in sorted(s.policies.items())
        ],
        "exemptions": [e.model_dump(mode="json") for e in s.exemptions],
    }


def policies(settings: RetentionSettings, name: str = "") -> list[tuple[str, PolicySettings]]:
    chosen = [(n, p) for n, p in sorted(settings.policies.items()) if p.enabled and (not name or n == name)]
    if name and not chosen:
        raise RetentionError(f"no enabled retention policy {name!r} (policies: {sorted(settings.policies)})")
    return chosen


def _one(query: Query, cypher: str, params: Mapping[str, Any]) -> dict[str, Any]:
    rows = query(cypher, params)
    return rows[0] if rows else {}


def _months(oldest: datetime, cutoff: datetime) -> Iterator[tuple[datetime, datetime]]:
    start = oldest.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while start < cutoff:
        nxt = (start + timedelta(days=32)).replace(day=1)
        yield start, min(nxt, cutoff)
        start = nxt


def plan(
    query: Query,
    settings: RetentionSettings,
    name: str,
    p: PolicySettings,
    now: datetime,
    exempt: Sequence[Exemption] = (),
) -> Plan:
    """What policy `name` removes at `now`, and why the rest stays (see the module docstring)."""
    label = settings.label(name, p)
    node = NODES.get(label)
    if node is None:
        raise RetentionError(f"retention policy {name}: unknown graph label {label!r}")
    key, tp = node.key, p.time_property
    days = settings.days(p)
    out = Plan(name, label, settings.strategy(p), days, tp, _aware(now) - timedelta(days=days))
    mine = [e for e in exempt if not e.label or e.label == label]
    keys = {e.key for e in mine if e.key and not e.tag}
    tagged = {e.key for e in mine if e.key and e.tag}
    ranges = tuple(
        sorted(
            (_aware(e.from_ts), _aware(e.to_ts))
            for e in mine
            if not e.key and e.from_ts is not None and e.to_ts is not None
        )
    )
    older = {"cutoff": out.cutoff}
    total = _one(
        query, f"MATCH (n:{label}) WHERE n.{tp} < $cutoff RETURN count(n) AS n, min(n.{tp}) AS oldest", older
    )
    newer = _one(query, f"MATCH (n:{label}) WHERE n.{tp} >= $cutoff RETURN count(n) AS n", older)
    if newer.get("n"):
        out.kept[f"newer than {days} days"] = int(newer["n"])
    monthly: set[str] = set()
    if p.keep_monthly and total.get("n"):
        snaps = []
        for a, b in _months(_aware(total["oldest"]), out.cutoff):
            row = _one(
                query,
                f"MATCH (n:{label}) WHERE n.{tp} >= $a AND n.{tp} < $b RETURN n.{key} AS k, "
                f"n.{tp} AS t ORDER BY t DESC, k LIMIT 1",
                {"a": a, "b": b},
            )
            if row:
                snaps.append(Snapshot(str(row["k"]), _aware(row["t"])))
        decided = keep_apply(snaps, KeepPolicy(monthly=p.keep_monthly), now)
        monthly = {d.snapshot.id for d in decided if d.keep}
    for reason, ks in (
        ("exempt: record id", keys),
        ("exempt: tagged", tagged if p.exempt_tagged else set()),
        (f"keep_monthly {p.keep_monthly}: newest of its month", monthly),
    ):
        if ks:
            row = _one(
                query,
                f"MATCH (n:{label}) WHERE n.{key} IN $ks AND n.{tp} < $cutoff RETURN count(n) AS n",
                {"ks": sorted(ks), **older},
            )
            if row.get("n"):
                out.kept[reason] = int(row["n"])
    for a, b in ranges:
        row = _one(
            query,
            f"MATCH (n:{label}) WHERE n.{tp} >= $a AND n.{tp} < $b AND n.{tp} < $cutoff RETURN count(n) AS n",
            {"a": a, "b": b, **older},
        )
        if row.get("n"):
            out.kept[f"exempt: date range {a.date()}..{b.date()}"] = int(row["n"])
    out.exempt_keys = tuple(sorted(keys | (tagged if p.exempt_tagged else set()) | monthly))
    out.exempt_ranges = ranges
    cond, params = criteria(out.rule("plan", now), naive=False)
    try:
        row = _one(
            query,
            f"MATCH (n:{label}) WHERE {cond} RETURN count(n) AS n, min(n.{tp}) AS oldest, "
            f"max(n.{tp}) AS newest",
            params,
        )
    except Exception as exc:  # LadybugDB: no deleted_at column before the first soft delete of a label
        if out.action != "soft_delete" or DELETED_AT not in str(exc):
            raise
        plain = out.rule("plan", now)
        cond, params = criteria(PurgeNodes(**{**plain.__dict__, "mode": "hard_delete"}), naive=False)
        row = _one(
            query,
            f"MATCH (n:{label}) WHERE {cond} RETURN count(n) AS n, min(n.{tp}) AS oldest, "
            f"max(n.{tp}) AS newest",
            params,
        )
    out.records = int(row.get("n") or 0)
    if out.records:
        out.oldest, out.newest = _aware(row["oldest"]), _aware(row["newest"])
        sample = query(f"MATCH (n:{label}) WHERE {cond} RETURN n LIMIT {SAMPLE}", params)
        size = sum(len(_line(r["n"])) for r in sample)
        out.bytes = round(size / max(1, len(sample)) * out.records)
    soft = (
        int(total.get("n") or 0)
        - out.records
        - sum(v for k, v in out.kept.items() if not k.startswith("newer"))
    )
    if out.action == "soft_delete" and soft > 0:
        out.kept["already soft-deleted"] = soft
    return out


def _line(record: Mapping[str, Any]) -> bytes:
    props = {
        k: (_aware(v).isoformat() if isinstance(v, datetime) else v)
        for k, v in sorted(record.items())
        if not k.startswith("_") and v is not None
    }
    return orjson.dumps(props) + b"\n"


def records_to_archive(query: Query, plan_: Plan) -> Iterator[list[dict[str, Any]]]:
    """The records the plan removes, PAGE at a time, in key order."""
    key = NODES[plan_.label].key
    cond, params = criteria(plan_.rule("plan", plan_.cutoff), naive=False)
    after = ""
    while True:
        rows = query(
            f"MATCH (n:{plan_.label}) WHERE {cond} AND n.{key} > $after RETURN n ORDER BY n.{key} "
            f"LIMIT {PAGE}",
            {**params, "after": after},
        )
        if not rows:
            return
        page = [dict(r["n"]) for r in rows]
        yield page
        after = str(page[-1][key])
        if len(rows) < PAGE:
            return


@dataclass(frozen=True)
class Archived:
    key: str
    records: int
    bytes: int  # of the JSON lines
    sha256: str  # of the JSON lines
    keys: tuple[str, ...]


def write_archive(
    target: StorageTarget,
    object_key: str,
    label: str,
    records: Sequence[Mapping[str, Any]],
    manifest: Mapping[str, Any],
) -> Archived:
    """Write, read back, verify (count and sha256); raises RetentionError when it does not verify."""
    key = NODES[label].key
    lines = b"".join(_line(r) for r in records)
    digest = hashlib.sha256(lines).hexdigest()
    target.put(object_key, io.BytesIO(gzip.compress(lines, mtime=0)))
    meta = {**manifest, "label": label, "records": len(records), "sha256": digest, "bytes": len(lines)}
    target.put(object_key + ".manifest.json", io.BytesIO(orjson.dumps(meta)))
    count, got = read_back(target, object_key)
    if count != len(records) or got != digest:
        raise RetentionError(
            f"archive {object_key} did not verify: {count} records, sha256 {got[:12]} "
            f"(wrote {len(records)}, {digest[:12]}); nothing was removed"
        )
    return Archived(object_key, len(records), len(lines), digest, tuple(str(r[key]) for r in records))


def read_back(target: StorageTarget, object_key: str) -> tuple[int, str]:
    with target.get(object_key) as f:
        lines = gzip.decompress(f.read())
    return lines.count(b"\n"), hashlib.sha256(lines).hexdigest()


def read_archive(target: StorageTarget, object_key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(manifest, records) of an archive, verified against its manifest."""
    with target.get(object_key + ".manifest.json") as f:
        manifest: dict[str, Any] = orjson.loads(f.read())
    with target.get(object_key) as f:
        lines = gzip.decompress(f.read())
    if hashlib.sha256(lines).hexdigest() != manifest["sha256"]:
        raise RetentionError(f"archive {object_key} does not match its manifest's sha256")
    records = [orjson.loads(line) for line in lines.splitlines() if line]
    if len(records) != manifest["records"]:
        raise RetentionError(
            f"archive {object_key}: {len(records)} records, manifest says {manifest['records']}"
        )
    return manifest, records


def now_utc() -> datetime:
    return datetime.now(UTC)
