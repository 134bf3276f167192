"""Decide container, image, volume and endpoint events from Docker observations (pure: no I/O, no clock).

Two kinds of input tell of the same engine: the live events stream (an action: start, die, ...) and
snapshot differences taken at every (re)connect (a state: running since T, exited with code N). The
state table keeps, per container, what has been decided so far and the time it is true as of, so:

- a snapshot decides by comparing states (running now, was not: it started; was running, is not:
  it died), which is what catches what happened while the engine or the producer was away;
- a stream event older than the state already decided (the producer replays the stream from its
  saved position after a reconnect, behind the snapshot) is stale and decides nothing, so one death
  is one ContainerDied however it was learnt;
- a raw id decided before (at-least-once redelivery) re-emits what it decided, under the same ids.

Published ports are diffed per container: EndpointExposed when a start (or a snapshot) shows a new
binding, EndpointClosed when it is gone or the container stops.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.containers import (
    EVENTS_CONTAINERS,
    RAW_CONTAINERS,
    ContainerCreated,
    ContainerDestroyed,
    ContainerDied,
    ContainerEvent,
    ContainerHealthChanged,
    ContainerOOMKilled,
    ContainerRestarted,
    ContainerStarted,
    ContainerState,
    ContainerStopped,
    DockerEventObserved,
    DockerStateObserved,
    EndpointClosed,
    EndpointEvent,
    EndpointExposed,
    ImagePulled,
    ImageRemoved,
    Origin,
    PortBinding,
    VolumeCreated,
    VolumeRemoved,
)

SOURCE = "processors.containers"
# Raw ids remembered per entity with what they decided, for re-emission on redelivery.
KEEP_RECENT = 32
# Engine timestamps of one start differ by a few ms between the event and an inspect: a snapshot's
# StartedAt later than the recorded start by more than this is a start that was not seen.
START_SLACK = timedelta(seconds=1)
IMAGE_ARRIVALS = frozenset({"pull", "import", "load"})


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _binding_key(b: dict[str, Any]) -> str:
    return f"{b['host_ip']}/{b['host_port']}/{b['protocol']}"


class _Out:
    """Collects the decided events of one raw record, with ids derived from the raw id."""

    def __init__(self, raw: Envelope, origin: Origin) -> None:
        self.raw = raw
        self.origin = origin
        self.events: list[Envelope] = []

    def add(self, payload: EventPayload, subject: str, ts: datetime, *extra: object) -> None:
        self.events.append(
            Envelope(
                id=event_id("containers", self.raw.id, payload.TYPE, *extra),
                type=payload.TYPE,
                schema_version=payload.VERSION,
                host=self.raw.host,
                source=SOURCE,
                ts=ts,
                observed_at=self.raw.observed_at,
                subject=subject,
                causation_id=self.raw.id,
                payload=payload.model_dump(mode="json"),
            )
        )


def _remembered(state: dict[str, Any], raw_id: str) -> list[Envelope] | None:
    for rid, events in state.get("recent", []):
        if rid == raw_id:
            return [Envelope.model_validate(e) for e in events]
    return None


def _remember(table: Table, key: str, state: dict[str, Any], raw_id: str, out: list[Envelope]) -> None:
    recent = [*state.get("recent", []), [raw_id, [e.model_dump(mode="json") for e in out]]]
    state["recent"] = recent[-KEEP_RECENT:]
    table.set(key, state)


def _stale(state: dict[str, Any], ts: datetime) -> bool:
    as_of = _dt(state.get("as_of"))
    return as_of is not None and ts <= as_of


# --- containers ---------------------------------------------------------------------------------------


def _container_fields(rec: dict[str, Any], origin: Origin, **more: Any) -> dict[str, Any]:
    return {
        "container_id": rec["id"],
        "name": rec.get("name"),
        "image": rec.get("image"),
        "image_id": rec.get("image_id"),
        "origin": origin,
        **more,
    }


def _absorb(rec: dict[str, Any], info: ContainerState | None, attributes: dict[str, str]) -> None:
    """Keep the names the engine last told (an inspect is the richer source; attributes are the fallback)."""
    if info is not None:
        rec["name"], rec["image"] = info.name, info.image
        rec["image_id"] = info.image_id or rec.get("image_id")
    else:
        rec["name"] = attributes.get("name", rec.get("name"))
        rec["image"] = attributes.get("image", rec.get("image"))


def _endpoints(
    out: _Out, rec: dict[str, Any], ports: tuple[PortBinding, ...], ts: datetime, origin: Origin
) -> None:
    """Diff the container's published ports against the recorded ones."""
    now = {_binding_key(b): b for b in (p.model_dump() for p in ports)}
    before = {_binding_key(b): b for b in rec.get("endpoints", [])}
    cls: type[EndpointEvent]
    for key in sorted(before.keys() | now.keys()):
        if key in now and key in before and now[key] == before[key]:
            continue
        if key in before:
            cls = EndpointClosed
            out.add(_endpoint(cls, rec, before[key], origin), rec["id"], ts, key)
        if key in now:
            cls = EndpointExposed
            out.add(_endpoint(cls, rec, now[key], origin), rec["id"], ts, key)
    rec["endpoints"] = [now[k] for k in sorted(now)]


def _endpoint(
    cls: type[EndpointEvent], rec: dict[str, Any], b: dict[str, Any], origin: Origin
) -> EndpointEvent:
    return cls(container_id=rec["id"], container_name=rec.get("name"), origin=origin, **b)


def _start(out: _Out, rec: dict[str, Any], info: ContainerState | None, ts: datetime, origin: Origin) -> None:
    cls = ContainerRestarted if rec.get("starts", 0) > 0 else ContainerStarted
    rec["starts"] = rec.get("starts", 0) + 1
    rec["running"] = True
    rec["stopped"] = False
    rec["started_at"] = _iso(ts)
    volumes = tuple(sorted({m.name for m in info.mounts if m.name})) if info else ()
    restart_count = info.restart_count if info else None
    fields = _container_fields(rec, origin, started_at=ts, restart_count=restart_count, volumes=volumes)
    out.add(cls.model_validate(fields), rec["id"], ts)
    # A short-lived container may be gone again by the time it is inspected: then it exposes nothing.
    ports = info.ports if info is not None and info.running else ()
    _endpoints(out, rec, ports, ts, origin)


def _died(out: _Out, rec: dict[str, Any], exit_code: int | None, ts: datetime, origin: Origin) -> None:
    rec["running"] = False
    out.add(ContainerDied.model_validate(_container_fields(rec, origin, exit_code=exit_code)), rec["id"], ts)
    _endpoints(out, rec, (), ts, origin)


def _health(out: _Out, rec: dict[str, Any], health: str | None, ts: datetime, origin: Origin) -> None:
    if health is None or health == rec.get("health"):
        return
    fields = _container_fields(rec, origin, health=health, previous_health=rec.get("health"))
    rec["health"] = health
    out.add(ContainerHealthChanged.model_validate(fields), rec["id"], ts, health)


def _new_container(cid: str) -> dict[str, Any]:
    return {"id": cid, "starts": 0, "running": None, "endpoints": [], "recent": []}


def _container_event(out: _Out, rec: dict[str, Any], obs: DockerEventObserved) -> None:
    action, _, detail = obs.action.partition(":")
    info, ts, origin = obs.container, obs.ts, out.origin
    _absorb(rec, info, obs.attributes)
    if action == "create":
        if not rec.get("created"):
            rec["created"] = True
            out.add(ContainerCreated.model_validate(_container_fields(rec, origin)), rec["id"], ts)
    elif action == "start":
        # A snapshot taken a moment before this start may already have shown it (the snapshot's
        # time is read before the containers are inspected): the same start, not a restart.
        last = _dt(rec.get("started_at"))
        if not (rec.get("running") is True and last is not None and abs(ts - last) <= START_SLACK):
            _start(out, rec, info, ts, origin)
    elif action == "die":
        # Likewise a death the snapshot already showed (running is None: never seen, so it counts).
        if rec.get("running") is not False:
            code = obs.attributes.get("exitCode")
            exit_code = int(code) if code is not None and code.lstrip("-").isdigit() else None
            _died(out, rec, exit_code, ts, origin)
    elif action == "stop":
        rec["stopped"] = True
        out.add(ContainerStopped.model_validate(_container_fields(rec, origin)), rec["id"], ts)
    elif action == "oom":
        out.add(ContainerOOMKilled.model_validate(_container_fields(rec, origin)), rec["id"], ts)
    elif action == "health_status":
        _health(out, rec, detail.strip() or None, ts, origin)
    elif action == "destroy":
        _destroyed(out, rec, ts, origin)
    # kill, restart (its start decided it), attach, exec_*, pause, rename ...: nothing to decide.


def _destroyed(out: _Out, rec: dict[str, Any], ts: datetime, origin: Origin) -> None:
    if rec.get("destroyed"):
        return
    _endpoints(out, rec, (), ts, origin)
    rec["destroyed"] = True
    rec["running"] = False
    out.add(ContainerDestroyed.model_validate(_container_fields(rec, origin)), rec["id"], ts)


def _container_state(out: _Out, rec: dict[str, Any], obs: DockerStateObserved, first_sight: bool) -> None:
    """Decide what must have happened for the recorded state to become the snapshot's."""
    info, origin, snap_ts = obs.container, out.origin, obs.ts
    if obs.change == "removed" or info is None:
        _destroyed(out, rec, snap_ts, origin)
        return
    _absorb(rec, info, {})
    rec["destroyed"] = False
    if first_sight:
        rec["created"] = True
        created = info.created_at or snap_ts
        out.add(ContainerCreated.model_validate(_container_fields(rec, origin)), rec["id"], created)
    started = info.started_at or snap_ts
    last_start = _dt(rec.get("started_at"))
    # A start the record does not know: first sight, or one while nobody was watching (a container
    # that died and started again keeps running, but its StartedAt moves on).
    unseen_start = info.started_at is not None and (last_start is None or started > last_start + START_SLACK)
    if info.running:
        if rec.get("running") is not True or unseen_start:
            _start(out, rec, info, started, origin)
        else:
            _endpoints(out, rec, info.ports, snap_ts, origin)
    elif info.finished_at is not None and (unseen_start or rec.get("running") is True):
        if unseen_start:
            # A whole run we did not see (first sight of an exited container, or a run inside the
            # blind window): its start and its end are history worth keeping.
            _start(out, rec, info, started, origin)
        _died(out, rec, info.exit_code, info.finished_at, origin)
        if info.oom_killed:
            fields = _container_fields(rec, origin)
            out.add(ContainerOOMKilled.model_validate(fields), rec["id"], info.finished_at)
    _health(out, rec, info.health, snap_ts, origin)


def _decide_container(
    raw: Envelope, obs: DockerEventObserved | DockerStateObserved, cid: str, table: Table
) -> list[Envelope]:
    key = f"container/{raw.host}/{cid}"
    state = table.get(key)
    first_sight = state is None
    rec: dict[str, Any] = state if state is not None else _new_container(cid)
    again = _remembered(rec, raw.id)
    if again is not None:
        return again
    if _stale(rec, obs.ts):
        _remember(table, key, rec, raw.id, [])
        return []
    if isinstance(obs, DockerEventObserved):
        out = _Out(raw, "event")
        _container_event(out, rec, obs)
    else:
        out = _Out(raw, "snapshot")
        _container_state(out, rec, obs, first_sight)
    rec["as_of"] = _iso(obs.ts)
    _remember(table, key, rec, raw.id, out.events)
    return out.events


# --- images and volumes ---------------------------------------------------------------------------------


def _decide_presence(
    raw: Envelope, key: str, present: bool, ts: datetime, make: tuple[EventPayload, str], table: Table
) -> list[Envelope]:
    """Images and volumes are there or not: emit the arrival or the removal when that flips."""
    state: dict[str, Any] = table.get(key) or {"recent": []}
    again = _remembered(state, raw.id)
    if again is not None:
        return again
    out = _Out(raw, "event")
    if not _stale(state, ts) and state.get("present") is not present:
        payload, subject = make
        out.add(payload, subject, ts)
        state["present"] = present
        state["as_of"] = _iso(ts)
    _remember(table, key, state, raw.id, out.events)
    return out.events


def _decide_image(
    raw: Envelope, obs: DockerEventObserved | DockerStateObserved, table: Table
) -> list[Envelope]:
    if isinstance(obs, DockerEventObserved):
        action = obs.action
        if action not in IMAGE_ARRIVALS and action != "delete":
            return []  # tag, untag, push, save: no change of what is on the host
        image_id = obs.image.id if obs.image is not None else obs.actor_id
        reference = obs.attributes.get("name")
        present, origin = action in IMAGE_ARRIVALS, "event"
    else:
        image_id = obs.image.id if obs.image is not None else obs.key
        reference = obs.image.tags[0] if obs.image is not None and obs.image.tags else None
        present, origin, action = obs.change != "removed", "snapshot", "snapshot"
        if obs.change == "changed":
            return []  # new tags on the same image: it was there already
    if reference is not None and reference.startswith("sha256:"):
        reference = None
    cls = ImagePulled if present else ImageRemoved
    payload = cls(image_id=image_id, reference=reference, action=action, origin=origin)
    return _decide_presence(raw, f"image/{raw.host}/{image_id}", present, obs.ts, (payload, image_id), table)


def _decide_volume(
    raw: Envelope, obs: DockerEventObserved | DockerStateObserved, table: Table
) -> list[Envelope]:
    if isinstance(obs, DockerEventObserved):
        if obs.action not in ("create", "destroy"):
            return []  # mount, unmount
        name, driver, present = obs.actor_id, obs.attributes.get("driver"), obs.action == "create"
        origin: Origin = "event"
    else:
        if obs.change == "changed":
            return []
        name = obs.volume.name if obs.volume is not None else obs.key
        driver = obs.volume.driver if obs.volume is not None else None
        present, origin = obs.change == "added", "snapshot"
    cls = VolumeCreated if present else VolumeRemoved
    payload = cls(name=name, driver=driver, origin=origin)
    return _decide_presence(raw, f"volume/{raw.host}/{name}", present, obs.ts, (payload, name), table)


# --- entry points ---------------------------------------------------------------------------------------


def decide_event(raw: Envelope, obs: DockerEventObserved, table: Table) -> list[Envelope]:
    """One record of the events stream -> zero or more domain events."""
    if obs.object_type == "container":
        return _decide_container(raw, obs, obs.actor_id, table)
    if obs.object_type == "image":
        return _decide_image(raw, obs, table)
    if obs.object_type == "volume":
        return _decide_volume(raw, obs, table)
    return []  # network, plugin, daemon ...: observed (raw topic), nothing decided yet


def decide_state(raw: Envelope, obs: DockerStateObserved, table: Table) -> list[Envelope]:
    """One snapshot difference -> the domain events that explain it."""
    if obs.object_type == "container":
        cid = obs.container.id if obs.container is not None else obs.key
        return _decide_container(raw, obs, cid, table)
    if obs.object_type == "image":
        return _decide_image(raw, obs, table)
    if obs.object_type == "volume":
        return _decide_volume(raw, obs, table)
    return []


__all__ = ["SOURCE", "ContainerEvent", "decide_event", "decide_state"]


# Which raw event types this domain decides, and where the decisions go (processors/registry.py collects it).
ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_CONTAINERS,
        sink=EVENTS_CONTAINERS,
        table="containers",
        decide={
            DockerEventObserved.TYPE: typed(DockerEventObserved, decide_event),
            DockerStateObserved.TYPE: typed(DockerStateObserved, decide_state),
        },
    ),
)
