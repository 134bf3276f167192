"""Property: whatever the observations and however the live pipeline batches them, rebuilding the graph
from the domain topic gives exactly the live graph."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.packages.envelopes import raw_envelope
from projections.stores.base import GraphStore
from projections.stores.ladybug import LadybugStore
from schemas.events import PackageChangeObserved
from schemas.events.packages import RAW_PACKAGES
from watchman.bus.sqlite_log import SqliteLog
from watchman.pipeline import EmbeddedPipeline, envelope_record
from watchman.replay import rebuild

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def observation(draw: st.DrawFn) -> PackageChangeObserved:
    source = draw(st.sampled_from(["apt", "dpkg", "dnf", "dnf-rpm", "brew"]))
    action = draw(st.sampled_from(["install", "upgrade", "downgrade", "remove", "purge", "reinstall"]))
    version = draw(st.sampled_from(["1.0-1", "1.1-1", "2:0.9-3"]))
    old = None if action == "install" else draw(st.sampled_from(["0.9-1", "1.0-1"]))
    new = None if action in ("remove", "purge") else version
    ts = T0 + timedelta(seconds=draw(st.integers(0, 600)))
    rich = source in ("apt", "dnf")
    return PackageChangeObserved(
        ts=ts,
        action=action,
        source=source,
        package=draw(st.sampled_from(["bash", "curl", "python3-yaml"])),
        arch=draw(st.sampled_from(["amd64", "all", None])),
        old_version=old,
        new_version=new,
        requested_by="alice" if rich else None,
        automatic=draw(st.booleans()) if rich and action == "install" else None,
        session_start=ts - timedelta(seconds=30) if rich else None,
        session_end=ts + timedelta(seconds=30) if rich else None,
    )


def dump(store: GraphStore) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, key in (("Event", "id"), ("Software", "key"), ("Host", "name")):
        rows = store.query(f"MATCH (n:{label}) RETURN n ORDER BY n.{key}").rows
        out[label] = [{k: v for k, v in r[0].items() if not k.startswith("_")} for r in rows]
    rels = {
        "ACTED_ON": "MATCH (a:Event)-[:ACTED_ON]->(b:Software) RETURN a.id, b.key",
        "INSTALLED_ON": "MATCH (a:Software)-[:INSTALLED_ON]->(b:Host) RETURN a.key, b.name",
        "HAPPENED_ON": "MATCH (a:Event)-[:HAPPENED_ON]->(b:Host) RETURN a.id, b.name",
    }
    for rel, cypher in rels.items():
        out[rel] = sorted(tuple(r) for r in store.query(cypher).rows)
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    observations=st.lists(observation(), min_size=1, max_size=40),
    chunk=st.integers(1, 15),
    batch=st.integers(1, 20),
)
def test_rebuilt_graph_equals_live_graph(
    observations: list[PackageChangeObserved], chunk: int, batch: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log = SqliteLog(root / "log.sqlite")
        live = LadybugStore(root / "live")
        pipeline = EmbeddedPipeline(log, live, [], host="h", batch_size=batch)
        for i in range(0, len(observations), chunk):
            envs = [raw_envelope("h", o, T0) for o in observations[i : i + chunk]]
            log.append(RAW_PACKAGES.name, [envelope_record(e) for e in envs])
            pipeline.process_once()
            pipeline.project_once()
        pipeline.drain()
        fresh = LadybugStore(root / "fresh")
        rebuild(log, fresh, batch_size=7)
        assert dump(fresh) == dump(live)
        assert dump(live)["Event"], "some events must have been decided"
        fresh.close()
        live.close()
        log.close()
