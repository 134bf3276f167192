"""Generated read-only queries, built from LadybugDB's own functions, table functions, settings and clauses,
thrown at a live daemon's admin API: every answer is 200 or 400, the daemon stays up, the settings of the
connection its projector writes through and the graph's counts do not change."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import ladybug
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.inprocess_daemon import SETTINGS, serve
from tests.support.instance import Instance

SPAWN = multiprocessing.get_context("spawn")
NOW = datetime.now(UTC).replace(microsecond=0)

# LadybugDB's clauses and keywords (its grammar has no listing function): reads, writes, files, DDL,
# transactions, extensions, databases.
CLAUSES = [
    "MATCH (n)",
    "OPTIONAL MATCH (n)-[r]->(m)",
    "WHERE n.name IS NOT NULL",
    "WITH n",
    "WITH n, count(*) AS c",
    "UNWIND [1, 2, 3] AS x",
    "RETURN n",
    "RETURN *",
    "RETURN DISTINCT n.name",
    "ORDER BY n.name",
    "SKIP 1",
    "LIMIT 2",
    "UNION",
    "UNION ALL",
    "CALL",
    "YIELD",
    "LOAD FROM",
    "LOAD WITH HEADERS (a STRING) FROM",
    "COPY",
    "COPY (MATCH (n) RETURN n) TO",
    "EXPORT DATABASE",
    "IMPORT DATABASE",
    "ATTACH",
    "DETACH DATABASE",
    "USE",
    "INSTALL",
    "LOAD EXTENSION",
    "CREATE (n:Host {name: 'fuzz'})",
    "CREATE NODE TABLE Fuzz(a INT64, PRIMARY KEY(a))",
    "CREATE MACRO fuzz(x) AS x",
    "CREATE SEQUENCE fuzz",
    "MERGE (n:Host {name: 'fuzz'})",
    "SET n.name = 'fuzz'",
    "DELETE n",
    "DETACH DELETE n",
    "REMOVE n.name",
    "DROP TABLE Host",
    "ALTER TABLE Host ADD fuzz STRING",
    "BEGIN TRANSACTION",
    "BEGIN TRANSACTION READ ONLY",
    "COMMIT",
    "ROLLBACK",
    "CHECKPOINT",
    "EXPLAIN",
    "PROFILE",
    ";",
    "//",
    "/*",
    "*/",
]
ARGS = [
    "'/etc/hostname'",
    "'/etc/passwd'",
    "'/tmp'",
    "'timeout'",
    "'home_directory'",
    "'x'",
    "''",
    "0",
    "1",
    "2",
    "-1",
    "1.5",
    "NULL",
    "true",
    "n",
    "n.name",
    "[1, 2]",
    "['a', 'b']",
    "{a: 1}",
    "'2024-01-01'",
]
SETTING_VALUES = ["1", "0", "2", "true", "false", "'/tmp'", "'x'", "1000000"]


# A value of each argument type LadybugDB's signatures name, so that typed calls mostly bind and run.
TYPED = {
    "STRING": "'x'",
    "BOOL": "true",
    "DOUBLE": "1.5",
    "FLOAT": "1.5",
    "LIST": "[1, 2]",
    "ARRAY": "[1, 2]",
    "ANY": "1",
    "DATE": "date('2024-01-02')",
    "TIMESTAMP": "timestamp('2024-01-02 03:04:05')",
    "INTERVAL": "interval('1 day')",
    "MAP": "map([1], ['a'])",
    "STRUCT": "{a: 1}",
    "NODE": "n",
    "BLOB": "blob('x')",
}


def _store_vocabulary(tmp: Path) -> tuple[list[str], list[str], list[str]]:
    """(functions, table functions, typed calls) as LadybugDB lists them, from a throwaway database."""
    db = ladybug.Database(str(tmp / "vocabulary.lbug"))
    conn = ladybug.Connection(db)
    result = conn.execute("CALL show_functions() RETURN name, type, signature")
    rows: set[tuple[str, str, str]] = set()
    try:
        while result.has_next():
            name, kind, signature = result.get_next()
            rows.add((str(name), str(kind), str(signature)))
    finally:
        result.close()
        conn.close()
        db.close()
    table = sorted({n for n, k, _ in rows if "TABLE FUNCTION" in k})
    functions = sorted(
        {n for n, k, _ in rows if k.endswith("FUNCTION") and "TABLE" not in k and n.isidentifier()}
    )
    typed = set()
    for name, kind, signature in rows:
        if kind.endswith("FUNCTION") and "TABLE" not in kind and name.isidentifier():
            types = signature.split("->")[0].strip().strip("()")
            values = [TYPED.get(t.strip(), "1") for t in types.split(",") if t.strip()]
            typed.add(f"{name}({', '.join(values)})")
    return functions, table, sorted(typed)


def queries(functions: list[str], table_functions: list[str], typed: list[str]) -> st.SearchStrategy[str]:
    args = st.lists(st.sampled_from(ARGS), max_size=3).map(", ".join)
    fn = st.sampled_from(functions)
    tf = st.sampled_from(table_functions)
    clause = st.sampled_from(CLAUSES)
    call_table = st.builds(lambda f, a, c: f"CALL {f}({a}) {c} RETURN *", tf, args, clause | st.just(""))
    setting = st.builds(
        lambda n, v: f"CALL {n}={v}", st.sampled_from(SETTINGS), st.sampled_from(SETTING_VALUES)
    )
    scalar = st.builds(lambda c, f, a: f"MATCH (n) {c} RETURN {f}({a}) AS x", clause, fn, args)
    # Reads the allow-list lets through, so the engine runs the store's functions on real rows too.
    read = st.builds(
        lambda m, w, f, a, o: f"{m}{w} RETURN {f}({a}) AS x{o}",
        st.sampled_from(
            ["MATCH (n)", "MATCH (n:Software)", "OPTIONAL MATCH (n)-[r]->(m)", "UNWIND [1, 2] AS n"]
        ),
        st.sampled_from(["", " WHERE n IS NOT NULL", " WITH n", " WITH n, count(*) AS c"]),
        fn,
        args,
        st.sampled_from(["", " LIMIT 2", " ORDER BY x SKIP 1", " UNION RETURN 1 AS x"]),
    )
    plain = st.builds(lambda f, a: f"RETURN {f}({a}) AS x", fn, args)
    typed_call = st.builds(
        lambda m, call: f"{m} RETURN {call} AS x LIMIT 3",
        st.sampled_from(["MATCH (n)", "MATCH (n:Software)", "UNWIND [1] AS u MATCH (n:Host)"]),
        st.sampled_from(typed),
    )
    table_as_scalar = st.builds(lambda f, a: f"RETURN {f}({a}) AS x", tf, args)
    quoted = st.builds(lambda f, a: f"RETURN `{f}`({a}) AS x", fn | tf, args)
    load = st.builds(lambda c, f, a: f"{c} {f}({a}) RETURN *", clause, tf, args)
    words = st.lists(
        st.one_of(clause, fn.map(lambda f: f + "("), tf.map(lambda f: f + "("), st.sampled_from(ARGS)),
        min_size=1,
        max_size=10,
    ).map(" ".join)
    # Half the draws reach the engine (typed calls and reads the allow-list lets through), half are
    # what it must refuse; a uniform pick among the shapes (one_of favours its first branches).
    shapes = [
        typed_call,
        typed_call,
        read,
        plain,
        call_table,
        setting,
        scalar,
        table_as_scalar,
        quoted,
        load,
        words,
    ]
    return st.sampled_from(shapes).flatmap(lambda shape: shape)


class Child:
    def __init__(self, proc: Any, pipe: Any, url: str, token: str) -> None:
        self.proc, self.pipe, self.url, self.token = proc, pipe, url, token

    def ask(self, message: str) -> Any:
        assert self.proc.is_alive(), f"the daemon died (exit {self.proc.exitcode})"
        self.pipe.send(message)
        assert self.pipe.poll(60), "the daemon did not answer"
        return self.pipe.recv()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def counts(self) -> tuple[int, int, int]:
        with self.client() as c:

            def one(cypher: str) -> int:
                r = c.post("/query", json={"cypher": cypher, "read_only": True})
                assert r.status_code == 200, r.text
                return int(r.json()["rows"][0]["n"])

            return (
                one("MATCH (n) RETURN count(n) AS n"),
                one("MATCH ()-[r]->() RETURN count(r) AS n"),
                one("MATCH (s:Software) RETURN count(s) AS n"),
            )


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Child]:
    inst = Instance(tmp_path_factory.mktemp("fuzz"))
    inst.write_config()
    inst.apt_log.parent.mkdir(parents=True, exist_ok=True)
    stamp = (NOW - timedelta(days=1)).strftime("%Y-%m-%d  %H:%M:%S")
    inst.apt_log.write_text(
        f"Start-Date: {stamp}\nCommandline: apt-get install\n"
        "Install: nginx:amd64 (1.22.1-9), curl:amd64 (8.0)\n"
        f"End-Date: {stamp}\n\n"
    )
    parent_end, child_end = SPAWN.Pipe()
    proc = SPAWN.Process(target=serve, args=(str(inst.config), child_end), daemon=True)
    proc.start()
    try:
        assert parent_end.poll(60), "the daemon did not start"
        url = parent_end.recv()
        token = (inst.data_dir / "api.token").read_text().strip()
        running = Child(proc, parent_end, url, token)
        deadline = time.monotonic() + 60
        while running.counts()[2] < 2:
            assert time.monotonic() < deadline, "the packages were not projected"
            time.sleep(0.05)
        yield running
        assert running.ask("stop") == "stopped"
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()


def test_generated_queries_leave_the_daemon_its_settings_and_its_graph(
    child: Child, tmp_path_factory: pytest.TempPathFactory
) -> None:
    functions, table_functions, typed = _store_vocabulary(tmp_path_factory.mktemp("vocabulary"))
    assert {"READ_CSV_SERIAL", "CURRENT_SETTING", "SHOW_FUNCTIONS"} <= set(table_functions)
    assert {"LOWER", "NEXTVAL", "SETSEED"} <= {f.upper() for f in functions}
    settings_before = child.ask("settings")
    counts_before = child.counts()
    statuses: dict[int, int] = {}

    with child.client() as c:

        @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(queries(functions, table_functions, typed))
        def throw(cypher: str) -> None:
            r = c.post("/query", json={"cypher": cypher, "read_only": True})
            assert r.status_code in (200, 400), (cypher, r.status_code, r.text)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert child.proc.is_alive(), f"the daemon died on {cypher!r} (exit {child.proc.exitcode})"

        throw()

    assert statuses.get(400, 0) > 0 and statuses.get(200, 0) > 0, statuses
    assert child.ask("settings") == settings_before
    assert child.counts() == counts_before
    assert httpx.get(child.url + "/health", timeout=10).json()["status"] == "ok"
