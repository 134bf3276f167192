"""The distributed graph store: a Neo4j 5 database reached over Bolt."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import neo4j
import neo4j.graph
import neo4j.time
from neo4j.exceptions import ClientError, DriverError, Neo4jError

from projections.graph_ops import GraphOp, UpsertRel, fold
from projections.stores import purging
from projections.stores.base import GraphStore, MissingEndpoint, QueryResult, ReadOnlyViolation
from projections.stores.cypher_guard import NEO4J, check
from projections.stores.ddl import (
    POSITION,
    neo4j_ddl,
    node_merge,
    node_rows,
    node_upsert,
    position_rows,
    rel_merge,
    rel_upsert,
)
from schemas.graph import NODES, RELS
from schemas.model import NodeLabel

log = logging.getLogger(__name__)

# The server's code for a write attempted in a READ access-mode transaction.
_ACCESS_MODE = "Neo.ClientError.Statement.AccessMode"
# Wrong password, unknown user, and the lock-out after repeated failures (AuthenticationRateLimit).
_SECURITY = "Neo.ClientError.Security."
# Another writer created the same constraint or index between our IF NOT EXISTS check and our create.
_SCHEMA_RACE = frozenset(
    {
        "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
        "Neo.ClientError.Schema.ConstraintAlreadyExists",
        "Neo.ClientError.Schema.IndexAlreadyExists",
    }
)
_LABELS: dict[str, NodeLabel] = {**NODES, POSITION.label: POSITION}
# Rows per transaction when wiping: one transaction for a whole large graph would exhaust the heap.
_WIPE_BATCH = 10_000


class GraphStoreUnavailable(ConnectionError):
    """The Neo4j server cannot be reached, or it refused our credentials."""


def _redact(uri: str) -> str:
    """The URI without a password, should one have been written into it."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _store_value(value: Any) -> Any:
    """Aware UTC for every datetime: Neo4j compares a naive (LocalDateTime) value with a zoned one as null,
    which would silently skip every merge rule. Naive input means UTC, as in the LadybugDB store."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, Mapping):
        return {k: _store_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_store_value(v) for v in value]
    return value


def _iso(value: Any) -> Any:
    """A TIMESTAMP row column as node_merge takes it (a non-datetime goes through: the server refuses it)."""
    if isinstance(value, datetime):
        return _store_value(value).isoformat()
    return value


def _node(node: neo4j.graph.Node) -> dict[str, Any]:
    # LadybugDB returns every declared property of a node, null or not: so do we, for the same rows.
    label = next(iter(node.labels), "")
    props = {k: _plain(v) for k, v in node.items()}
    schema = _LABELS.get(label)
    declared = {p.name: props.pop(p.name, None) for p in schema.props} if schema else {}
    return {"_LABEL": label, **declared, **props}


def _plain(value: Any) -> Any:
    """Driver values as the LadybugDB store returns them: naive UTC datetimes, elements as dicts."""
    if isinstance(value, neo4j.time.DateTime):
        if value.tzinfo is None:
            return value.to_native()
        return value.to_native().astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, neo4j.time.Date | neo4j.time.Time):
        return value.to_native()
    if isinstance(value, neo4j.time.Duration):
        if value.months:  # no fixed length: keep it exact as ISO 8601
            return value.iso_format()
        return timedelta(days=value.days, seconds=value.seconds, microseconds=value.nanoseconds // 1000)
    if isinstance(value, neo4j.graph.Node):
        return _node(value)
    if isinstance(value, neo4j.graph.Relationship):
        return {"_LABEL": value.type, **{k: _plain(v) for k, v in value.items()}}
    if isinstance(value, neo4j.graph.Path):
        return {"_NODES": [_node(n) for n in value.nodes], "_RELS": [_plain(r) for r in value.relationships]}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _collect(tx: neo4j.ManagedTransaction, cypher: str, params: dict[str, Any]) -> QueryResult:
    result = tx.run(cypher, params)
    rows = [[_plain(v) for v in record.values()] for record in result]
    return QueryResult(list(result.keys()), rows)


class Neo4jStore(GraphStore):
    """The graph in one database of a Neo4j 5 server (Community has just one: "neo4j").

    Query results match the LadybugDB store's: TIMESTAMPs come back as NAIVE datetimes holding UTC;
    nodes and relationships become dicts of their properties plus `_LABEL` (a node carries every property
    its label declares, null where unset); paths become {"_NODES": [...], "_RELS": [...]}. The driver is
    thread-safe and every call takes its own session, so calls need no lock.
    """

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        *,
        database: str = "neo4j",
        connect_timeout: float = 10.0,
    ) -> None:
        self.uri = _redact(uri)
        self.database = database
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=(user, password),
                connection_timeout=connect_timeout,
                connection_acquisition_timeout=2 * connect_timeout,
                # Our statements are fixed by the schema: the server's hints about them are log noise.
                notifications_min_severity="OFF",
            )
        except (DriverError, ValueError) as e:
            # The driver quotes the URI whole, with any password written into it.
            raise ValueError(f"unusable Neo4j URI {self.uri}: {str(e).replace(uri, self.uri)}") from None
        try:
            self._driver.verify_connectivity()
            # verify_connectivity checks the server, not the database: ask the database for one row too.
            with self._driver.session(database=database) as session:
                session.run("RETURN 1").consume()
        except (DriverError, Neo4jError, OSError) as e:
            self._driver.close()
            if isinstance(e, Neo4jError) and (e.code or "").startswith(_SECURITY):
                # The server's message names neither user nor password; ours names the user only.
                raise GraphStoreUnavailable(
                    f"Neo4j at {self.uri} refused the credentials of user {user!r}: {e.message}"
                ) from None
            raise GraphStoreUnavailable(
                f"cannot reach Neo4j at {self.uri} (database {database!r}): {e}"
            ) from e
        self._closed = False
        self._node_stmts: dict[str, str] = {}
        self._timestamp_cols: dict[str, tuple[str, ...]] = {}
        self._rel_stmts: dict[tuple[str, str, str], str] = {}

    # --- lifecycle -----------------------------------------------------------------------------------

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        self._driver.close()

    def _session(self, mode: str = neo4j.WRITE_ACCESS) -> neo4j.Session:
        if self._closed:
            raise RuntimeError(f"graph store {self.uri} is closed")
        return self._driver.session(database=self.database, default_access_mode=mode)

    def ensure_schema(self) -> None:
        with self._session() as session:
            for statement in neo4j_ddl():
                try:
                    session.run(statement).consume()
                except ClientError as e:
                    if e.code not in _SCHEMA_RACE:
                        raise
            # Range indexes fill in the background; queries right after this call should use them.
            session.run("CALL db.awaitIndexes(300)").consume()

    def wipe(self, confirm: bool) -> None:
        """Delete every node, relationship, constraint and index (not the built-in token lookups).

        Destructive, so `confirm` must be True. Positions go first, in one transaction: a wipe cut short
        leaves no positions behind, so a projector restarts from zero rather than skipping on a half-empty
        graph. The rest is deleted in batches and is not atomic; run it again after an interruption.
        Call ensure_schema afterwards.
        """
        if confirm is not True:
            raise ValueError(f"wipe deletes the whole graph at {self.uri}: pass confirm=True")
        with self._session() as session:
            session.execute_write(lambda tx: tx.run(f"MATCH (p:{POSITION.label}) DELETE p").consume())
            # Dropped before the data: deleting then needs no index maintenance. Dropping a constraint
            # drops its index; the token lookup indexes are the server's own.
            # An index a constraint owns is dropped with it: never by name (a constraint created
            # meanwhile, by a projector's ensure_schema, made DROP INDEX fail with IndexDropFailed).
            # Rounds until none is left, for the same reason.
            for _ in range(5):
                left = 0
                for kind, show in (
                    ("CONSTRAINT", "SHOW CONSTRAINTS YIELD name RETURN name"),
                    (
                        "INDEX",
                        "SHOW INDEXES YIELD name, type, owningConstraint "
                        "WHERE type <> 'LOOKUP' AND owningConstraint IS NULL RETURN name",
                    ),
                ):
                    for name in [r["name"] for r in session.run(show)]:
                        left += 1
                        escaped = name.replace("`", "``")
                        session.run(f"DROP {kind} `{escaped}` IF EXISTS").consume()
                if not left:
                    break
            # CALL … IN TRANSACTIONS needs an auto-commit transaction: session.run, not execute_write.
            # Relationships first, in batches of their own: DETACH DELETE of a node deletes all its
            # relationships in one transaction, and the Host node has one per event (seen: Neo4j with
            # a 768 MB heap exited while wiping a graph of ~500k events).
            session.run(
                f"MATCH ()-[r]->() CALL (r) {{ DELETE r }} IN TRANSACTIONS OF {_WIPE_BATCH} ROWS"
            ).consume()
            session.run(
                f"MATCH (n) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF {_WIPE_BATCH} ROWS"
            ).consume()
        log.info("wiped the graph at %s (database %s)", self.uri, self.database)

    # --- writes --------------------------------------------------------------------------------------

    def apply(self, ops: Sequence[GraphOp], positions: Mapping[str, int]) -> None:
        ops = purging.before_apply_neo4j(self, ops)  # retention purges (their own batches), as rules
        folded = fold(ops)  # validates every op before the transaction starts
        nodes = [
            (self._node_stmt(NODES[label]), self._rows(NODES[label], node_rows(NODES[label], batch.values())))
            for label, batch in folded.nodes.items()
        ]
        rels = self._rel_batches(r for batch in folded.rels.values() for r in batch)
        if positions:
            nodes_after = [(self._node_stmt(POSITION), self._rows(POSITION, position_rows(positions)))]
        else:
            nodes_after = []
        started = time.perf_counter()

        def work(tx: neo4j.ManagedTransaction) -> None:
            for statement, rows in nodes:
                tx.run(statement, {"rows": rows}).consume()
            for pair, statement, rows in rels:
                if tx.run(statement, {"rows": rows}).single(strict=True)["n"] != len(rows):
                    self._missing_endpoint(tx, pair, rows)
            purging.enforce_neo4j(self, tx, folded.nodes)  # a purged record written again stays purged
            for statement, rows in nodes_after:
                tx.run(statement, {"rows": rows}).consume()

        with self._session() as session:
            # A managed transaction retries on transient errors (deadlocks between concurrent writers):
            # safe, because applying a batch twice gives the graph applying it once gives.
            session.execute_write(work)
        log.debug(
            "applied %d ops (%d nodes, %d rels) in %.3fs",
            len(ops),
            sum(len(n) for n in folded.nodes.values()),
            sum(len(r) for r in folded.rels.values()),
            time.perf_counter() - started,
        )

    def _node_stmt(self, node: NodeLabel) -> str:
        stmt = self._node_stmts.get(node.label)
        if stmt is None:
            stmt = self._node_stmts[node.label] = node_merge(node)
        return stmt

    def _timestamps(self, node: NodeLabel) -> tuple[str, ...]:
        cols = self._timestamp_cols.get(node.label)
        if cols is None:
            cols = self._timestamp_cols[node.label] = node_upsert(node, "neo4j").timestamps
        return cols

    def _rows(self, node: NodeLabel, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for row in rows:
            for col in self._timestamps(node):
                row[col] = _iso(row[col])
        # Sorted by key: concurrent writers then lock shared nodes in the same order, avoiding deadlocks.
        return sorted(rows, key=lambda r: str(r[node.key]))

    def _rel_batches(
        self, rels: Iterable[UpsertRel]
    ) -> list[tuple[tuple[str, str, str], str, list[dict[str, Any]]]]:
        by_pair: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for r in rels:
            by_pair.setdefault((r.type, r.from_label, r.to_label), []).append(
                {"f": r.from_key, "t": r.to_key}
            )
        out = []
        for pair, rows in by_pair.items():
            stmt = self._rel_stmts.get(pair)
            if stmt is None:
                stmt = self._rel_stmts[pair] = rel_merge(RELS[pair[0]], pair[1], pair[2])
            out.append((pair, stmt, sorted(rows, key=lambda r: (r["f"], r["t"]))))
        return out

    @staticmethod
    def _missing_endpoint(
        tx: neo4j.ManagedTransaction, pair: tuple[str, str, str], rows: list[dict[str, Any]]
    ) -> None:
        existing = rel_upsert(RELS[pair[0]], pair[1], pair[2]).existing
        found = {(rec["f"], rec["t"]) for rec in tx.run(existing, {"rows": rows})}
        missing = [r for r in rows if (r["f"], r["t"]) not in found]
        sample = ", ".join(f"{m['f']!r}->{m['t']!r}" for m in missing[:3])
        raise MissingEndpoint(
            f"{len(missing)} {pair[0]} ({pair[1]}->{pair[2]}) name a missing node, e.g. {sample}"
        )

    # --- reads ---------------------------------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        result = self.query(f"MATCH (p:{POSITION.label}) RETURN p.name, p.offset")
        return {str(name): int(offset) for name, offset in result.rows}

    def query(
        self, cypher: str, params: Mapping[str, Any] | None = None, *, read_only: bool = True
    ) -> QueryResult:
        """Run ONE statement in its own transaction; read-only ones in a READ access-mode transaction.

        The server, not a parse of the text, refuses writes: any write in a READ transaction fails with
        Neo.ClientError.Statement.AccessMode. Text holding several statements, or transaction control
        (`COMMIT`, `BEGIN`), is a syntax error to Neo4j: a statement cannot leave its transaction.
        Before that, the text must pass the allow-list (cypher_guard): a READ transaction still runs
        `LOAD CSV` (files, URLs), `SHOW SETTINGS` and DBMS procedures, so CALL is refused but for
        db.labels/relationshipTypes/propertyKeys in read-only queries, and for every caller otherwise.
        """
        check(cypher, NEO4J, read_only=read_only)
        values = _store_value(dict(params or {}))
        mode = neo4j.READ_ACCESS if read_only else neo4j.WRITE_ACCESS
        with self._session(mode) as session:
            try:
                if read_only:
                    return session.execute_read(_collect, cypher, values)
                return session.execute_write(_collect, cypher, values)
            except ClientError as e:
                if read_only and e.code == _ACCESS_MODE:
                    raise ReadOnlyViolation(f"read-only query tried to write: {e.message}") from e
                raise
