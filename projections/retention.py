"""Project retention records into the graph (pure), and the purge rules into the stores.

(:RetentionEvent)-[:APPLIED]->(:RetentionPolicy)    one run of a policy; its `rule` is the purge rule
(:RetentionExemption)                               a record, tagged record or date range kept, and why

A RetentionApplied that is not a dry run also yields its PurgeNodes; an ArchiveRestored lifts the rule
and writes the archived records back (their property values typed by the schema).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from projections.purge import PurgeNodes
from schemas.envelope import Envelope
from schemas.events.retention import (
    ArchiveExpired,
    ArchiveRestored,
    RetentionApplied,
    RetentionExempted,
    RetentionFailed,
)
from schemas.graph import NODES


def policy_key(host: str, policy: str) -> str:
    return f"{host}/{policy}"


def rule_of(p: RetentionApplied) -> PurgeNodes:
    return PurgeNodes(
        rule=p.run_id,
        label=p.label,
        mode=p.action,
        at=p.ts,
        time_property=p.time_property,
        cutoff=p.cutoff,
        keys=p.keys,
        exempt_keys=p.exempt_keys,
        exempt_ranges=p.exempt_ranges,
    )


def project_applied(event: Envelope, p: RetentionApplied) -> list[GraphOp]:
    # An archive removes exactly the keys it archived: one that archived nothing leaves no rule (a rule by
    # cutoff would remove a late record that was never archived).
    rule = None if p.dry_run or (p.action == "archive" and not p.keys) else rule_of(p)
    run: dict[str, Any] = {
        "host": event.host,
        "policy": p.policy,
        "label": p.label,
        "action": p.action,
        "dry_run": p.dry_run,
        "ts": p.ts,
        "cutoff": p.cutoff,
        "records": p.records,
        "bytes": p.bytes,
        "oldest": p.oldest,
        "newest": p.newest,
        "kept": orjson.dumps(p.kept, option=orjson.OPT_SORT_KEYS).decode(),
        "archive": p.archive,
        "archive_url": p.archive_url,
        "archive_sha256": p.archive_sha256,
        "rule": "" if rule is None else rule.to_json(),
    }
    key = policy_key(event.host, p.policy)
    ops: list[GraphOp] = [
        UpsertNode("RetentionEvent", p.run_id, run),
        UpsertNode(
            "RetentionPolicy",
            key,
            {"host": event.host, "name": p.policy, "label": p.label, "action": p.action},
        )
        if p.dry_run
        else UpsertNode(
            "RetentionPolicy",
            key,
            {
                "host": event.host,
                "name": p.policy,
                "label": p.label,
                "action": p.action,
                "last_applied": p.ts,
                "records_removed": p.records,
            },
        ),
        UpsertRel("APPLIED", "RetentionEvent", p.run_id, "RetentionPolicy", key),
    ]
    if rule is not None:
        ops.append(rule)
    return ops


def project_exempted(event: Envelope, p: RetentionExempted) -> list[GraphOp]:
    return [
        UpsertNode(
            "RetentionExemption",
            p.exemption_id,
            {
                "host": event.host,
                "label": p.label,
                "record_key": p.key,
                "tag": p.tag,
                "from_ts": p.from_ts,
                "to_ts": p.to_ts,
                "reason": p.reason,
                "created_at": p.ts,
            },
        )
    ]


def _typed(label: str, record: dict[str, Any]) -> dict[str, Any]:
    """An archived record's properties as the schema types them (JSON carries times as ISO text)."""
    node = NODES[label]
    out: dict[str, Any] = {}
    for name, value in record.items():
        prop = node.by_name.get(name)
        if prop is None or name == node.key:
            continue
        typed_ = prop.type == "TIMESTAMP" and isinstance(value, str)
        out[name] = datetime.fromisoformat(value) if typed_ else value
    return out


def project_restored(event: Envelope, p: ArchiveRestored) -> list[GraphOp]:
    key = NODES[p.label].key
    ops: list[GraphOp] = [
        PurgeNodes(rule=p.run_id, label=p.label, mode="archive", at=p.ts, lift=True),
        UpsertNode("RetentionEvent", p.run_id, {"rule": "", "restored_at": p.ts}),
    ]
    for rec in p.records:
        ops.append(UpsertNode(p.label, str(rec[key]), _typed(p.label, rec), ts=p.ts))
    return ops


def project_expired(event: Envelope, p: ArchiveExpired) -> list[GraphOp]:
    return [UpsertNode("RetentionEvent", p.run_id, {"archive_expired_at": p.ts})]


def project_failed(event: Envelope, p: RetentionFailed) -> list[GraphOp]:
    return []  # an alert (ALERTS), nothing in the graph


PROJECTORS: dict[str, Project] = {
    RetentionApplied.TYPE: typed(RetentionApplied, project_applied),
    RetentionExempted.TYPE: typed(RetentionExempted, project_exempted),
    ArchiveRestored.TYPE: typed(ArchiveRestored, project_restored),
    ArchiveExpired.TYPE: typed(ArchiveExpired, project_expired),
    RetentionFailed.TYPE: typed(RetentionFailed, project_failed),
}
