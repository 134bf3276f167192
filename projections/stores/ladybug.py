"""The embedded graph store: a LadybugDB database in a directory, owned by this one process."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ladybug

from projections.graph_ops import FoldedNode, GraphOp, UpsertRel, fold
from projections.stores import purging
from projections.stores.base import GraphStore, MissingEndpoint, QueryResult, ReadOnlyViolation
from projections.stores.cypher_guard import LADYBUG, check
from projections.stores.ddl import (
    COLUMN_END,
    POSITION,
    ColumnUpsert,
    RelUpsert,
    column_upsert,
    ladybug_ddl,
    node_columns,
    rel_columns_upsert,
)
from schemas.graph import NODES, RELS
from schemas.model import NodeLabel

log = logging.getLogger(__name__)

DB_FILE = "graph.lbug"
LOCK_FILE = "graph.lock"

# Internal ids of nodes and relationships: meaningless outside one database file, so never returned.
_INTERNAL = frozenset({"_ID", "_SRC", "_DST"})


class GraphCorrupted(RuntimeError):
    """LadybugDB refuses to open the graph (e.g. a WAL torn by a kill -9 fails its checksum).

    The graph is a projection: the caller may move it aside and rebuild it from the event log.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"graph database {path} cannot be opened: {reason}")
        self.path = path


class GraphLocked(RuntimeError):
    """The graph directory is open in another process (or another store in this one)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(
            f"graph database {path} is already open ({holder}); LadybugDB allows one process only: "
            "query it through the process that holds it"
        )
        self.path = path


def _store_value(value: Any) -> Any:
    """LadybugDB drops a timezone offset without converting: hand it naive UTC (naive input is UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    if isinstance(value, Mapping):
        return {k: _store_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_store_value(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        if "_LABEL" in value:  # a node or relationship
            return {k: _plain(v) for k, v in value.items() if k not in _INTERNAL}
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        # sum() of integers is an INT128, a Decimal here: answer the int Neo4j answers (JSON-able)
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _rows(result: ladybug.QueryResult | list[ladybug.QueryResult]) -> tuple[list[str], list[list[Any]]]:
    if isinstance(result, list):  # a script of several statements: query() prepares single ones only
        for r in result:
            r.close()
        raise RuntimeError("expected one statement, ran a script")
    try:
        columns = list(result.get_column_names())
        rows: list[list[Any]] = []
        while result.has_next():
            row = result.get_next()
            rows.append([_plain(v) for v in (row.values() if isinstance(row, dict) else row)])
        return columns, rows
    finally:
        result.close()


def _naive_utc(value: Any) -> Any:
    return (
        value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) and value.tzinfo else value
    )


def _position(name: str, offset: int) -> FoldedNode:
    return FoldedNode(POSITION.label, name, {"name": name, "offset": int(offset)}, None)


def _fetch(result: ladybug.QueryResult | list[ladybug.QueryResult]) -> list[list[Any]]:
    """The rows of an internal statement (plain values only: no node or relationship to convert)."""
    assert not isinstance(result, list)
    try:
        rows: list[list[Any]] = []
        while result.has_next():
            rows.append(result.get_next())  # type: ignore[arg-type]
        return rows
    finally:
        result.close()


def _is_no_transaction(exc: RuntimeError) -> bool:
    return "No active transaction" in str(exc)


# LadybugDB keeps every row version an UPDATE leaves in memory until a checkpoint, and its automatic
# checkpoint waits for 16 MiB of WAL, which updates of small rows take long to write: a daemon that
# overwrites the same few hundred nodes every minute (resource rollups, service state) grew ~1.3 MB per
# batch without bound (788 MB after 400 batches, measured); a CHECKPOINT every 50 batches kept it flat.
# So apply() checkpoints at most every 10 s after writes, and after this many operations in a bulk load.
# 10 s, not 60 (bench resources): the host sampler at 10 s updates ~60 ring points a sample, whose row
# versions held the daemon ~1.2 MB a sample higher until the checkpoint (+41 MB after 20 samples at 60 s,
# flat at +20 MB with one per sample); a checkpoint of such a batch costs ~6.6 ms of CPU (measured).
# After a checkpoint, glibc is asked to hand freed heap back (malloc_trim): another ~7 MB of the
# sampler's figure was freed memory glibc kept (in-process, 15 samples: +19 MB -> +12 MB).
CHECKPOINT_SECONDS = 10.0
CHECKPOINT_OPS = 50_000


@functools.cache
def _malloc_trim() -> Any:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _release_freed_memory() -> None:
    """glibc's malloc_trim(0): return freed heap pages to the system (a no-op where there is no glibc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class LadybugStore(GraphStore):
    """The graph in `<directory>/graph.lbug`; `<directory>/graph.lock` is held while it is open.

    Query results are what LadybugDB returns, made JSON-friendly only for graph elements: nodes and
    relationships become dicts of their properties plus `_LABEL` (internal ids dropped). TIMESTAMP values
    come back as NAIVE datetimes holding UTC; callers attach the zone. Calls are serialised by a lock
    (a query waits while a batch is applied); apply() writes through one connection that no user
    statement ever reaches, and each user query runs on a connection of its own. `buffer_pool_size` 0
    keeps LadybugDB's default (~80% of RAM, taken only as pages are used).
    """

    def __init__(self, directory: str | os.PathLike[str], *, buffer_pool_size: int = 0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._mutex = threading.RLock()
        self._lock_fd = self._take_lock()
        try:
            try:
                self._db = ladybug.Database(str(self.directory / DB_FILE), buffer_pool_size=buffer_pool_size)
            except RuntimeError as e:
                # A process that opened graph.lbug directly (e.g. the LadybugDB shell) bypasses our lock.
                if "Could not set lock" in str(e):
                    raise GraphLocked(self.directory, str(e).splitlines()[0]) from e
                if "WAL file is corrupted" in str(e) or "Checksum verification failed" in str(e):
                    raise GraphCorrupted(self.directory, str(e).splitlines()[0]) from e
                raise
            self._conn = ladybug.Connection(self._db)
        except BaseException:
            self._release_lock()
            raise
        self._closed = False
        self._upserts: dict[str, ColumnUpsert] = {}
        self._rel_upserts: dict[tuple[str, str, str], RelUpsert] = {}
        # Statements of apply(), prepared once each (by Cypher text) with parameters of the schema's
        # types: executing a statement text with parameters makes the driver walk every value to key its
        # own cache of prepared statements, and that walk cost more than the engine's work.
        self._prepared: dict[str, ladybug.PreparedStatement] = {}
        self._since_checkpoint = 0
        self._checkpointed_at = time.monotonic()

    # --- lifecycle ---------------------------------------------------------------------------------

    def _take_lock(self) -> int:
        # Our own flock besides LadybugDB's: it also refuses a second store in this process, names the
        # holder, and is released by the kernel when a killed holder dies. (LadybugDB itself lets a
        # read-only open in beside the writer, which then sees a frozen, sometimes corrupt snapshot.)
        path = self.directory / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            raise GraphLocked(self.directory, f"held by pid {holder or '?'}") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _release_lock(self) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(self._lock_fd, 0)
        os.close(self._lock_fd)  # closing the descriptor drops the flock

    def close(self) -> None:
        with self._mutex:
            if getattr(self, "_closed", True):
                return
            self._closed = True
            self._prepared.clear()
            try:
                self._conn.close()
                self._db.close()
            finally:
                self._release_lock()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"graph store {self.directory} is closed")

    # --- statements ----------------------------------------------------------------------------------

    def _run(self, cypher: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        return _rows(self._conn.execute(cypher, params or {}))[1]

    def _exec(self, cypher: str, sample: dict[str, Any], params: dict[str, Any]) -> list[list[Any]]:
        """Run an internal statement, prepared on first use with `sample` (parameters of stable types)."""
        stmt = self._prepared.get(cypher)
        if stmt is None:
            stmt = ladybug.PreparedStatement(self._conn, cypher, sample)
            if not stmt.is_success():
                raise RuntimeError(stmt.get_error_message())
            self._prepared[cypher] = stmt
        return _fetch(self._conn.execute(stmt, params))

    def _end(self, statement: str) -> bool:
        """COMMIT or ROLLBACK; False when no transaction was active any more.

        After a failed statement LadybugDB has already rolled the transaction back on its own, and the
        statements after it would run in auto-commit: callers stop at the first error.
        """
        try:
            self._run(statement)
        except RuntimeError as e:
            if _is_no_transaction(e):
                return False
            raise
        return True

    def ensure_schema(self) -> None:
        with self._mutex:
            self._check_open()
            self._prepared.clear()  # prepared against the tables as they were
            for statement in ladybug_ddl():
                self._run(statement)

    # --- writes --------------------------------------------------------------------------------------

    def apply(self, ops: Sequence[GraphOp], positions: Mapping[str, int]) -> None:
        ops = purging.before_apply_ladybug(self, ops)  # retention purges (their own batches), as rules
        folded = fold(ops)  # validates every op before the transaction starts
        started = time.perf_counter()
        with self._mutex:
            self._check_open()
            self._run("BEGIN TRANSACTION")
            try:
                created = {
                    label: self._upsert_nodes(NODES[label], list(nodes.values()))
                    for label, nodes in folded.nodes.items()
                }
                for rels in folded.rels.values():
                    self._upsert_rels(rels, folded.nodes, created)
                purging.enforce_ladybug(self, folded)  # a purged record written again stays purged
                if positions:
                    self._upsert_nodes(POSITION, [_position(name, off) for name, off in positions.items()])
            except BaseException:
                with contextlib.suppress(RuntimeError):
                    self._end("ROLLBACK")
                raise
            if not self._end("COMMIT"):
                raise RuntimeError("the apply transaction ended before COMMIT; nothing was written")
            self._since_checkpoint += len(ops)
            if self._since_checkpoint >= CHECKPOINT_OPS or (
                self._since_checkpoint and time.monotonic() - self._checkpointed_at >= CHECKPOINT_SECONDS
            ):
                self._run("CHECKPOINT")
                self._since_checkpoint, self._checkpointed_at = 0, time.monotonic()
                _release_freed_memory()
        log.debug(
            "applied %d ops (%d nodes, %d rels) in %.3fs",
            len(ops),
            sum(len(n) for n in folded.nodes.values()),
            sum(len(r) for r in folded.rels.values()),
            time.perf_counter() - started,
        )

    def _upsert_nodes(self, node: NodeLabel, folded: list[FoldedNode]) -> set[str]:
        """Create or merge `folded` (one per key); returns the keys it created."""
        stmt = self._upserts.get(node.label)
        if stmt is None:
            stmt = self._upserts[node.label] = column_upsert(node)
        stored = {
            row[0] for row in self._exec(stmt.existing, {"keys": [""]}, {"keys": [f.key for f in folded]})
        }
        new = [f for f in folded if f.key not in stored]
        old = [f for f in folded if f.key in stored] if stored else []
        if new:
            self._exec(stmt.create, self._column_sample(stmt), self._columns(node, stmt, new))
        if old and stmt.update:
            self._exec(stmt.update, self._column_sample(stmt), self._columns(node, stmt, old))
        return {f.key for f in new}

    @staticmethod
    def _column_sample(stmt: ColumnUpsert) -> dict[str, Any]:
        sample: dict[str, Any] = {"n": 1}
        for i, type_ in enumerate(stmt.types):
            sample[f"c{i}"] = [COLUMN_END[type_]]
        return sample

    @staticmethod
    def _columns(node: NodeLabel, stmt: ColumnUpsert, folded: list[FoldedNode]) -> dict[str, Any]:
        params = node_columns(node, folded)
        for i, type_ in enumerate(stmt.types):
            if type_ == "TIMESTAMP":
                params[f"c{i}"] = [_naive_utc(v) for v in params[f"c{i}"]]
        return params

    def _upsert_rels(
        self,
        rels: Iterable[UpsertRel],
        batch: Mapping[str, Mapping[str, FoldedNode]],
        created: Mapping[str, set[str]],
    ) -> None:
        """Create each relationship once. One whose endpoints are both upserted in this batch and one of
        them was just created cannot exist yet: it is created without looking; the others are looked up."""
        by_pair: dict[tuple[str, str, str], tuple[list[UpsertRel], list[UpsertRel]]] = {}
        for r in rels:
            fresh, check = by_pair.setdefault((r.type, r.from_label, r.to_label), ([], []))
            new_from, new_to = created.get(r.from_label, ()), created.get(r.to_label, ())
            if (r.from_key in new_from or r.to_key in new_to) and (
                r.from_key in batch.get(r.from_label, {}) and r.to_key in batch.get(r.to_label, {})
            ):
                fresh.append(r)
            else:
                check.append(r)
        sample = {"n": 1, "f": [""], "t": [""]}
        for pair, (fresh, check) in by_pair.items():
            stmt = self._rel_upserts.get(pair)
            if stmt is None:
                stmt = self._rel_upserts[pair] = rel_columns_upsert(RELS[pair[0]], pair[1], pair[2])
            todo = fresh
            if check:
                params = {"n": len(check), "f": [r.from_key for r in check], "t": [r.to_key for r in check]}
                found = {int(i): int(n) for i, n in self._exec(stmt.existing, sample, params)}
                missing = [r for i, r in enumerate(check, 1) if i not in found]
                if missing:
                    example = ", ".join(f"{m.from_key!r}->{m.to_key!r}" for m in missing[:3])
                    raise MissingEndpoint(
                        f"{len(missing)} {pair[0]} ({pair[1]}->{pair[2]}) name a missing node, e.g. {example}"
                    )
                todo = fresh + [r for i, r in enumerate(check, 1) if found[i] == 0]
            if todo:
                pairs = [[r.from_key, r.to_key] for r in todo]
                made = self._exec(stmt.create, {"p": [["", ""]]}, {"p": pairs})[0][0]
                if made != len(todo):  # an endpoint vanished: never expected, but never silently
                    raise MissingEndpoint(f"created {made} of {len(todo)} {pair[0]} ({pair[1]}->{pair[2]})")

    # --- reads ---------------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Nodes per label and relationships per type (every one the schema declares)."""
        with self._mutex:
            self._check_open()
            out = {label: int(self._run(f"MATCH (n:{label}) RETURN count(n)")[0][0]) for label in NODES}
            for rel in RELS:
                out[rel] = int(self._run(f"MATCH ()-[r:{rel}]->() RETURN count(r)")[0][0])
            return out

    def checkpoint_copy(self, dest: str | os.PathLike[str]) -> dict[str, int]:
        """A consistent copy of the store's file at `dest` (a backup under the writer), and the counts
        it holds: both under the store's lock, so no batch is applied and no query runs meanwhile.
        CHECKPOINT first folds the WAL into the file, so the file alone is the whole graph."""
        with self._mutex:
            counts = self.counts()
            self._run("CHECKPOINT")
            self._since_checkpoint, self._checkpointed_at = 0, time.monotonic()
            shutil.copyfile(self.directory / DB_FILE, dest)
        return counts

    def positions(self) -> dict[str, int]:
        with self._mutex:
            self._check_open()
            rows = self._run(f"MATCH (p:{POSITION.label}) RETURN p.name, p.offset")
        return {str(name): int(offset) for name, offset in rows}

    def query(
        self, cypher: str, params: Mapping[str, Any] | None = None, *, read_only: bool = True
    ) -> QueryResult:
        """Run ONE user statement in its own transaction, on its own connection; read-only ones in a
        READ ONLY transaction.

        The text must pass the allow-list first (cypher_guard: no CALL, table functions, settings, COPY,
        LOAD, ATTACH or schema changes, for any caller). Then the engine, not a parse of the text, refuses
        writes in a READ ONLY transaction. Each query gets a fresh ladybug.Connection (~0.05 ms), never
        the one apply() writes through: what a statement could change in its connection (LadybugDB keeps
        `timeout`, `threads`, … per connection) dies with it. It is prepared as a single statement
        because `COMMIT; CREATE …` run as one script would end that transaction and write in auto-commit.
        """
        check(cypher, LADYBUG, read_only=read_only)
        with self._mutex:
            self._check_open()
            conn = ladybug.Connection(self._db)
            try:
                return self._user_statement(conn, cypher, params, read_only=read_only)
            finally:
                conn.close()

    @staticmethod
    def _user_statement(
        conn: ladybug.Connection, cypher: str, params: Mapping[str, Any] | None, *, read_only: bool
    ) -> QueryResult:
        def end(statement: str) -> bool:
            try:
                _rows(conn.execute(statement))
            except RuntimeError as e:
                if _is_no_transaction(e):
                    return False
                raise
            return True

        _rows(conn.execute("BEGIN TRANSACTION READ ONLY" if read_only else "BEGIN TRANSACTION"))
        try:
            stmt = ladybug.PreparedStatement(conn, cypher)
            if not stmt.is_success():
                raise RuntimeError(stmt.get_error_message())
            columns, rows = _rows(conn.execute(stmt, _store_value(dict(params or {}))))
        except RuntimeError as e:
            with contextlib.suppress(RuntimeError):
                end("ROLLBACK")
            if read_only and "read-only transaction" in str(e):
                raise ReadOnlyViolation(f"read-only query tried to write: {e}") from e
            raise
        except BaseException:
            with contextlib.suppress(RuntimeError):
                end("ROLLBACK")
            raise
        if not end("ROLLBACK" if read_only else "COMMIT"):
            # The statement was itself a COMMIT or ROLLBACK: nothing ran after it, but it is no query.
            if read_only:
                raise ReadOnlyViolation("a read-only query may not end its transaction")
            raise ValueError("a query may not end its transaction")
        return QueryResult(columns, rows)
