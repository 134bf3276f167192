"""The graph-store suite against a real Neo4j 5 server, plus what only the Neo4j store must do."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import neo4j
import pytest
from neo4j.exceptions import ConstraintError

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.stores.base import GraphStore, QueryRefused
from projections.stores.ddl import neo4j_ddl
from projections.stores.ladybug import LadybugStore
from projections.stores.neo4j import GraphStoreUnavailable, MissingEndpoint, Neo4jStore
from tests.integration.graph_store_suite import (
    GraphStoreSuite,
    at,
    host,
    installed_on,
    one,
    software,
    utc,
)

# Resets or shares state on the infra/ servers: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

URI = os.environ.get("WATCHMAN_TEST_NEO4J", "neo4j://127.0.0.1:7687")
USER = os.environ.get("WATCHMAN_TEST_NEO4J_USER", "neo4j")
PASSWORD = os.environ.get("WATCHMAN_TEST_NEO4J_PASSWORD", "watchman-test-password")


def open_store() -> Neo4jStore:
    return Neo4jStore(URI, USER, PASSWORD)


@pytest.fixture
def fresh() -> Iterator[Neo4jStore]:
    """The server's one user database, emptied (data and schema) and given the schema again."""
    s = open_store()
    s.wipe(confirm=True)
    s.ensure_schema()
    yield s
    s.close()


class TestNeo4jStore(GraphStoreSuite):
    @pytest.fixture
    def store(self, fresh: Neo4jStore) -> GraphStore:
        return fresh

    @pytest.fixture
    def reopen_store(self) -> Iterator[Callable[[GraphStore], GraphStore]]:
        opened: list[GraphStore] = []

        def _reopen(old: GraphStore) -> GraphStore:
            old.close()
            new = open_store()
            opened.append(new)
            return new

        yield _reopen
        for s in opened:
            s.close()

    # LadybugDB's CAST(i AS STRING) is no Neo4j Cypher (a syntax error, never a write): that one case
    # runs with a spelling valid in both dialects.
    @pytest.mark.parametrize(
        "cypher",
        [
            c.replace("UNWIND [1, 2] AS i", "UNWIND ['1', '2'] AS i").replace("CAST(i AS STRING)", "i")
            for c in GraphStoreSuite.test_read_only_query_refuses_writes.pytestmark[0].args[1]  # type: ignore[attr-defined]
        ],
    )
    def test_read_only_query_refuses_writes(self, store: GraphStore, cypher: str) -> None:
        super().test_read_only_query_refuses_writes(store, cypher)


# --- schema --------------------------------------------------------------------------------------------


def _admin(store: Neo4jStore, cypher: str) -> list[list[Any]]:
    """Statements the tests run past the allow-list of user queries (SHOW is refused there)."""
    with store._session(neo4j.READ_ACCESS) as session:
        return [list(record.values()) for record in session.run(cypher)]


def _schema(store: Neo4jStore) -> tuple[set[str], set[str]]:
    constraints = {r[0] for r in _admin(store, "SHOW CONSTRAINTS YIELD name RETURN name")}
    indexes = _admin(
        store, "SHOW INDEXES YIELD name, type, owningConstraint RETURN name, type, owningConstraint"
    )
    return constraints, {name for name, kind, owner in indexes if kind == "RANGE" and owner is None}


def test_constraints_and_indexes_exist_after_ensure_schema(fresh: Neo4jStore) -> None:
    expected_constraints = {s.split("`")[1] for s in neo4j_ddl() if s.startswith("CREATE CONSTRAINT")}
    expected_indexes = {s.split("`")[1] for s in neo4j_ddl() if s.startswith("CREATE RANGE INDEX")}
    assert {"Host_name_unique", "Software_key_unique", "Event_id_unique", "_Position_name_unique"} <= (
        expected_constraints
    )
    assert _schema(fresh) == (expected_constraints, expected_indexes)
    fresh.ensure_schema()
    assert _schema(fresh) == (expected_constraints, expected_indexes)
    fresh.apply([host("h1")], {})
    with pytest.raises(ConstraintError):  # the server itself keeps keys unique
        fresh.query("CREATE (:Host {name: 'h1'})", read_only=False)
    assert one(fresh, "MATCH (h:Host) RETURN count(h)") == 1


def test_wipe_needs_confirmation_and_removes_data_and_schema(fresh: Neo4jStore) -> None:
    fresh.apply([host("h1"), software("s1"), installed_on("s1", "h1")], {"t/0": 3})
    for no in (False, "yes", 1):
        with pytest.raises(ValueError, match="confirm=True"):
            fresh.wipe(no)  # type: ignore[arg-type]
    assert fresh.positions() == {"t/0": 3}
    fresh.wipe(confirm=True)
    assert one(fresh, "MATCH (n) RETURN count(n)") == 0
    assert fresh.positions() == {}
    assert _schema(fresh) == (set(), set())
    fresh.ensure_schema()
    fresh.apply([host("h1")], {"t/0": 1})
    assert fresh.positions() == {"t/0": 1}


# --- connecting ------------------------------------------------------------------------------------------


def test_wrong_password_is_a_clear_error_without_the_password() -> None:
    wrong = "not-the-password-Zq81x"
    started = time.monotonic()
    with pytest.raises(GraphStoreUnavailable) as info:
        Neo4jStore(URI, USER, wrong)
    assert time.monotonic() - started < 15
    message = str(info.value)
    assert URI in message and "credentials" in message and repr(USER) in message
    for text in (message, repr(info.value), repr(info.value.__cause__), repr(info.value.__context__)):
        assert wrong not in text and PASSWORD not in text
    open_store().close()  # one failed attempt does not lock the user out


def test_unreachable_server_is_a_clear_error_in_bounded_time() -> None:
    with socket.socket() as s:  # a port nobody listens on once it is closed again
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"neo4j://127.0.0.1:{port}"
    started = time.monotonic()
    with pytest.raises(GraphStoreUnavailable, match=f"cannot reach Neo4j at {uri}") as info:
        Neo4jStore(uri, USER, PASSWORD, connect_timeout=2)
    assert time.monotonic() - started < 15
    assert PASSWORD not in str(info.value)


def test_password_in_the_uri_is_not_repeated() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises((GraphStoreUnavailable, ValueError)) as info:
        Neo4jStore(f"neo4j://u:sekrit-in-uri@127.0.0.1:{port}", USER, PASSWORD, connect_timeout=2)
    assert "sekrit-in-uri" not in str(info.value)


def test_closed_store_refuses_calls() -> None:
    s = open_store()
    s.close()
    s.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        s.positions()


# --- writes ----------------------------------------------------------------------------------------------


EVIL = [
    "x'}) MATCH (n) DETACH DELETE n //",
    "x` ) DETACH DELETE n //",
    '"}) CREATE (:Host {name: "evil"}) //',
    "$rows",
    "\\u0027}) DETACH DELETE n",
]


@pytest.mark.parametrize("text", EVIL)
def test_cypher_injection_through_a_parameter_cannot_write(fresh: Neo4jStore, text: str) -> None:
    fresh.apply([host("h1"), software("s1"), installed_on("s1", "h1")], {"t/0": 1})
    # Read-only, the text only ever is a value compared with a property.
    for cypher in (
        "MATCH (h:Host) WHERE h.name = $x RETURN h.name",
        "MATCH (h:Host {name: $x}) RETURN h.name",
        "MATCH (h:Host) WHERE h.name STARTS WITH $x RETURN h.name",
    ):
        assert fresh.query(cypher, {"x": text}).rows == []
    # Through apply, as key, property, relationship endpoint and position name: stored verbatim.
    fresh.apply(
        [host(text, first_seen=at(0)), software(text, at(1), name=text), installed_on(text, text)], {text: 2}
    )
    assert one(fresh, "MATCH (n) WHERE NOT n:_Position RETURN count(n)") == 4
    assert sorted(fresh.positions().items()) == sorted({"t/0": 1, text: 2}.items())
    got = fresh.query(
        "MATCH (s:Software {key: $k})-[:INSTALLED_ON]->(h:Host) RETURN s.name, h.name", {"k": text}
    )
    assert got.rows == [[text, text]]
    assert one(fresh, "MATCH (:Software)-[r]->(:Host) RETURN count(r)") == 2


def test_missing_endpoint_names_it(fresh: Neo4jStore) -> None:
    fresh.apply([host("h1")], {})
    with pytest.raises(MissingEndpoint, match="'s9'->'h1'"):
        fresh.apply([software("s1"), installed_on("s1", "h1"), installed_on("s9", "h1")], {"t/0": 1})
    assert one(fresh, "MATCH (n:Software) RETURN count(n)") == 0
    assert fresh.positions() == {}


def test_concurrent_writers_never_duplicate_a_key(fresh: Neo4jStore) -> None:
    """Workers of different partitions upsert the same host and software at once: MERGE under the
    uniqueness constraints serialises them, and deadlocks are retried, not raised."""
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with open_store() as s:
                for batch in range(10):
                    ops: list[GraphOp] = [host("shared", first_seen=at(n), last_seen=at(batch))]
                    for i in range(50):
                        key = f"sw{(i + n * 7) % 60}"
                        ops += [software(key, at(batch), version=str(batch)), installed_on(key, "shared")]
                    s.apply(ops, {f"t/{n}": batch})
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert one(fresh, "MATCH (h:Host) RETURN count(h)") == 1
    assert one(fresh, "MATCH (s:Software) RETURN count(s), count(DISTINCT s.key)") == [60, 60]
    assert one(fresh, "MATCH (:Software)-[r:INSTALLED_ON]->(:Host) RETURN count(r)") == 60
    assert fresh.positions() == {f"t/{n}": 9 for n in range(4)}
    assert [utc(v) for v in one(fresh, "MATCH (h:Host) RETURN h.first_seen, h.last_seen")] == [at(0), at(9)]


# --- reads -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cypher",
    [
        "CREATE INDEX evil IF NOT EXISTS FOR (n:Host) ON (n.evil)",
        "DROP CONSTRAINT Host_name_unique",
        "MATCH (h:Host) CALL (h) { SET h.evil = true }",
        "CALL db.createLabel('Evil')",
        "LOAD CSV FROM 'file:///etc/hostname' AS line CREATE (:Host {name: line[0]})",
    ],
)
def test_schema_changes_procedures_and_files_are_refused(fresh: Neo4jStore, cypher: str) -> None:
    fresh.apply([host("h1")], {})
    for read_only in (True, False):
        with pytest.raises(QueryRefused):
            fresh.query(cypher, read_only=read_only)
    assert "Host_name_unique" in _schema(fresh)[0]
    assert "evil" not in {r[0] for r in _admin(fresh, "SHOW INDEXES YIELD name RETURN name")}
    assert fresh.query("MATCH (h:Host) RETURN h").rows == [
        [{"_LABEL": "Host", "name": "h1", "first_seen": None, "last_seen": None}]
    ]


def test_results_match_the_ladybug_store(fresh: Neo4jStore, tmp_path: Path) -> None:
    """The same ops and questions give the same rows in both stores: the query layer needs no branches."""
    ops: list[GraphOp] = [
        host("h1", first_seen=at(0), last_seen=at(3)),
        software(
            "h1/deb/curl", at(1), host="h1", name="curl", version="8.0", state="installed", automatic=False
        ),
        software("h1/deb/curl", at(2), version="8.1", first_seen=at(1), last_seen=at(2)),
        installed_on("h1/deb/curl", "h1"),
        UpsertNode("Event", "e1", {"type": "PackageInstalled", "ts": at(1), "host": "h1", "automatic": True}),
        UpsertRel("ACTED_ON", "Event", "e1", "Software", "h1/deb/curl"),
        UpsertRel("HAPPENED_ON", "Event", "e1", "Host", "h1"),
    ]
    questions: list[tuple[str, dict[str, Any]]] = [
        ("MATCH (s:Software) RETURN s", {}),
        ("MATCH (e:Event)-[r:ACTED_ON]->(s:Software) RETURN e, r, s.version AS v", {}),
        ("MATCH (h:Host) RETURN h.name, h.first_seen, h.last_seen", {}),
        ("MATCH (e:Event) WHERE e.ts >= $since RETURN e.id, e.ts", {"since": at(0)}),
        ("MATCH (e:Event) WHERE e.ts > $since RETURN e.id", {"since": at(1).replace(tzinfo=None)}),
        ("MATCH (s:Software) RETURN s.key, s.updated_at, s.automatic, s.first_seen", {}),
        ("MATCH (n) RETURN count(n) AS n", {}),
        ("RETURN $t AS t, $l AS l, $m AS m", {"t": at(5), "l": [1, 2], "m": {"k": 1}}),
    ]
    with LadybugStore(tmp_path / "graph") as lb:
        lb.ensure_schema()
        for store in (lb, fresh):
            store.apply(ops, {"t/0": 1})
        for cypher, params in questions:
            assert fresh.query(cypher, params) == lb.query(cypher, params), cypher
        # LadybugDB gives every node of a path the properties of all labels on it (the others null):
        # paths agree once the nulls are dropped.
        path = "MATCH p = (:Event)-[:HAPPENED_ON]->(:Host) RETURN p"
        assert _set_props(fresh.query(path).rows) == _set_props(lb.query(path).rows)


def _set_props(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _set_props(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_set_props(v) for v in value]
    return value


# --- throughput (reported, never asserted) -----------------------------------------------------------------


def _codec() -> str:
    from neo4j._codec.packstream import v1

    return "rust" if getattr(v1, "_rust_pack", None) else "python"


def test_apply_throughput(fresh: Neo4jStore, capsys: pytest.CaptureFixture[str]) -> None:
    total, size = 100_000, 2000
    batches = [
        [
            software(
                f"host-1/deb/pkg{i}",
                at(b % 50),
                host="host-1",
                ecosystem="deb",
                name=f"pkg{i}",
                arch="amd64",
                version=f"1.{b}",
                state="installed",
                automatic=bool(i % 2),
                first_seen=at(0),
                last_seen=at(b % 50),
            )
            for i in range(b * size, (b + 1) * size)
        ]
        for b in range(total // size)
    ]
    report = []
    for kind in ("create", "update"):
        started = time.perf_counter()
        for n, batch in enumerate(batches):
            fresh.apply(batch, {"bench/0": n})
        seconds = time.perf_counter() - started
        report.append(f"{kind} {total / seconds:,.0f} rows/s")
    assert one(fresh, "MATCH (s:Software) RETURN count(s)") == total
    with capsys.disabled():
        print(f"\nNeo4j apply, {total} Software upserts in batches of {size}, codec {_codec()}: ", end="")
        print(", ".join(report))
