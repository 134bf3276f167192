"""`--at` against the distributed deployment's store: the time machine's answer (a scratch LadybugDB)
equals a replay of the log cut at that time into a real Neo4j 5."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.stores.base import GraphStore
from projections.stores.neo4j import Neo4jStore
from tests.integration.test_timetravel import EVENTS, RELS, SOFTWARE, START, World, world
from watchman.timetravel.cut import TimeMachine, replay_cut
from watchman.values import jsonable

# Resets or shares state on the infra/ servers: one such module at a time (tests/conftest.py).
pytestmark = pytest.mark.servers

URI = os.environ.get("WATCHMAN_TEST_NEO4J", "neo4j://127.0.0.1:7687")
USER = os.environ.get("WATCHMAN_TEST_NEO4J_USER", "neo4j")
PASSWORD = os.environ.get("WATCHMAN_TEST_NEO4J_PASSWORD", "watchman-test-password")

__all__ = ["world"]  # the module's history fixture, shared


def _dump(store: GraphStore) -> dict[str, Any]:
    return {q: jsonable(store.query(q, {}, read_only=True).rows) for q in (SOFTWARE, EVENTS, RELS)}


def test_at_equals_a_cut_replay_into_neo4j(world: World, tmp_path: Path) -> None:
    tm = TimeMachine(world.log, tmp_path / "cache", snapshot_every=100)
    neo = Neo4jStore(URI, USER, PASSWORD)
    try:
        for f in (0.3, 0.7):
            when = START + (world.end_ts - START) * f + timedelta(seconds=1)
            neo.wipe(confirm=True)
            neo.ensure_schema()
            replay_cut(world.log, neo, when)
            with tm.at(when) as (store, _):
                got = _dump(store)
            expected = _dump(neo)
            assert got == expected, f"cut at {when}"
            assert got[EVENTS]
    finally:
        neo.wipe(confirm=True)
        neo.close()
        tm.close()
