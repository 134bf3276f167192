"""The containers projection (pure) and its named queries' parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from projections.catalog import CatalogError, resolve
from projections.containers import container_key, endpoint_key, image_key, project, volume_key
from projections.graph_ops import UpsertRel, fold
from projections.registry import PROJECTORS
from schemas.envelope import Envelope
from schemas.events.base import EventPayload
from schemas.events.containers import (
    CONTAINER_EVENTS,
    ENDPOINT_EVENTS,
    IMAGE_EVENTS,
    VOLUME_EVENTS,
    ContainerDied,
    ContainerStarted,
    EndpointClosed,
    EndpointExposed,
    ImageRemoved,
    VolumeCreated,
)

T = datetime(2026, 11, 20, 12, tzinfo=UTC)
CID = "c" * 64
IID = "sha256:" + "a" * 64


def env(payload: EventPayload, eid: str, ts: datetime = T) -> Envelope:
    return Envelope(
        id=eid,
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host="h1",
        source="processors.containers",
        ts=ts,
        observed_at=ts,
        subject=CID,
        payload=payload.model_dump(mode="json"),
    )


def test_every_domain_type_has_a_projector() -> None:
    for cls in (*CONTAINER_EVENTS, *IMAGE_EVENTS, *VOLUME_EVENTS, *ENDPOINT_EVENTS):
        assert cls.TYPE in PROJECTORS


def test_a_start_links_container_image_volumes_and_host() -> None:
    p = ContainerStarted(
        container_id=CID, name="web", image="nginx:1", image_id=IID, started_at=T, volumes=("data",)
    )
    ops = project(env(p, "e1"), p)
    batch = fold(ops)  # validates every op against the graph schema
    ckey = container_key("h1", CID)
    c = batch.nodes["Container"][ckey].props
    assert (c["state"], c["name"], c["image"], c["started_at"], c["id"]) == (
        "running",
        "web",
        "nginx:1",
        T,
        CID,
    )
    ev = batch.nodes["Event"]["e1"].props
    assert (ev["action"], ev["subject"], ev["summary"]) == ("start", ckey, "start web (nginx:1)")
    for rel in (
        UpsertRel("ACTED_ON", "Event", "e1", "Container", ckey),
        UpsertRel("RUNS_ON", "Container", ckey, "Host", "h1"),
        UpsertRel("RUNS_IMAGE", "Container", ckey, "Image", image_key("h1", IID)),
        UpsertRel("MOUNTS", "Container", ckey, "Volume", volume_key("h1", "data")),
        UpsertRel("STORED_ON", "Volume", volume_key("h1", "data"), "Host", "h1"),
        UpsertRel("HAPPENED_ON", "Event", "e1", "Host", "h1"),
    ):
        assert rel in ops


def test_a_death_keeps_the_exit_code_on_event_and_container() -> None:
    p = ContainerDied(container_id=CID, name="web", exit_code=3)
    batch = fold(project(env(p, "e2"), p))
    assert batch.nodes["Container"][container_key("h1", CID)].props["exit_code"] == 3
    assert batch.nodes["Container"][container_key("h1", CID)].props["state"] == "exited"
    assert batch.nodes["Event"]["e2"].props["exit_code"] == 3
    assert batch.nodes["Event"]["e2"].props["summary"] == "die web exit 3"


def test_an_endpoint_that_moves_between_containers_names_the_latest() -> None:
    other = "d" * 64
    opened = EndpointExposed(
        container_id=CID,
        container_name="web",
        host_ip="0.0.0.0",
        host_port=80,
        container_port=8080,
        protocol="tcp",
    )
    closed = EndpointClosed(**opened.model_dump())
    moved = EndpointExposed(**{**opened.model_dump(), "container_id": other, "container_name": "web2"})
    ops = [
        *project(env(opened, "e1"), opened),
        *project(env(closed, "e2", T + timedelta(seconds=5)), closed),
        *project(env(moved, "e3", T + timedelta(seconds=6)), moved),
    ]
    batch = fold(ops)
    ekey = endpoint_key("h1", "0.0.0.0", 80, "tcp")
    n = batch.nodes["NetworkEndpoint"][ekey].props
    assert (n["state"], n["container"], n["host_port"], n["container_port"]) == (
        "open",
        container_key("h1", other),
        80,
        8080,
    )
    assert UpsertRel("EXPOSES", "NetworkEndpoint", ekey, "Container", container_key("h1", CID)) in ops
    assert UpsertRel("EXPOSES", "NetworkEndpoint", ekey, "Container", container_key("h1", other)) in ops
    assert batch.nodes["Event"]["e2"].props["summary"] == "close 0.0.0.0:80/tcp -> web:8080"


def test_images_and_volumes() -> None:
    gone = ImageRemoved(image_id=IID, action="delete")
    made = VolumeCreated(name="data", driver="local")
    batch = fold([*project(env(gone, "e1"), gone), *project(env(made, "e2"), made)])
    assert batch.nodes["Image"][image_key("h1", IID)].props["state"] == "removed"
    assert batch.nodes["Volume"][volume_key("h1", "data")].props["driver"] == "local"


def test_container_queries_resolve() -> None:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    _, params = resolve("containers-restarted-today", {}, now)
    assert params == {"since": now - timedelta(days=1), "type": "ContainerRestarted"}
    _, params = resolve("containers-died-nonzero-this-week", {}, now)
    assert params == {"since": now - timedelta(days=7), "type": "ContainerDied"}
    cypher, params = resolve("listening-on-port", {"port": "8080"}, now)
    assert params == {"port": 8080, "open": "open"}
    assert "'" not in cypher
    with pytest.raises(CatalogError, match="required"):
        resolve("listening-on-port", {}, now)
