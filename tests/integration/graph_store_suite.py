"""The graph-store port's test suite, written once: every GraphStore adapter subclasses GraphStoreSuite."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.stores.base import GraphStore, ReadOnlyViolation
from schemas.graph import NODES, RELS

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def utc(value: Any) -> Any:
    """Stores may return TIMESTAMPs naive (holding UTC) or aware: compare them as aware UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def snapshot(store: GraphStore, prefix: str = "") -> dict[str, Any]:
    """The whole graph (or the part whose keys start with `prefix`, prefix removed) as comparable values."""

    def strip(key: str) -> str:
        return key[len(prefix) :]

    out: dict[str, Any] = {}
    for label, node in NODES.items():
        names = [p.name for p in node.props]
        key_at = names.index(node.key)
        rows = store.query(f"MATCH (n:{label}) RETURN {', '.join('n.' + n for n in names)}").rows
        out[label] = sorted(
            (
                tuple(strip(v) if i == key_at else utc(v) for i, v in enumerate(row))
                for row in rows
                if row[key_at].startswith(prefix)
            ),
            key=repr,
        )
    for rel in RELS.values():
        for a, b in rel.endpoints:
            ka, kb = NODES[a].key, NODES[b].key
            rows = store.query(f"MATCH (x:{a})-[:{rel.type}]->(y:{b}) RETURN x.{ka}, y.{kb}").rows
            out[f"{a}-{rel.type}->{b}"] = sorted(
                (strip(x), strip(y)) for x, y in rows if x.startswith(prefix) and y.startswith(prefix)
            )
    return out


def software(key: str, ts: datetime | None = None, **props: Any) -> UpsertNode:
    return UpsertNode("Software", key, props, ts)


def host(name: str, **props: Any) -> UpsertNode:
    return UpsertNode("Host", name, props)


def installed_on(sw: str, h: str) -> UpsertRel:
    return UpsertRel("INSTALLED_ON", "Software", sw, "Host", h)


def one(store: GraphStore, cypher: str, **params: Any) -> Any:
    rows = store.query(cypher, params).rows
    assert len(rows) == 1, rows
    return rows[0][0] if len(rows[0]) == 1 else rows[0]


class GraphStoreSuite:
    """Subclasses provide `store` (a fresh store with its schema) and `reopen_store` (close it, open the
    same database again, return the new store)."""

    @pytest.fixture
    def store(self) -> GraphStore:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def reopen_store(self) -> Callable[[GraphStore], GraphStore]:  # pragma: no cover - overridden
        raise NotImplementedError

    # --- schema and idempotence ------------------------------------------------------------------------

    def test_ensure_schema_is_idempotent_and_keeps_data(self, store: GraphStore) -> None:
        store.apply([host("h1", first_seen=at(0))], {"t/0": 1})
        store.ensure_schema()
        store.ensure_schema()
        assert one(store, "MATCH (h:Host) RETURN h.name") == "h1"
        assert store.positions() == {"t/0": 1}

    def test_a_sum_of_integers_is_an_int(self, store: GraphStore) -> None:
        # LadybugDB sums INT64 into an INT128 (a Decimal in Python), which JSON answers cannot carry
        rows = store.query("UNWIND [1, 2, 4] AS x RETURN sum(x) AS n, sum(x * 0.5) AS h").rows
        assert rows == [[7, 3.5]] and type(rows[0][0]) is int

    def test_reapplying_a_batch_changes_nothing(self, store: GraphStore) -> None:
        ops: list[GraphOp] = [
            host("h1", first_seen=at(0), last_seen=at(0)),
            software("h1/deb/curl", at(0), host="h1", name="curl", version="8.0", state="installed"),
            installed_on("h1/deb/curl", "h1"),
            UpsertNode("Event", "e1", {"type": "PackageInstalled", "ts": at(0), "host": "h1"}),
            UpsertRel("ACTED_ON", "Event", "e1", "Software", "h1/deb/curl"),
            UpsertRel("HAPPENED_ON", "Event", "e1", "Host", "h1"),
        ]
        store.apply(ops, {"t/0": 5})
        first = snapshot(store)
        store.apply(ops, {"t/0": 5})
        store.apply(ops, {"t/0": 5})
        assert snapshot(store) == first
        assert first["Software-INSTALLED_ON->Host"] == [("h1/deb/curl", "h1")]
        assert first["Event-ACTED_ON->Software"] == [("e1", "h1/deb/curl")]

    def test_relationship_created_once(self, store: GraphStore) -> None:
        store.apply([host("h1"), software("s1"), installed_on("s1", "h1"), installed_on("s1", "h1")], {})
        store.apply([installed_on("s1", "h1")], {})
        assert one(store, "MATCH (:Software)-[r:INSTALLED_ON]->(:Host) RETURN count(r)") == 1

    def test_relationship_to_stored_node(self, store: GraphStore) -> None:
        store.apply([host("h1")], {})
        store.apply([software("s1"), installed_on("s1", "h1")], {})
        assert one(store, "MATCH (s:Software)-[:INSTALLED_ON]->(h:Host) RETURN s.key, h.name") == ["s1", "h1"]

    # --- merge rules -----------------------------------------------------------------------------------

    def test_min_max_and_set(self, store: GraphStore) -> None:
        store.apply([host("h1", first_seen=at(5), last_seen=at(5))], {})
        store.apply([host("h1", first_seen=at(9), last_seen=at(9))], {})
        store.apply([host("h1", first_seen=at(1), last_seen=at(2))], {})
        seen = one(store, "MATCH (h:Host) RETURN h.first_seen, h.last_seen")
        assert [utc(v) for v in seen] == [at(1), at(9)]
        store.apply([software("s1", name="a", arch="amd64")], {})
        store.apply([software("s1", name="b")], {})
        assert one(store, "MATCH (s:Software) RETURN s.name, s.arch") == ["b", "amd64"]

    def test_null_keeps_the_stored_value(self, store: GraphStore) -> None:
        store.apply([software("s1", at(1), name="a", version="1", first_seen=at(1), last_seen=at(1))], {})
        store.apply([software("s1", at(2), name=None, version=None, first_seen=None, last_seen=None)], {})
        row = one(
            store, "MATCH (s:Software) RETURN s.name, s.version, s.first_seen, s.last_seen, s.updated_at"
        )
        assert [utc(v) for v in row] == ["a", "1", at(1), at(1), at(2)]

    def test_latest_follows_the_time_of_the_change(self, store: GraphStore) -> None:
        store.apply([software("s1", at(1), version="1", state="installed", automatic=True)], {})
        store.apply([software("s1", at(5), version="2", automatic=False)], {})
        # An old event delivered late must not roll the state back, even for a property it alone sets.
        store.apply([software("s1", at(3), version="1.5", state="removed", automatic=True)], {})
        row = one(store, "MATCH (s:Software) RETURN s.version, s.state, s.automatic, s.updated_at")
        assert [utc(v) for v in row] == ["2", "installed", False, at(5)]
        store.apply([software("s1", at(5), state="half-configured")], {})  # same time: applies
        assert one(store, "MATCH (s:Software) RETURN s.state") == "half-configured"

    def test_a_property_with_its_own_clock_takes_a_late_older_telling(self, store: GraphStore) -> None:
        # apt's telling of an install (the only one that says `automatic`) can arrive after dpkg's
        # telling of a later upgrade: in time order it applies, so it must apply late too.
        store.apply([software("s1", at(1), version="1", state="installed")], {})
        store.apply([software("s1", at(5), version="2")], {})
        store.apply([software("s1", at(3), automatic=True)], {})
        row = one(store, "MATCH (s:Software) RETURN s.version, s.automatic, s.automatic_at, s.updated_at")
        assert [utc(v) for v in row] == ["2", True, at(3), at(5)]
        store.apply([software("s1", at(2), automatic=False)], {})  # older than the value shown: ignored
        store.apply([software("s1", at(4), automatic=False)], {})
        row = one(store, "MATCH (s:Software) RETURN s.automatic, s.automatic_at")
        assert [utc(v) for v in row] == [False, at(4)]

    @pytest.mark.parametrize("seed", range(3))
    def test_arrival_order_does_not_change_a_clocked_property(self, store: GraphStore, seed: int) -> None:
        """Changes that all tell the version and only some `automatic`, at distinct times: in any arrival
        order and batching the node shows what it shows after applying them in time order."""
        rnd = random.Random(seed)
        changes = [
            {"version": str(t), "automatic": rnd.choice([True, False, None, None, None])} for t in range(12)
        ]
        ops = [lambda p, t=t, c=c: software(p + "s", at(t), **c) for t, c in enumerate(changes)]
        store.apply([op("a/") for op in ops[:1]], {})
        for op in ops[1:]:
            store.apply([op("a/")], {})
        shuffled = ops[:]
        rnd.shuffle(shuffled)
        for op in shuffled:
            store.apply([op("b/")], {})
        rnd.shuffle(shuffled)
        store.apply([op("c/") for op in shuffled[:5]], {})
        store.apply([op("c/") for op in shuffled[5:]], {})
        in_time_order = snapshot(store, "a/")
        assert snapshot(store, "b/") == in_time_order
        assert snapshot(store, "c/") == in_time_order

    def test_same_key_twice_in_one_batch(self, store: GraphStore) -> None:
        store.apply(
            [
                software("s1", at(2), version="2", first_seen=at(2), last_seen=at(2)),
                software("s1", at(1), version="1", first_seen=at(1), last_seen=at(1), name="x"),
                software("s2", at(1), version="1"),
                software("s2", at(2), version="2"),
            ],
            {},
        )
        rows = store.query(
            "MATCH (s:Software) RETURN s.key, s.version, s.first_seen, s.last_seen, s.name"
        ).rows
        got = sorted([utc(v) for v in r] for r in rows)
        assert got == [["s1", "2", at(1), at(2), "x"], ["s2", "2", None, None, None]]

    def test_out_of_order_in_one_batch_against_stored_state(self, store: GraphStore) -> None:
        store.apply([software("s1", at(11), version="1", state="installed")], {})
        # One by one: the state of minute 10 is older than the stored minute 11 and must not apply; the
        # version of minute 12 must.
        store.apply([software("s1", at(10), state="removed"), software("s1", at(12), version="3")], {})
        assert one(store, "MATCH (s:Software) RETURN s.version, s.state") == ["3", "installed"]

    @pytest.mark.parametrize("seed", range(4))
    def test_batch_size_does_not_change_the_graph(self, store: GraphStore, seed: int) -> None:
        """Replay with any batching must give the live graph: the same random ops one by one, in random
        batches and in one batch, under three key prefixes of the same store."""
        rnd = random.Random(seed)
        ops: list[Callable[[str], GraphOp]] = []
        made: set[str] = set()
        for _ in range(40):
            kind = rnd.random()
            if kind < 0.6:
                key = f"s{rnd.randrange(3)}"
                names = rnd.sample(["version", "state", "automatic", "first_seen", "last_seen", "name"], 3)
                values: dict[str, Any] = {
                    "version": rnd.choice(["1", "2", "3", None]),
                    "state": rnd.choice(["installed", "removed", None]),
                    "automatic": rnd.choice([True, False, None]),
                    "first_seen": rnd.choice([at(1), at(4), None]),
                    "last_seen": rnd.choice([at(2), at(6), None]),
                    "name": rnd.choice(["n1", "n2", None]),
                }
                props = {n: values[n] for n in names}
                ts = at(rnd.randrange(6))
                ops.append(lambda p, key=key, props=props, ts=ts: software(p + key, ts, **props))
                made.add(key)
            elif kind < 0.8:
                key = f"h{rnd.randrange(2)}"
                seen = at(rnd.randrange(6))
                ops.append(lambda p, key=key, seen=seen: host(p + key, first_seen=seen, last_seen=seen))
                made.add(key)
            else:
                sws = sorted(k for k in made if k.startswith("s"))
                hosts = sorted(k for k in made if k.startswith("h"))
                if sws and hosts:
                    sw, h = rnd.choice(sws), rnd.choice(hosts)
                    ops.append(lambda p, sw=sw, h=h: installed_on(p + sw, p + h))
        for op in ops:
            store.apply([op("a/")], {})
        i = 0
        while i < len(ops):
            n = rnd.randint(1, 8)
            store.apply([op("b/") for op in ops[i : i + n]], {})
            i += n
        store.apply([op("c/") for op in ops], {})
        one_by_one = snapshot(store, "a/")
        assert snapshot(store, "b/") == one_by_one
        assert snapshot(store, "c/") == one_by_one

    # --- atomicity -------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "bad",
        [
            pytest.param(UpsertNode("Nope", "x"), id="unknown-label"),
            pytest.param(UpsertNode("Event", "e9", {"nope": 1}), id="unknown-property"),
            pytest.param(UpsertNode("Event", "e9", {"type": object()}), id="unstorable-value"),
            pytest.param(UpsertNode("Event", "e9", {"source": 2**70}), id="int-overflow"),
            pytest.param(
                UpsertRel("INSTALLED_ON", "Software", "s1", "Host", "missing"), id="missing-endpoint"
            ),
        ],
    )
    def test_failing_batch_writes_neither_ops_nor_positions(self, store: GraphStore, bad: GraphOp) -> None:
        store.apply([host("h0", first_seen=at(0))], {"t/0": 1})
        before = snapshot(store)
        batch: list[GraphOp] = [
            host("h0", first_seen=at(-5)),
            host("h1"),
            software("s1", at(1), version="1"),
            installed_on("s1", "h1"),
            bad,  # last: the ops before it have already been sent to the store when it fails
        ]
        with pytest.raises((ValueError, KeyError, TypeError, RuntimeError, OverflowError)):
            store.apply(batch, {"t/0": 2, "t/1": 7})
        assert snapshot(store) == before
        assert store.positions() == {"t/0": 1}
        store.apply(batch[:-1], {"t/0": 2})  # the store is usable afterwards
        assert store.positions() == {"t/0": 2}

    def test_positions(self, store: GraphStore) -> None:
        assert store.positions() == {}
        store.apply([], {"a/0": 3, "a/1": 0})
        store.apply([host("h1")], {"a/0": 9, "b/2": 1})
        assert store.positions() == {"a/0": 9, "a/1": 0, "b/2": 1}
        store.apply([], {})
        assert store.positions() == {"a/0": 9, "a/1": 0, "b/2": 1}

    # --- queries ---------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "cypher",
        [
            "CREATE (:Host {name: 'evil'})",
            "MATCH (h:Host) SET h.name = 'evil'",
            "MATCH (h:Host) SET h.last_seen = NULL",
            "MERGE (:Host {name: 'evil'})",
            "MATCH (h:Host) DETACH DELETE h",
            "MATCH (:Software)-[r:INSTALLED_ON]->(:Host) DELETE r",
            "MATCH (s:Software), (h:Host) CREATE (s)-[:INSTALLED_ON]->(h)",
            "UNWIND [1, 2] AS i CREATE (:Host {name: 'evil' + CAST(i AS STRING)})",
            "MATCH (h:Host) WITH h MERGE (:Host {name: h.name + 'evil'})",
        ],
    )
    def test_read_only_query_refuses_writes(self, store: GraphStore, cypher: str) -> None:
        store.apply([host("h1", last_seen=at(1)), software("s1"), installed_on("s1", "h1")], {"t/0": 1})
        before = snapshot(store)
        with pytest.raises(ReadOnlyViolation):
            store.query(cypher)
        assert snapshot(store) == before
        assert store.query("MATCH (h:Host) RETURN h.name").rows == [["h1"]]  # the store is usable afterwards

    @pytest.mark.parametrize(
        "cypher",
        [
            "COMMIT",
            "ROLLBACK",
            "BEGIN TRANSACTION",
            "COMMIT; CREATE (:Host {name: 'evil'})",
            "MATCH (h:Host) RETURN h; CREATE (:Host {name: 'evil'})",
            "ROLLBACK; BEGIN TRANSACTION; CREATE (:Host {name: 'evil'}); COMMIT",
        ],
    )
    def test_read_only_query_cannot_leave_its_transaction(self, store: GraphStore, cypher: str) -> None:
        store.apply([host("h1")], {})
        # Adapters raise ReadOnlyViolation or their driver's error for what is not one statement; what
        # matters is that nothing is written and the next query still runs read-only.
        with pytest.raises(Exception):  # noqa: B017
            store.query(cypher)
        assert store.query("MATCH (h:Host) RETURN h.name").rows == [["h1"]]
        with pytest.raises(ReadOnlyViolation):
            store.query("CREATE (:Host {name: 'evil'})")
        assert store.query("MATCH (h:Host) RETURN count(h)").rows == [[1]]

    def test_injection_through_a_parameter_cannot_write(self, store: GraphStore) -> None:
        store.apply([host("h1")], {})
        evil = "h1'}) CREATE (:Host {name: 'evil'}) WITH 1 AS x MATCH (h:Host {name: 'h1"
        assert store.query("MATCH (h:Host) WHERE h.name = $name RETURN h.name", {"name": evil}).rows == []
        assert store.query("MATCH (h:Host {name: $name}) RETURN h.name", {"name": evil}).rows == []
        store.query("CREATE (:Host {name: $name})", {"name": evil}, read_only=False)
        names = sorted(r[0] for r in store.query("MATCH (h:Host) RETURN h.name").rows)
        assert names == sorted(["h1", evil])

    def test_write_query_when_allowed(self, store: GraphStore) -> None:
        store.query("CREATE (:Host {name: $n})", {"n": "h9"}, read_only=False)
        assert one(store, "MATCH (h:Host) RETURN h.name") == "h9"

    SPECIAL: ClassVar[list[str]] = [
        "quote ' double \" backslash \\ end\\",
        "newline\nand\r\ntab\t",
        "unicode é ü ß 中文 עברית 😀",
        "cypher $param {x} `tick` // comment /* c */ ; MATCH (n) DETACH DELETE n",
        "",
        " leading and trailing ",
    ]

    @pytest.mark.parametrize("text", SPECIAL)
    def test_special_characters_round_trip(self, store: GraphStore, text: str) -> None:
        key = "k:" + text
        store.apply([software(key, at(1), name=text, version=text)], {f"pos {text}": 1})
        got = store.query("MATCH (s:Software {key: $k}) RETURN s.key, s.name, s.version", {"k": key}).rows
        assert got == [[key, text, text]]
        assert store.query("RETURN $t AS t", {"t": text}).rows == [[text]]
        assert store.positions() == {f"pos {text}": 1}

    def test_timestamps_keep_the_instant(self, store: GraphStore) -> None:
        plus2 = timezone(timedelta(hours=2))
        store.apply([UpsertNode("Event", "e1", {"ts": datetime(2024, 5, 1, 14, 0, tzinfo=plus2)})], {})
        assert utc(one(store, "MATCH (e:Event) RETURN e.ts")) == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        since = datetime(2024, 5, 1, 13, 30, tzinfo=plus2)  # 11:30 UTC
        assert one(store, "MATCH (e:Event) WHERE e.ts >= $since RETURN e.id", since=since) == "e1"
        later = datetime(2024, 5, 1, 7, 30, tzinfo=timezone(timedelta(hours=-5)))  # 12:30 UTC
        assert store.query("MATCH (e:Event) WHERE e.ts >= $t RETURN e.id", {"t": later}).rows == []

    def test_results_are_json_friendly(self, store: GraphStore) -> None:
        store.apply(
            [host("h1", first_seen=at(0)), software("s1", at(0), version="1"), installed_on("s1", "h1")], {}
        )
        result = store.query("MATCH (s:Software)-[r:INSTALLED_ON]->(h:Host) RETURN s, r, h, h.name AS name")
        assert result.columns == ["s", "r", "h", "name"]
        ((s, r, h, name),) = result.rows
        assert s["_LABEL"] == "Software" and s["key"] == "s1" and s["version"] == "1"
        assert r["_LABEL"] == "INSTALLED_ON"
        assert h["_LABEL"] == "Host" and utc(h["first_seen"]) == at(0) and name == "h1"
        json.dumps(result.dicts(), default=str)
        assert result.dicts()[0]["name"] == "h1"

    # --- durability ------------------------------------------------------------------------------------

    def test_reopen_sees_the_data(
        self, store: GraphStore, reopen_store: Callable[[GraphStore], GraphStore]
    ) -> None:
        store.apply(
            [host("h1", first_seen=at(0)), software("s1", at(1), version="1"), installed_on("s1", "h1")],
            {"t/0": 4},
        )
        before = snapshot(store)
        again = reopen_store(store)
        assert snapshot(again) == before
        assert again.positions() == {"t/0": 4}
        again.apply([software("s1", at(2), version="2")], {"t/0": 5})
        assert one(again, "MATCH (s:Software) RETURN s.version") == "2"


def ops_for(batch: int, size: int) -> Sequence[GraphOp]:
    """A batch whose every part is identifiable by its number: for crash tests of any adapter."""
    h = "crash-host"
    ops: list[GraphOp] = [host(h, first_seen=at(0), last_seen=at(batch))]
    for i in range(size):
        sw = f"b{batch}/sw{i}"
        ops += [
            software(sw, at(batch), host=h, version=str(batch)),
            UpsertNode("Event", f"b{batch}/e{i}", {"ts": at(batch), "host": h}),
            installed_on(sw, h),
            UpsertRel("ACTED_ON", "Event", f"b{batch}/e{i}", "Software", sw),
        ]
    return ops
