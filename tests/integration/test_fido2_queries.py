"""The FIDO2 questions on both graph stores (embedded LadybugDB and the real Neo4j of infra/services):
the same observations decided and projected, the same answers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from processors.fido2 import ROUTES
from processors.tables import MemoryTable
from projections.catalog import resolve
from projections.registry import PROJECTORS
from projections.stores.base import GraphStore
from projections.stores.ladybug import LadybugStore
from projections.stores.neo4j import Neo4jStore
from schemas.envelope import Envelope, event_id
from schemas.events import decode_payload
from schemas.events.fido2 import Fido2ActivityObserved

# Resets the infra/ Neo4j: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

NOW = datetime.now(UTC).replace(microsecond=0)


def _history() -> list[Fido2ActivityObserved]:
    t = NOW - timedelta(hours=1)
    o = Fido2ActivityObserved
    return [
        o(stage="enrolled", ts=t, credential_id="c1", label="desk", rp_id="watchman"),
        o(stage="enrolled", ts=t, credential_id="c2", label="spare", rp_id="watchman", uv=True, pin=True),
        o(
            stage="encrypted",
            ts=t,
            data_id="etc",
            data_type="backup",
            purpose="backups",
            credential_ids=("c1", "c2"),
        ),
        o(
            stage="encrypted",
            ts=t,
            data_id="s3.key",
            data_type="secret",
            purpose="secrets",
            credential_ids=("c1",),
        ),
        o(
            stage="encrypted",
            ts=t,
            data_id="/f.age",
            data_type="file",
            purpose="files",
            credential_ids=("c2",),
        ),
        o(stage="used", ts=t + timedelta(minutes=1), credential_id="c1", label="desk", purpose="secrets"),
        o(stage="used", ts=t + timedelta(minutes=2), credential_id="c1", label="desk", purpose="backups"),
        o(stage="denied", ts=t, data_id="/f.age", data_type="file", reason="timeout: not touched"),
    ]


def _project(store: GraphStore) -> None:
    table = MemoryTable()
    ops = []
    for n, obs in enumerate(_history()):
        raw = Envelope(
            id=event_id("raw", "h1", str(n)),
            type=obs.TYPE,
            schema_version=obs.VERSION,
            host="h1",
            source="t",
            ts=obs.ts,
            observed_at=NOW,
            subject="s",
            payload=obs.model_dump(mode="json"),
        ).to_json()
        for ev in ROUTES[0].handle(raw, table):
            ops += PROJECTORS[ev.type](ev, decode_payload(ev.type, ev.schema_version, ev.payload))
    store.apply(ops, {"watchman.events.fido2/0": len(ops)})


@pytest.fixture(params=["ladybug", "neo4j"], scope="module")
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    s: GraphStore
    if request.param == "ladybug":
        s = LadybugStore(Path(tmp_path_factory.mktemp("fido2-graph")) / "graph")
    else:
        s = Neo4jStore(
            os.environ.get("WATCHMAN_TEST_NEO4J", "neo4j://127.0.0.1:7687"),
            os.environ.get("WATCHMAN_TEST_NEO4J_USER", "neo4j"),
            os.environ.get("WATCHMAN_TEST_NEO4J_PASSWORD", "watchman-test-password"),
        )
        s.wipe(confirm=True)  # type: ignore[attr-defined]
    s.ensure_schema()
    _project(s)
    yield s
    s.close()


def ask(store: GraphStore, name: str, **params: Any) -> list[dict[str, Any]]:
    cypher, p = resolve(name, params, NOW)
    return store.query(cypher, p, read_only=True).dicts()


def test_which_backups_are_fido2_encrypted(store: GraphStore) -> None:
    [row] = ask(store, "fido2-backups")
    assert (row["host"], row["job"], sorted(row["keys"])) == ("h1", "etc", ["desk", "spare"])


def test_when_was_my_key_last_used(store: GraphStore) -> None:
    rows = ask(store, "fido2-key-last-used")
    assert [(r["label"], r["usage_count"], r["uv"]) for r in rows] == [("desk", 2, False), ("spare", 0, True)]
    assert rows[0]["last_used"] is not None and rows[1]["last_used"] is None
    assert [r["label"] for r in ask(store, "fido2-key-last-used", label="spare")] == ["spare"]


def test_all_encrypted_secrets(store: GraphStore) -> None:
    [secret] = ask(store, "encrypted-secrets")
    assert (secret["location"], secret["keys"]) == ("s3.key", ["desk"])
    every = ask(store, "encrypted-secrets", type="any")
    assert [(r["type"], r["location"]) for r in every] == [
        ("backup", "etc"),
        ("file", "/f.age"),
        ("secret", "s3.key"),
    ]
