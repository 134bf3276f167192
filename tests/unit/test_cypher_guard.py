"""The allow-list of user Cypher: what a read-only (and a --write) query may contain, per store dialect."""

from __future__ import annotations

import pytest

from projections.catalog import QUERIES
from projections.stores.cypher_guard import LADYBUG, NEO4J, Dialect, QueryRefused, ReadOnlyViolation, check

READS = [
    "MATCH (n) RETURN n",
    "MATCH (s:Software) WHERE s.name = $n RETURN s.version AS v",
    "MATCH p = (a)-[r:ACTED_ON*1..2]->(b) RETURN nodes(p)",
    "OPTIONAL MATCH (h:Host) RETURN h.name AS name ORDER BY name DESC SKIP 1 LIMIT 2",
    "RETURN lower('A') AS `call`",
    "RETURN 'a;b' AS x",
    # One string with an escaped quote, as LadybugDB reads it: the CALL is inside the string.
    "RETURN 'a\\' CALL timeout=1 //' AS x",
    "MATCH (h:Host) WHERE h.name <> 'copy load' RETURN h.name AS name",
    "UNWIND [1, 2] AS x RETURN list_transform([1, 2], y -> y + 1)",
    "RETURN CAST(1 AS STRING)",
    "MATCH (n:A|B) RETURN count(*)",
    "MATCH ()-[r:X|Y]->() RETURN count(r) AS n",
    "RETURN {a: 1, b: 'x'} AS m",
    "MATCH (n) WHERE n.x IS NOT NULL AND n.y STARTS WITH 'a' RETURN n",
    "MATCH (n) RETURN CASE WHEN n.x > 1 THEN 'a' ELSE 'b' END AS c",
    "MATCH (n) WITH n, count(*) AS c WHERE c > 1 RETURN DISTINCT n.name AS name UNION ALL RETURN 'x' AS name",
    "MATCH (a)-[e* SHORTEST 1..3]->(b) RETURN a",
    "MATCH (n) WHERE EXISTS { MATCH (n)-->(m) } RETURN n // a comment",
    "MATCH (n) RETURN COUNT { MATCH (n)-->(m) } AS c /* another */",
]
REFUSED = [
    "CALL READ_CSV_SERIAL('/etc/hostname') RETURN *",
    "CALL READ_PARQUET('/etc/hostname') RETURN *",
    "CALL timeout=1",
    "CALL threads=1",
    "CALL checkpoint_threshold=1",
    "CALL current_setting('home_directory') RETURN *",
    "CALL show_functions() RETURN *",
    "MATCH (n) CALL current_setting('timeout') RETURN *",
    "RETURN `nextval`('x')",
    "RETURN nextval('x')",
    "RETURN setseed(0.5)",
    "MATCH (n) RETURN n.name AS call",
    "COPY (MATCH (h:Host) RETURN h.name) TO '/tmp/x'",
    "LOAD FROM '/etc/passwd' RETURN *",
    "RETURN 1; CALL timeout=1",
    "RETURN 1;",
    "CREATE NODE TABLE X(a INT64, PRIMARY KEY(a))",
    "DROP TABLE Host",
    "ALTER TABLE Host ADD evil STRING",
    "BEGIN TRANSACTION",
    "COMMIT",
    "RETURN 'abc",
    "RETURN /* unclosed",
    "ATTACH '/tmp/x' AS y (dbtype lbug)",
    "USE y",
    "INSTALL json",
    "EXPLAIN MATCH (n) RETURN n",
    "MATCH (n) RETURN x",
    "",
]


@pytest.mark.parametrize("cypher", READS)
def test_reads_pass(cypher: str) -> None:
    check(cypher, LADYBUG, read_only=True)


@pytest.mark.parametrize("cypher", REFUSED)
def test_everything_else_is_refused_read_only_and_with_write(cypher: str) -> None:
    with pytest.raises(QueryRefused) as read:
        check(cypher, LADYBUG, read_only=True)
    assert not isinstance(read.value, ReadOnlyViolation), "--write would not help: no 'pass --write' hint"
    with pytest.raises(QueryRefused):
        check(cypher, LADYBUG, read_only=False)


@pytest.mark.parametrize(
    "cypher",
    [
        "CREATE (:Host {name: $n})",
        "MATCH (n:Host) SET n.x = 1",
        "MERGE (h:Host {name: 'x'}) ON CREATE SET h.first_seen = $t",
        "MATCH (h) DETACH DELETE h",
        "MATCH (h:Host) REMOVE h.x",
    ],
)
def test_writes_need_write(cypher: str) -> None:
    with pytest.raises(ReadOnlyViolation, match="tried to write"):
        check(cypher, LADYBUG, read_only=True)
    check(cypher, LADYBUG, read_only=False)


def test_messages_say_why() -> None:
    with pytest.raises(QueryRefused, match="CALL is not allowed"):
        check("CALL timeout=1", LADYBUG, read_only=False)
    with pytest.raises(QueryRefused, match="files"):
        check("COPY (MATCH (h:Host) RETURN h.name) TO '/tmp/x'", LADYBUG, read_only=True)
    with pytest.raises(QueryRefused, match=r"function read_csv_serial\(\)"):
        check("RETURN READ_CSV_SERIAL('/etc/hostname')", LADYBUG, read_only=True)


@pytest.mark.parametrize(
    ("cypher", "allowed"),
    [
        ("CALL db.labels() YIELD label RETURN label", True),
        ("RETURN date.truncate('day', date()) AS d", True),
        ("MATCH (n) RETURN n {.name, .x} AS m", True),
        ("MATCH p = shortestPath((a)-[*]-(b)) RETURN p", True),
        ("MATCH (a) RETURN [(a)-->(b) | b.name] AS names", True),
        ("CALL dbms.listConfig() YIELD name RETURN name", False),
        ("CALL dbms.setConfigValue('db.logs.query.enabled', 'OFF')", False),
        ("CALL { MATCH (n) SET n.x = 1 }", False),
        ("MATCH (h:Host) CALL (h) { SET h.evil = true }", False),
        ("CALL db.createLabel('Evil')", False),
        ("CALL db.labels", False),
        ("LOAD CSV FROM 'file:///etc/hostname' AS line RETURN line", False),
        ("SHOW SETTINGS YIELD name RETURN name", False),
        ("RETURN apoc.text.join(['a'], ',')", False),
        ("USE system SHOW USERS", False),
    ],
)
def test_neo4j_dialect(cypher: str, allowed: bool) -> None:
    if allowed:
        check(cypher, NEO4J, read_only=True)
    else:
        with pytest.raises(QueryRefused):
            check(cypher, NEO4J, read_only=True)


def test_neo4j_procedures_are_for_read_only_queries_only() -> None:
    with pytest.raises(QueryRefused, match="CALL"):
        check("CALL db.labels() YIELD label RETURN label", NEO4J, read_only=False)


@pytest.mark.parametrize("dialect", [LADYBUG, NEO4J], ids=lambda d: d.name)
def test_every_named_query_passes(dialect: Dialect) -> None:
    for q in QUERIES.values():
        check(q.cypher, dialect, read_only=True)
