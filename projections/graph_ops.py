"""Graph operations that projections emit and every graph store applies, plus their in-batch folding."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from projections.purge import PurgeNodes
from schemas.graph import NODES, RELS
from schemas.model import NodeLabel, RelType


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


# PurgeNodes (retention, projections/purge.py): the stores take it out before fold().
GraphOp = UpsertNode | UpsertRel | PurgeNodes


def _merge(rule: str, old: Any, new: Any, newer: bool) -> Any:
    """Merge two non-null values of one property by its rule."""
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


# Shapes already validated: (label, property names, has ts) -> the NodeLabel they were checked against,
# and (type, from label, to label) -> the RelType. A batch repeats a handful of shapes thousands of times.
_VALID_NODES: dict[tuple[str, tuple[str, ...], bool], NodeLabel] = {}
_VALID_RELS: dict[tuple[str, str, str], RelType] = {}


def validate(op: GraphOp) -> None:
    """Reject operations the graph schema does not declare: a typo must fail loudly, not write junk."""
    if isinstance(op, PurgeNodes):
        raise TypeError("a PurgeNodes is applied by the store (projections/stores/purging.py), not folded")
    if isinstance(op, UpsertNode):
        node = NODES.get(op.label)
        if node is None:
            raise ValueError(f"unknown node label {op.label!r}")
        shape = (op.label, tuple(op.props), op.ts is not None)
        if _VALID_NODES.get(shape) is node:
            return
        for name in op.props:
            node.prop(name)
        if op.ts is None and not node.latest.isdisjoint(op.props):
            raise ValueError(f"{op.label} upsert with 'latest' properties needs ts")
        _VALID_NODES[shape] = node
    else:
        rel = RELS.get(op.type)
        if rel is None:
            raise ValueError(f"unknown relationship type {op.type!r}")
        key = (op.type, op.from_label, op.to_label)
        if _VALID_RELS.get(key) is rel:
            return
        if (op.from_label, op.to_label) not in rel.endpoints:
            raise ValueError(f"{op.type} does not connect {op.from_label} to {op.to_label}")
        _VALID_RELS[key] = rel


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
        assert isinstance(op, UpsertNode)  # validate() refused a PurgeNodes
        schema = NODES[op.label]
        latest = schema.latest
        by_key = nodes.get(op.label)
        if by_key is None:
            by_key = nodes[op.label] = {}
        cur = by_key.get(op.key)
        if cur is None:
            props = {k: v for k, v in op.props.items() if v is not None}
            props[schema.key] = op.key
            ts = op.ts
            latest_ts = {n: ts for n in props if n in latest} if ts is not None and latest else {}
            by_key[op.key] = FoldedNode(op.label, op.key, props, ts, latest_ts)
            continue
        newer = op.ts is not None and (cur.ts is None or op.ts >= cur.ts)
        by_name = schema.by_name
        cur_props = cur.props
        for name, value in op.props.items():
            if name in latest:
                # One by one, an op older than an earlier op of the batch would not apply, even where the
                # node has no value yet: skip it here too, or the result would depend on the batch size.
                # A property with its own clock compares with the time of its own value instead.
                if value is None or op.ts is None:
                    continue
                if by_name[name].clock is None:
                    applies = newer
                else:
                    told = cur.latest_ts.get(name) if cur_props.get(name) is not None else None
                    applies = told is None or op.ts >= told
                if applies:
                    cur_props[name] = value
                    cur.latest_ts[name] = op.ts
                continue
            if value is None:
                continue
            old = cur_props.get(name)
            cur_props[name] = value if old is None else _merge(by_name[name].merge, old, value, newer)
        if newer:
            cur.ts = op.ts
    return FoldedBatch(nodes, rels)
