"""Retention purges in both graph stores (PurgeNodes, projections/purge.py), apart from their hot code.

Each store's apply() calls two functions of this module:

- `before_apply_*` takes the PurgeNodes out of the operations, applies each to the records stored, in
  batches of BATCH records, each batch its own transaction (a query waits for one batch, not for the whole
  purge), and remembers it as a rule; it returns the remaining (upsert) operations.
- `enforce_*`, inside the apply transaction after the upserts, applies the rules to the records just
  written: a record a rule matches never stays, whether it was written before or after the rule.

A purge applied half-way before a crash is applied again (the positions of the batch that held it were not
recorded): every step is idempotent. The rules are kept in the store object and loaded from the
(:RetentionEvent {rule}) nodes on first use, so a restart (or a fresh store of a replay) knows them.

Label and property names come from the graph schema (checked); every value is a parameter.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from projections.graph_ops import FoldedBatch, FoldedNode, GraphOp
from projections.purge import BATCH, DELETED_AT, PurgeNodes
from schemas.graph import NODES

if TYPE_CHECKING:
    import neo4j

    from projections.stores.ladybug import LadybugStore
    from projections.stores.neo4j import Neo4jStore

_ATTR = "_retention_rules"
Rules = dict[str, dict[str, PurgeNodes]]  # label -> rule id -> rule (in the order they came)


def split(ops: Sequence[GraphOp]) -> tuple[list[PurgeNodes], Sequence[GraphOp]]:
    """The purges among `ops`, and the other operations (the same sequence when there is no purge)."""
    if not any(type(op) is PurgeNodes for op in ops):
        return [], ops
    purges = [op for op in ops if isinstance(op, PurgeNodes)]
    return purges, [op for op in ops if not isinstance(op, PurgeNodes)]


def _check(rule: PurgeNodes) -> tuple[str, str]:
    """(key property, time property) of the rule's label, checked against the schema."""
    node = NODES.get(rule.label)
    if node is None:
        raise ValueError(f"purge of an unknown label {rule.label!r}")
    if node.by_name.get(rule.time_property) is None or node.prop(rule.time_property).type != "TIMESTAMP":
        raise ValueError(f"{rule.label}.{rule.time_property} is not a TIMESTAMP property")
    return node.key, rule.time_property


def criteria(rule: PurgeNodes, naive: bool) -> tuple[str, dict[str, Any]]:
    """The WHERE condition on `n` a rule removes, and its parameters (naive UTC times for LadybugDB)."""

    def t(v: datetime) -> datetime:
        v = v.astimezone(UTC)
        return v.replace(tzinfo=None) if naive else v

    key, tp = _check(rule)
    params: dict[str, Any] = {}
    if rule.keys:
        cond = f"n.{key} IN $keys"
        params["keys"] = list(rule.keys)
    else:
        assert rule.cutoff is not None
        cond = f"n.{tp} < $cutoff"
        params["cutoff"] = t(rule.cutoff)
        if rule.exempt_keys:
            cond += f" AND NOT n.{key} IN $exempt"
            params["exempt"] = list(rule.exempt_keys)
        for i, (a, b) in enumerate(rule.exempt_ranges):
            cond += f" AND NOT (n.{tp} >= $rf{i} AND n.{tp} < $rt{i})"
            params[f"rf{i}"], params[f"rt{i}"] = t(a), t(b)
    if rule.mode == "soft_delete":
        cond += f" AND (n.{DELETED_AT} IS NULL OR n.{DELETED_AT} > $at)"
        params["at"] = t(rule.at)
    return cond, params


def _action(rule: PurgeNodes) -> str:
    return f"SET n.{DELETED_AT} = $at" if rule.mode == "soft_delete" else "DETACH DELETE n"


def _remember(rules: Rules, purge: PurgeNodes) -> None:
    if purge.lift:
        for by_id in rules.values():
            by_id.pop(purge.rule, None)
    else:
        rules.setdefault(purge.label, {})[purge.rule] = purge


def _from_rows(texts: Sequence[Any]) -> Rules:
    rules: Rules = {}
    for text in texts:
        _remember(rules, PurgeNodes.from_json(str(text)))
    return rules


# --- LadybugDB ------------------------------------------------------------------------------------------


def _ladybug_rules(store: LadybugStore) -> Rules:
    rules: Rules | None = getattr(store, _ATTR, None)
    if rules is None:
        rows = store._run("MATCH (r:RetentionEvent) WHERE r.rule <> '' RETURN r.rule ORDER BY r.ts, r.id")
        rules = _from_rows([r[0] for r in rows])
        setattr(store, _ATTR, rules)
    return rules


def _ladybug_column(store: LadybugStore, label: str) -> None:
    """LadybugDB tables have fixed columns: add `deleted_at` to a label a soft delete marks."""
    store._run(f"ALTER TABLE {label} ADD IF NOT EXISTS {DELETED_AT} TIMESTAMP")
    store._prepared.clear()  # statements prepared against the table as it was


def before_apply_ladybug(store: LadybugStore, ops: Sequence[GraphOp]) -> Sequence[GraphOp]:
    purges, rest = split(ops)
    if not purges:
        return rest
    with store._mutex:
        rules = _ladybug_rules(store)
    for purge in purges:
        with store._mutex:
            _remember(rules, purge)
        if not purge.lift:
            purge_ladybug(store, purge)
    return rest


def _statement(rule: PurgeNodes, cond: str, batch: int) -> str:
    """One batch of a purge: by the keys it names (looked up one by one: an IN over a long list would be
    tested against every record), or by its criteria, BATCH records at a time. Returns the count.

    Measured (LadybugDB, 300k LogEvents with a relationship each, 270k purged): scanning for the next
    BATCH matches each time took 8.5 s; one scan for every matching key, then deleting by key lookups,
    took 17.5 s (the per-key lookups cost more than the scans they save)."""
    key = NODES[rule.label].key
    if rule.keys:
        return (
            f"UNWIND $ks AS k MATCH (n:{rule.label} {{{key}: k}}) WHERE {cond} "
            f"WITH n {_action(rule)} RETURN count(*)"
        )
    return f"MATCH (n:{rule.label}) WHERE {cond} WITH n LIMIT {int(batch)} {_action(rule)} RETURN count(*)"


def _chunks(rule: PurgeNodes, batch: int) -> list[list[str]]:
    return [list(rule.keys[i : i + batch]) for i in range(0, len(rule.keys), batch)] if rule.keys else []


# Between two purge batches the purging thread sleeps this long: a lock is not fair, and without a pause
# it took the store's lock again at once (a query waited for the whole 900k purge, 22 s, on an idle
# machine). 90 batches of 10k cost 0.2 s more.
HANDOFF = 0.002


def purge_ladybug(store: LadybugStore, rule: PurgeNodes, batch: int = BATCH) -> int:
    """Apply one rule to the stored records, BATCH at a time (each its own transaction, the store's lock
    released between them); returns the records purged."""
    _check(rule)
    if rule.mode == "soft_delete":
        with store._mutex:
            _ladybug_column(store, rule.label)
    cond, params = criteria(rule, naive=True)
    statement = _statement(rule, cond, batch)
    done = 0
    if rule.keys:
        for ks in _chunks(rule, batch):
            with store._mutex:
                store._check_open()
                done += int(store._run(statement, {**params, "ks": ks})[0][0])
            time.sleep(HANDOFF)
        return done
    while True:
        with store._mutex:
            store._check_open()
            n = int(store._run(statement, params)[0][0])
        done += n
        if n < batch:
            return done
        time.sleep(HANDOFF)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _may_match(rule: PurgeNodes, written: Mapping[str, FoldedNode]) -> list[str]:
    """The written keys the rule could purge, judged in Python first: most batches write new records,
    newer than every cutoff, and a rule per day of the year must not cost a statement per batch each.
    A record whose write does not tell its time is left to the store to judge."""
    if rule.keys:
        names = _key_set(rule)
        return [k for k in written if k in names]
    assert rule.cutoff is not None
    cutoff = _utc(rule.cutoff)
    out = []
    for k, node in written.items():
        t = node.props.get(rule.time_property)
        if not isinstance(t, datetime) or _utc(t) < cutoff:
            out.append(k)
    return out


_KEY_SETS: dict[str, frozenset[str]] = {}


def _key_set(rule: PurgeNodes) -> frozenset[str]:
    found = _KEY_SETS.get(rule.rule)
    if found is None:
        found = _KEY_SETS[rule.rule] = frozenset(rule.keys)
    return found


def enforce_ladybug(store: LadybugStore, folded: FoldedBatch) -> None:
    """Inside apply's transaction: the rules, on the records of `folded` (see the module docstring)."""
    rules = _ladybug_rules(store)
    for label, by_id in rules.items():
        written = folded.nodes.get(label)
        if not written or not by_id:
            continue
        key = NODES[label].key
        for rule in by_id.values():
            candidates = _may_match(rule, written)
            if not candidates:
                continue
            cond, params = criteria(rule, naive=True)
            store._run(
                f"UNWIND $written AS k MATCH (n:{label} {{{key}: k}}) WHERE {cond} {_action(rule)}",
                {**params, "written": candidates},
            )


# --- Neo4j ----------------------------------------------------------------------------------------------


def _neo4j_rules(store: Neo4jStore) -> Rules:
    rules: Rules | None = getattr(store, _ATTR, None)
    if rules is None:
        with store._session() as s:
            texts = [
                r["rule"]
                for r in s.run(
                    "MATCH (r:RetentionEvent) WHERE r.rule <> '' RETURN r.rule AS rule ORDER BY r.ts, r.id"
                )
            ]
        rules = _from_rows(texts)
        setattr(store, _ATTR, rules)
    return rules


def before_apply_neo4j(store: Neo4jStore, ops: Sequence[GraphOp]) -> Sequence[GraphOp]:
    purges, rest = split(ops)
    if not purges:
        return rest
    rules = _neo4j_rules(store)
    for purge in purges:
        _remember(rules, purge)
        if not purge.lift:
            purge_neo4j(store, purge)
    return rest


def purge_neo4j(store: Neo4jStore, rule: PurgeNodes, batch: int = BATCH) -> int:
    _check(rule)
    cond, params = criteria(rule, naive=False)
    statement = _statement(rule, cond, batch)

    def one(tx: neo4j.ManagedTransaction, extra: dict[str, Any]) -> int:
        return int(tx.run(statement, {**params, **extra}).single(strict=True)[0])

    done = 0
    if rule.keys:
        for ks in _chunks(rule, batch):
            with store._session() as s:
                done += s.execute_write(one, {"ks": ks})
        return done
    while True:
        with store._session() as s:
            n = s.execute_write(one, {})
        done += n
        if n < batch:
            return done


def enforce_neo4j(
    store: Neo4jStore, tx: neo4j.ManagedTransaction, written: Mapping[str, Mapping[str, FoldedNode]]
) -> None:
    rules = _neo4j_rules(store)
    for label, by_id in rules.items():
        keys = written.get(label)
        if not keys or not by_id:
            continue
        key = NODES[label].key
        for rule in by_id.values():
            candidates = _may_match(rule, keys)
            if not candidates:
                continue
            cond, params = criteria(rule, naive=False)
            tx.run(
                f"UNWIND $written AS k MATCH (n:{label} {{{key}: k}}) WHERE {cond} {_action(rule)}",
                {**params, "written": candidates},
            ).consume()
