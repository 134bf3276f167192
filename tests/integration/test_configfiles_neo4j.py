"""The configfiles questions run unchanged on the distributed graph: the same projection ops applied to
the real Neo4j from infra/ give the answers LadybugDB gives (tests/unit/projections/...configfiles...)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from projections.services import PROJECTORS as SERVICE_PROJECTORS
from projections.stores.neo4j import Neo4jStore
from schemas.events.configfiles import ConfigFileChanged
from schemas.events.services import ServiceFailed
from tests.unit.projections.test_configfiles_projection import EVENTS, NOW, ask, env, project

pytestmark = pytest.mark.servers

URI = os.environ.get("WATCHMAN_TEST_NEO4J", "neo4j://127.0.0.1:7687")
USER = os.environ.get("WATCHMAN_TEST_NEO4J_USER", "neo4j")
PASSWORD = os.environ.get("WATCHMAN_TEST_NEO4J_PASSWORD", "watchman-test-password")


@pytest.fixture(scope="module")
def graph() -> Iterator[Neo4jStore]:
    store = Neo4jStore(URI, USER, PASSWORD)
    store.wipe(confirm=True)
    store.ensure_schema()
    ops: list[Any] = [op for i, (p, ts) in enumerate(EVENTS) for op in project(p, i, ts)]
    ops += project(ConfigFileChanged(ts=NOW, path="/etc/nginx/late.conf", sha256="z", via="inotify"), 99, NOW)
    failed = ServiceFailed(unit="nginx.service", result="exit-code")
    e = env(failed, 100, NOW - timedelta(minutes=5))
    ops += SERVICE_PROJECTORS[e.type](e, failed)
    store.apply(ops, {})
    yield store
    store.close()


def test_the_five_questions_on_neo4j(graph: Neo4jStore) -> None:
    changed = ask(graph, "config-changed-today", hours=1)
    assert {(r["path"], r["change"]) for r in changed} == {
        ("/etc/nginx/nginx.conf", "changed"),
        ("/etc/nginx/late.conf", "changed"),
    }
    assert [r["path"] for r in ask(graph, "configs-invalid")] == ["/etc/nginx/nginx.conf"]
    history = ask(graph, "config-history", path="/etc/nginx/nginx.conf")
    assert [r["change"] for r in history] == ["changed", "added"]
    assert [(r["path"], r["package"]) for r in ask(graph, "conffiles-changed")] == [
        ("/etc/deluser.conf", "adduser")
    ]
    before = ask(graph, "config-changes-before-failure", service="nginx", hours=1)
    assert [r["path"] for r in before] == ["/etc/nginx/nginx.conf"]
