"""Graph operations that projections emit and every graph store applies, plus their in-batch folding."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.graph import NODES, RELS, NodeLabel


@dataclass(frozen=True)
class UpsertNode:
    """Create the node `label` with key `key` if missing, then merge `props` by the schema's rules.

    `ts` is the time of the change the props describe; labels with `latest` properties need it.
    """

    label: str
    key: str
    props: Mapping[str, Any] = field(default_factory=dict)
    ts: datetime | None = None


@dataclass(frozen=True)
class UpsertRel:
    """Create the relationship (from)-[type]->(to) once; both endpoints must exist (upsert them first)."""

    type: str
    from_label: str
    from_key: str
    to_label: str
    to_key: str


GraphOp = UpsertNode | UpsertRel


def _merge_value(node: NodeLabel, name: str, old: Any, new: Any, newer: bool) -> Any:
    rule = node.prop(name).merge
    if new is None:
        return old
    if old is None:
        return new
    if rule == "min":
        return min(old, new)
    if rule == "max":
        return max(old, new)
    if rule == "latest":
        return new if newer else old
    return new


@dataclass
class FoldedNode:
    """All upserts of one node within a batch, merged in Python (stores read pre-statement values)."""

    label: str
    key: str
    props: dict[str, Any]
    ts: datetime | None
    # The time of each `latest` value: it may be older than `ts`, and the store must compare that time,
    # not `ts`, with the node's stored updated_at.
    latest_ts: dict[str, datetime] = field(default_factory=dict)


@dataclass
class FoldedBatch:
    nodes: dict[str, dict[str, FoldedNode]]  # label -> key -> node, in first-seen order
    rels: dict[str, list[UpsertRel]]  # type -> unique rels, in order


def validate(op: GraphOp) -> None:
    """Reject operations the graph schema does not declare: a typo must fail loudly, not write junk."""
    if isinstance(op, UpsertNode):
        node = NODES.get(op.label)
        if node is None:
            raise ValueError(f"unknown node label {op.label!r}")
        for name in op.props:
            node.prop(name)
        if node.has_latest and op.ts is None and any(node.prop(n).merge == "latest" for n in op.props):
            raise ValueError(f"{op.label} upsert with 'latest' properties needs ts")
    else:
        rel = RELS.get(op.type)
        if rel is None:
            raise ValueError(f"unknown relationship type {op.type!r}")
        if (op.from_label, op.to_label) not in rel.endpoints:
            raise ValueError(f"{op.type} does not connect {op.from_label} to {op.to_label}")


def fold(ops: Iterable[GraphOp]) -> FoldedBatch:
    """Merge operations on the same node (and drop repeated relationships) within one batch.

    The result, applied to a store, gives the same graph as applying `ops` one by one.
    """
    nodes: dict[str, dict[str, FoldedNode]] = {}
    rels: dict[str, list[UpsertRel]] = {}
    seen_rels: set[UpsertRel] = set()
    for op in ops:
        validate(op)
        if isinstance(op, UpsertRel):
            if op not in seen_rels:
                seen_rels.add(op)
                rels.setdefault(op.type, []).append(op)
            continue
        schema = NODES[op.label]
        by_key = nodes.setdefault(op.label, {})
        cur = by_key.get(op.key)
        if cur is None:
            props = {k: v for k, v in op.props.items() if v is not None}
            props[schema.key] = op.key
            latest_ts = {n: op.ts for n in props if op.ts is not None and schema.prop(n).merge == "latest"}
            by_key[op.key] = FoldedNode(op.label, op.key, props, op.ts, latest_ts)
            continue
        newer = op.ts is not None and (cur.ts is None or op.ts >= cur.ts)
        for name, value in op.props.items():
            if schema.prop(name).merge == "latest":
                # One by one, an op older than an earlier op of the batch would not apply, even where the
                # node has no value yet: skip it here too, or the result would depend on the batch size.
                if value is not None and newer and op.ts is not None:
                    cur.props[name] = value
                    cur.latest_ts[name] = op.ts
                continue
            cur.props[name] = _merge_value(schema, name, cur.props.get(name), value, newer)
        if newer:
            cur.ts = op.ts
    return FoldedBatch(nodes, rels)
