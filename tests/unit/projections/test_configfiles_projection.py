"""The configfiles projection's graph operations (valid against the declared schema) and its questions,
run on a real LadybugDB graph."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.catalog import resolve
from projections.configfiles import PROJECTORS
from projections.graph_ops import UpsertNode, UpsertRel, fold
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.configfiles import (
    ConffileModified,
    ConfigFileChanged,
    ConfigFileDiscovered,
    ConfigInvalid,
    ConfigValidated,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def env(payload: EventPayload, n: int, ts: datetime) -> Envelope:
    return Envelope(
        id=event_id("e", n),
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host="h",
        source="processors.configfiles",
        ts=ts,
        observed_at=ts,
        subject=str(getattr(payload, "path", "")),
        payload=payload.model_dump(mode="json"),
    )


def project(payload: EventPayload, n: int, ts: datetime) -> list[Any]:
    e = env(payload, n, ts)
    return PROJECTORS[e.type](e, payload)


EVENTS: list[tuple[EventPayload, datetime]] = [
    (
        ConfigFileDiscovered(
            ts=NOW,
            path="/etc/nginx/nginx.conf",
            sha256="a",
            app="nginx",
            via="initial",
            package="nginx-common",
            owner="root",
            group="root",
            mode="0644",
            size=10,
        ),
        NOW - timedelta(days=2),
    ),
    (
        ConfigFileChanged(
            ts=NOW,
            path="/etc/nginx/nginx.conf",
            sha256="b",
            old_sha256="a",
            app="nginx",
            lines_added=2,
            lines_removed=1,
            rev="c0ffee",
            via="inotify",
        ),
        NOW - timedelta(minutes=10),
    ),
    (
        ConfigInvalid(
            ts=NOW, path="/etc/nginx/nginx.conf", checker="nginx -t", message='unknown directive "x"'
        ),
        NOW - timedelta(minutes=9),
    ),
    (ConfigValidated(ts=NOW, path="/etc/hosts", checker="x"), NOW - timedelta(minutes=9)),
    (
        ConffileModified(
            ts=NOW, path="/etc/deluser.conf", package="adduser", default_digest="x", actual_digest="y"
        ),
        NOW - timedelta(minutes=8),
    ),
]


def test_ops_are_declared_and_link_the_package() -> None:
    ops = [op for i, (p, ts) in enumerate(EVENTS) for op in project(p, i, ts)]
    fold(ops)  # validates every op against the schema
    rels = {(o.type, o.to_label) for o in ops if isinstance(o, UpsertRel)}
    assert ("PROVIDED_BY", "Software") in rels and ("VERSION_OF", "ConfigFile") in rels
    files = [o for o in ops if isinstance(o, UpsertNode) and o.label == "ConfigFile"]
    assert all(o.key.startswith("h/etc/") for o in files)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = LadybugStore(Path(tmp_path_factory.mktemp("g")) / "graph")
    store.ensure_schema()
    ops = [op for i, (p, ts) in enumerate(EVENTS) for op in project(p, i, ts)]
    store.apply(ops, {})
    yield store
    store.close()


def ask(graph: Any, name: str, **params: Any) -> list[dict[str, Any]]:
    cypher, p = resolve(name, params, NOW)
    rows: list[dict[str, Any]] = graph.query(cypher, p).dicts()
    return rows


def test_questions(graph: Any) -> None:
    changed = ask(graph, "config-changed-today", hours=1)
    assert [(r["path"], r["change"], r["lines_added"]) for r in changed] == [
        ("/etc/nginx/nginx.conf", "changed", 2)
    ]
    assert [r["path"] for r in ask(graph, "configs-invalid")] == ["/etc/nginx/nginx.conf"]
    history = ask(graph, "config-history", path="/etc/nginx/nginx.conf")
    assert [r["change"] for r in history] == ["changed", "added"] and history[0]["rev"] == "c0ffee"
    assert [(r["path"], r["package"]) for r in ask(graph, "conffiles-changed")] == [
        ("/etc/deluser.conf", "adduser")
    ]
    assert ask(graph, "config-changes-before-failure", service="nginx") == []  # no failure recorded


def test_config_changes_before_a_service_failed(tmp_path: Path) -> None:
    """A cross-domain question answered by the graph: the services domain's ServiceFailed (projected by
    its own projection) and this domain's versions."""
    from projections.services import PROJECTORS as SERVICE_PROJECTORS
    from schemas.events.services import ServiceFailed

    store = LadybugStore(tmp_path / "graph")
    store.ensure_schema()
    try:
        ops = [op for i, (p, ts) in enumerate(EVENTS) for op in project(p, i, ts)]
        late = ConfigFileChanged(ts=NOW, path="/etc/nginx/late.conf", sha256="z", via="inotify")
        ops += project(late, 99, NOW - timedelta(minutes=1))  # after the failure: not a cause
        failed = ServiceFailed(unit="nginx.service", result="exit-code")
        e = env(failed, 100, NOW - timedelta(minutes=5))
        ops += SERVICE_PROJECTORS[e.type](e, failed)
        store.apply(ops, {})
        rows = ask(store, "config-changes-before-failure", service="nginx", hours=1)
        assert [(r["path"], r["change"]) for r in rows] == [("/etc/nginx/nginx.conf", "changed")]
        assert rows[0]["failed_at"] is not None
    finally:
        store.close()
