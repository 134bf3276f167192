"""Store DDL and upsert Cypher generated from schemas.graph, for LadybugDB and Neo4j; pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from projections.graph_ops import FoldedNode
from schemas.graph import NODES, RELS, UPDATED_AT, NodeLabel, Prop, RelType

# Applied positions live in the graph itself so that they commit in the same transaction as the ops.
POSITION = NodeLabel(
    "_Position",
    key="name",
    props=(Prop("name", "STRING"), Prop("offset", "INT64")),
    description="The last applied position of one named input (topic/partition), written with the ops.",
)

Dialect = Literal["ladybug", "neo4j"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Row columns carrying the time of a `latest` value; the prefix keeps them apart from property names.
_TS_PREFIX = "_ts_"


def _q(name: str) -> str:
    """Back-quote an identifier; names come from our schema, but a reserved word must not break the DDL."""
    if not _IDENT.match(name):
        raise ValueError(f"invalid identifier in graph schema: {name!r}")
    return f"`{name}`"


def _check(node: NodeLabel) -> None:
    names = [p.name for p in node.props]
    if len(set(names)) != len(names):
        raise ValueError(f"{node.label} declares a property twice")
    if node.key not in names:
        raise ValueError(f"{node.label} key {node.key!r} is not among its properties")
    if any(n.startswith(_TS_PREFIX) for n in names):
        raise ValueError(f"{node.label}: property names may not start with {_TS_PREFIX!r}")
    if node.has_latest and UPDATED_AT not in node.props:
        raise ValueError(f"{node.label} has 'latest' properties, so it must declare {UPDATED_AT}")


def ts_column(prop: str) -> str:
    """The row column holding the time of the `latest` value in column `prop`."""
    return _TS_PREFIX + prop


def _node_labels(nodes: Iterable[NodeLabel] | None) -> list[NodeLabel]:
    return [*(NODES.values() if nodes is None else nodes), POSITION]


# --- LadybugDB ------------------------------------------------------------------------------------------


def ladybug_ddl(nodes: Iterable[NodeLabel] | None = None, rels: Iterable[RelType] | None = None) -> list[str]:
    """Statements that create (or extend) every table; each one is safe to run again.

    The ALTER … IF NOT EXISTS statements let a database created by an older schema gain new properties
    and endpoint pairs; nothing is ever dropped.
    """
    out: list[str] = []
    for node in _node_labels(nodes):
        _check(node)
        cols = ", ".join(f"{_q(p.name)} {p.type}" for p in node.props)
        out.append(f"CREATE NODE TABLE IF NOT EXISTS {_q(node.label)}({cols}, PRIMARY KEY({_q(node.key)}))")
        out.extend(
            f"ALTER TABLE {_q(node.label)} ADD IF NOT EXISTS {_q(p.name)} {p.type}"
            for p in node.props
            if p.name != node.key
        )
    for rel in RELS.values() if rels is None else rels:
        if not rel.endpoints:
            raise ValueError(f"{rel.type} has no endpoints")
        parts = [f"FROM {_q(a)} TO {_q(b)}" for a, b in rel.endpoints]
        parts += [f"{_q(p.name)} {p.type}" for p in rel.props]
        out.append(f"CREATE REL TABLE IF NOT EXISTS {_q(rel.type)}({', '.join(parts)})")
        out.extend(
            f"ALTER TABLE {_q(rel.type)} ADD IF NOT EXISTS FROM {_q(a)} TO {_q(b)}" for a, b in rel.endpoints
        )
        out.extend(f"ALTER TABLE {_q(rel.type)} ADD IF NOT EXISTS {_q(p.name)} {p.type}" for p in rel.props)
    return out


# --- Neo4j 5 --------------------------------------------------------------------------------------------


def neo4j_ddl(nodes: Iterable[NodeLabel] | None = None) -> list[str]:
    """Uniqueness constraints on every key and range indexes on TIMESTAMP properties (for time queries)."""
    out: list[str] = []
    for node in _node_labels(nodes):
        _check(node)
        out.append(
            f"CREATE CONSTRAINT {_q(node.label + '_' + node.key + '_unique')} IF NOT EXISTS "
            f"FOR (n:{_q(node.label)}) REQUIRE n.{_q(node.key)} IS UNIQUE"
        )
        out.extend(
            f"CREATE RANGE INDEX {_q(node.label + '_' + p.name + '_range')} IF NOT EXISTS "
            f"FOR (n:{_q(node.label)}) ON (n.{_q(p.name)})"
            for p in node.props
            if p.type == "TIMESTAMP" and p.name != node.key
        )
    return out


# --- The split upsert -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeUpsert:
    """The three statements of one label's split upsert, run in one transaction.

    `existing` ($keys: list of keys) returns the column `key` for the keys already stored; `create` and
    `update` take $rows, every row with exactly the keys in `columns` (see `node_rows`).
    """

    label: str
    columns: tuple[str, ...]
    timestamps: tuple[str, ...]  # the TIMESTAMP columns, for stores that must convert them
    existing: str
    create: str
    update: str


def _field(name: str, type_: str, dialect: Dialect) -> str:
    """A row field. LadybugDB types a column that is null in every row as STRING, which then fails to bind
    against the property's type: cast to the declared type (Neo4j has no such need, nor CAST)."""
    if dialect == "ladybug":
        return f"CAST(r.{_q(name)} AS {type_})"
    return f"r.{_q(name)}"


def _merge_expr(p: Prop, dialect: Dialect) -> str:
    n, r = f"n.{_q(p.name)}", _field(p.name, p.type, dialect)
    if p.merge == "set":
        return f"coalesce({r}, {n})"
    if p.merge in ("min", "max"):
        op = "<" if p.merge == "min" else ">"
        return f"CASE WHEN {r} IS NULL THEN {n} WHEN {n} IS NULL OR {r} {op} {n} THEN {r} ELSE {n} END"
    # latest: compared with the updated_at from before this statement (SET items apply in order and it
    # is SET last), so a value older than the stored state never rolls it back.
    ts = _field(ts_column(p.name), UPDATED_AT.type, dialect)
    upd = f"n.{_q(UPDATED_AT.name)}"
    return f"CASE WHEN {r} IS NULL THEN {n} WHEN {upd} IS NULL OR {ts} >= {upd} THEN {r} ELSE {n} END"


def node_upsert(node: NodeLabel, dialect: Dialect = "ladybug") -> NodeUpsert:
    _check(node)
    lbl, key = _q(node.label), _q(node.key)
    columns = tuple(p.name for p in node.props) + tuple(
        ts_column(p.name) for p in node.props if p.merge == "latest"
    )
    existing = f"UNWIND $keys AS k MATCH (n:{lbl} {{{key}: k}}) RETURN n.{key} AS `key`"
    create_props = ", ".join(f"{_q(p.name)}: {_field(p.name, p.type, dialect)}" for p in node.props)
    create = f"UNWIND $rows AS r CREATE (n:{lbl} {{{create_props}}})"
    settable = [p for p in node.props if p.name != node.key]
    settable.sort(key=lambda p: p.name == UPDATED_AT.name)  # updated_at last, see _merge_expr
    sets = ", ".join(f"n.{_q(p.name)} = {_merge_expr(p, dialect)}" for p in settable)
    update = f"UNWIND $rows AS r MATCH (n:{lbl} {{{key}: r.{key}}}) SET {sets}" if settable else ""
    timestamps = tuple(p.name for p in node.props if p.type == "TIMESTAMP") + tuple(
        ts_column(p.name) for p in node.props if p.merge == "latest"
    )
    return NodeUpsert(node.label, columns, timestamps, existing, create, update)


def node_rows(node: NodeLabel, folded: Iterable[FoldedNode]) -> list[dict[str, Any]]:
    """Rows for `NodeUpsert.create`/`update`: every row has every column (null = keep the stored value)."""
    has_updated_at = UPDATED_AT in node.props
    latest = [p.name for p in node.props if p.merge == "latest"]
    rows: list[dict[str, Any]] = []
    for f in folded:
        row: dict[str, Any] = {p.name: f.props.get(p.name) for p in node.props}
        row[node.key] = f.key
        for name in latest:
            row[ts_column(name)] = f.latest_ts.get(name) if row[name] is not None else None
        if has_updated_at and f.ts is not None:
            stated = row[UPDATED_AT.name]
            row[UPDATED_AT.name] = f.ts if stated is None else max(stated, f.ts)
        rows.append(row)
    return rows


def position_rows(positions: Mapping[str, int]) -> list[dict[str, Any]]:
    return [{"name": name, "offset": int(offset)} for name, offset in positions.items()]


@dataclass(frozen=True)
class RelUpsert:
    """Create-once statements of one (type, from label, to label); rows are {"f": from key, "t": to key}.

    `existing` returns `f`, `t` and `n` (how many such rels exist) for every row whose two endpoints
    exist: a row it does not return names a missing endpoint. `create` creates the rel for each row.
    """

    type: str
    from_label: str
    to_label: str
    existing: str
    create: str


def rel_upsert(rel: RelType, from_label: str, to_label: str) -> RelUpsert:
    if (from_label, to_label) not in rel.endpoints:
        raise ValueError(f"{rel.type} does not connect {from_label} to {to_label}")
    a = f"(a:{_q(from_label)} {{{_q(NODES[from_label].key)}: r.f}})"
    b = f"(b:{_q(to_label)} {{{_q(NODES[to_label].key)}: r.t}})"
    t = _q(rel.type)
    existing = (
        f"UNWIND $rows AS r MATCH {a} MATCH {b} OPTIONAL MATCH (a)-[e:{t}]->(b) "
        "RETURN r.f AS f, r.t AS t, count(e) AS n"
    )
    create = f"UNWIND $rows AS r MATCH {a} MATCH {b} CREATE (a)-[:{t}]->(b)"
    return RelUpsert(rel.type, from_label, to_label, existing, create)
