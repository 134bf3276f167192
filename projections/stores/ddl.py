"""Store DDL and upsert Cypher generated from schemas.graph, for LadybugDB and Neo4j; pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from projections.graph_ops import FoldedNode
from schemas.graph import NODES, RELS
from schemas.model import UPDATED_AT, NodeLabel, Prop, PropType, RelType

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
    for p in node.props:
        if p.clock is None:
            continue
        clock = node.by_name.get(p.clock)
        if p.merge != "latest" or clock is None or clock.type != "TIMESTAMP" or clock.merge != "max":
            raise ValueError(
                f"{node.label}.{p.name}: a clock belongs to a 'latest' property and names a declared "
                "TIMESTAMP property merged by 'max'"
            )


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


# How a statement reads one column of the current row: (column name, its type) -> expression.
Field = Callable[[str, str], str]


def _merge_expr(p: Prop, dialect: Dialect, field: Field | None = None) -> str:
    if field is None:
        field = lambda name, type_: _field(name, type_, dialect)  # noqa: E731
    n, r = f"n.{_q(p.name)}", field(p.name, p.type)
    if p.merge == "set":
        return f"coalesce({r}, {n})"
    if p.merge in ("min", "max"):
        op = "<" if p.merge == "min" else ">"
        return f"CASE WHEN {r} IS NULL THEN {n} WHEN {n} IS NULL OR {r} {op} {n} THEN {r} ELSE {n} END"
    # latest: compared with the updated_at from before this statement (SET items apply in order and it
    # is SET last), so a value older than the stored state never rolls it back.
    ts = field(ts_column(p.name), UPDATED_AT.type)
    upd = f"n.{_q(UPDATED_AT.name)}"
    if p.clock is not None:
        # Its own clock instead (SET after it too); a value stored before the clock existed has none:
        # updated_at stands in for it. No value yet: any told value is better than none.
        clock = f"coalesce(n.{_q(p.clock)}, {upd})"
        return (
            f"CASE WHEN {r} IS NULL THEN {n} WHEN {n} IS NULL OR {clock} IS NULL OR {ts} >= {clock} "
            f"THEN {r} ELSE {n} END"
        )
    return f"CASE WHEN {r} IS NULL THEN {n} WHEN {upd} IS NULL OR {ts} >= {upd} THEN {r} ELSE {n} END"


def _sets(node: NodeLabel, dialect: Dialect, field: Field | None = None) -> str:
    settable = [p for p in node.props if p.name != node.key]
    # clocks after the properties they time, updated_at last: see _merge_expr
    settable.sort(key=lambda p: (p.name == UPDATED_AT.name, p.name in node.clocks))
    return ", ".join(f"n.{_q(p.name)} = {_merge_expr(p, dialect, field)}" for p in settable)


def _clock_value(f: FoldedNode, stated: Any, prop: str) -> Any:
    """A clock column: the time of the batch's value of `prop` (if it has one), or the stated clock."""
    told = f.latest_ts.get(prop) if f.props.get(prop) is not None else None
    return stated if told is None else told if stated is None else max(stated, told)


def node_upsert(node: NodeLabel, dialect: Dialect = "ladybug") -> NodeUpsert:
    _check(node)
    lbl, key = _q(node.label), _q(node.key)
    columns = tuple(p.name for p in node.props) + tuple(
        ts_column(p.name) for p in node.props if p.merge == "latest"
    )
    existing = f"UNWIND $keys AS k MATCH (n:{lbl} {{{key}: k}}) RETURN n.{key} AS `key`"
    create_props = ", ".join(f"{_q(p.name)}: {_field(p.name, p.type, dialect)}" for p in node.props)
    create = f"UNWIND $rows AS r CREATE (n:{lbl} {{{create_props}}})"
    sets = _sets(node, dialect)
    update = f"UNWIND $rows AS r MATCH (n:{lbl} {{{key}: r.{key}}}) SET {sets}" if sets else ""
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
        for clock, prop in node.clocks.items():
            row[clock] = _clock_value(f, row[clock], prop)
        if has_updated_at and f.ts is not None:
            stated = row[UPDATED_AT.name]
            row[UPDATED_AT.name] = f.ts if stated is None else max(stated, f.ts)
        rows.append(row)
    return rows


# --- LadybugDB's split upsert over columns ---------------------------------------------------------------
#
# LadybugDB's Python driver converts a list of row dicts (a LIST of STRUCT) to engine values several times
# slower than the engine then creates the nodes; a list per column converts fast. So the LadybugDB statements
# take $n (the row count) and one list per column, $c0, $c1, … in the order of `columns`, and read row i
# (1-based) as $cK[i]. Each list carries one more element after its n rows, a value of the column's type: a
# column null in every row would otherwise be a list of nothing-typed nulls, which LadybugDB cannot bind.


@dataclass(frozen=True)
class ColumnUpsert:
    """LadybugDB's split upsert of one label over column lists, run in one transaction.

    `existing` ($keys: list of keys) returns the keys already stored; `create` and `update` take the
    parameters of `node_columns`.
    """

    label: str
    columns: tuple[str, ...]
    types: tuple[PropType, ...]
    existing: str
    create: str
    update: str


def _column_params(columns: Sequence[str]) -> dict[str, str]:
    # Parenthesised: LadybugDB's parser rejects `CASE WHEN $c[i] IS NULL` but takes `($c[i]) IS NULL`.
    return {c: f"($c{i}[i])" for i, c in enumerate(columns)}


def column_upsert(node: NodeLabel) -> ColumnUpsert:
    _check(node)
    lbl, key = _q(node.label), _q(node.key)
    latest = [p for p in node.props if p.merge == "latest"]
    columns = tuple(p.name for p in node.props) + tuple(ts_column(p.name) for p in latest)
    types: tuple[PropType, ...] = tuple(p.type for p in node.props) + tuple(UPDATED_AT.type for _ in latest)
    ref = _column_params(columns)
    existing = f"UNWIND $keys AS k MATCH (n:{lbl} {{{key}: k}}) RETURN n.{key}"
    rows = "UNWIND range(1, $n) AS i"
    create_props = ", ".join(f"{_q(p.name)}: {ref[p.name]}" for p in node.props)
    create = f"{rows} CREATE (n:{lbl} {{{create_props}}})"
    sets = _sets(node, "ladybug", lambda name, _type: ref[name])
    # The key bound by WITH first: a pattern on `($c0[i])` itself makes LadybugDB scan the whole table.
    update = f"{rows} WITH i, {ref[node.key]} AS k MATCH (n:{lbl} {{{key}: k}}) SET {sets}" if sets else ""
    return ColumnUpsert(node.label, columns, types, existing, create, update)


# A value of each type, ending every column list (see above).
COLUMN_END: dict[str, Any] = {
    "STRING": "",
    "INT64": 0,
    "DOUBLE": 0.0,
    "BOOLEAN": False,
    "TIMESTAMP": datetime(2000, 1, 1),
}


def _later(stated: Any, ts: datetime | None) -> Any:
    return stated if ts is None else ts if stated is None else max(stated, ts)


def node_columns(node: NodeLabel, folded: Sequence[FoldedNode]) -> dict[str, Any]:
    """Parameters of `column_upsert(node)`'s create/update for `folded`: `node_rows`' values by column."""
    params: dict[str, Any] = {"n": len(folded)}
    key = node.key
    i = 0
    col: list[Any]
    for p in node.props:
        name = p.name
        if name == key:
            col = [f.key for f in folded]
        else:
            col = [f.props.get(name) for f in folded]
            if p == UPDATED_AT:  # at least the time of the batch's last change, as in node_rows
                col = [_later(v, f.ts) for v, f in zip(col, folded, strict=True)]
            elif name in node.clocks:
                prop = node.clocks[name]
                col = [_clock_value(f, v, prop) for v, f in zip(col, folded, strict=True)]
        col.append(COLUMN_END[p.type])
        params[f"c{i}"] = col
        i += 1
    for p in node.props:
        if p.merge == "latest":
            name = p.name
            ts_col = [f.latest_ts.get(name) if f.props.get(name) is not None else None for f in folded]
            ts_col.append(COLUMN_END[UPDATED_AT.type])
            params[f"c{i}"] = ts_col
            i += 1
    return params


def node_merge(node: NodeLabel) -> str:
    """Neo4j's upsert of one label in one statement: $rows from `node_rows`, but with the
    `NodeUpsert.timestamps` columns as ISO 8601 strings with offset (or null).

    Strings, because the Python driver packs a datetime at ~50 µs (its Rust extension too): 30x the
    cost of the server's datetime(). MERGE rather than the split upsert: it locks the key, so
    concurrent writers cannot both create a node; a node it creates has no properties yet, so every
    merge rule takes the row's value.
    """
    _check(node)
    timestamps = node_upsert(node, "neo4j").timestamps
    rows = "UNWIND $rows AS r"
    if timestamps:
        parsed = ", ".join(f"{_q(c)}: datetime(row.{_q(c)})" for c in timestamps)
        rows = f"UNWIND $rows AS row WITH row {{.*, {parsed}}} AS r"
    merge = f"{rows} MERGE (n:{_q(node.label)} {{{_q(node.key)}: r.{_q(node.key)}}})"
    sets = _sets(node, "neo4j")
    return f"{merge} SET {sets}" if sets else merge


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


def _endpoints(rel: RelType, from_label: str, to_label: str) -> tuple[str, str]:
    if (from_label, to_label) not in rel.endpoints:
        raise ValueError(f"{rel.type} does not connect {from_label} to {to_label}")
    a = f"(a:{_q(from_label)} {{{_q(NODES[from_label].key)}: r.f}})"
    b = f"(b:{_q(to_label)} {{{_q(NODES[to_label].key)}: r.t}})"
    return a, b


def rel_upsert(rel: RelType, from_label: str, to_label: str) -> RelUpsert:
    a, b = _endpoints(rel, from_label, to_label)
    t = _q(rel.type)
    existing = (
        f"UNWIND $rows AS r MATCH {a} MATCH {b} OPTIONAL MATCH (a)-[e:{t}]->(b) "
        "RETURN r.f AS f, r.t AS t, count(e) AS n"
    )
    create = f"UNWIND $rows AS r MATCH {a} MATCH {b} CREATE (a)-[:{t}]->(b)"
    return RelUpsert(rel.type, from_label, to_label, existing, create)


def rel_columns_upsert(rel: RelType, from_label: str, to_label: str) -> RelUpsert:
    """`rel_upsert` for LadybugDB, without lists of row dicts (see column_upsert).

    `existing` takes $f and $t (from and to keys) and $n, their length, and returns `i` (the 1-based
    row) and `n` (how many such rels exist) for every row whose two endpoints exist. `create` takes $p, a
    list of [from key, to key], and returns how many rels it created. Each has the shape LadybugDB plans
    as key lookups (measured): bound by WITH for the OPTIONAL MATCH, read inline for the CREATE; the
    other way round, either one scans a table.
    """
    _endpoints(rel, from_label, to_label)
    fk, tk = _q(NODES[from_label].key), _q(NODES[to_label].key)
    a, b, t = _q(from_label), _q(to_label), _q(rel.type)
    existing = (
        f"UNWIND range(1, $n) AS i WITH i, $f[i] AS f, $t[i] AS t "
        f"MATCH (a:{a} {{{fk}: f}}) MATCH (b:{b} {{{tk}: t}}) OPTIONAL MATCH (a)-[e:{t}]->(b) "
        "RETURN i, count(e) AS n"
    )
    create = (
        f"UNWIND $p AS p MATCH (a:{a} {{{fk}: p[1]}}) MATCH (b:{b} {{{tk}: p[2]}}) "
        f"CREATE (a)-[:{t}]->(b) RETURN count(*)"
    )
    return RelUpsert(rel.type, from_label, to_label, existing, create)


def rel_merge(rel: RelType, from_label: str, to_label: str) -> str:
    """Neo4j's create-once of (from)-[type]->(to) for $rows {"f", "t"}; returns `n`, the rows whose two
    endpoints exist (fewer than the rows: `RelUpsert.existing` tells which endpoint is missing)."""
    a, b = _endpoints(rel, from_label, to_label)
    return f"UNWIND $rows AS r MATCH {a} MATCH {b} MERGE (a)-[:{_q(rel.type)}]->(b) RETURN count(*) AS n"
