"""The Docker source (I/O): snapshot the engine, follow its events stream, reconnect and resynchronise.

A background thread does all talking to the engine: at every (re)connect it takes a snapshot of
containers, images, volumes and networks, diffs it against the last one (producers.snapshot) so what
happened while disconnected becomes observations, then follows GET /events from the saved position.
It hands envelopes to `poll` through a bounded queue, so `poll` never waits on the engine (except,
once, a few seconds for the first snapshot, so that `watchman run --once` sees the engine's state).
The cursor holds the last event's time and the snapshot, kept up to date by the events.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import docker
import orjson
from docker.errors import APIError, DockerException, NotFound

from producers.docker import convert
from producers.snapshot import from_cursor, to_cursor
from producers.source import Poll
from schemas.dlq import DeadLetter
from schemas.envelope import Envelope
from schemas.events.containers import RAW_CONTAINERS, ContainerState, DockerObject, ImageInfo

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")
# An inspect that failed for another reason than "no such object".
_FAILED: Any = object()


def _now() -> datetime:
    return datetime.now(UTC)


class EngineUnavailable(RuntimeError):
    """The engine cannot be reached (no socket, refused, gone mid-stream)."""


def unix_socket(base_url: str) -> Path | None:
    """The socket path of a unix:// URL (None for tcp:// and the like)."""
    parsed = urlparse(base_url)
    if parsed.scheme not in ("unix", "http+unix"):
        return None
    return Path(parsed.path or parsed.netloc)


def _each(convert_one: Callable[[Any], T], objects: Iterable[Any]) -> list[T]:
    """Convert what can be converted; one odd object must not stop every snapshot (and so the source)."""
    out: list[T] = []
    for obj in objects:
        try:
            out.append(convert_one(obj))
        except (KeyError, ValueError, TypeError) as exc:
            log.info("skipping a docker object the snapshot cannot read (%s): %.200r", exc, obj)
    return out


@dataclass(frozen=True)
class _Item:
    """One queued observation (or none: a cursor move), with the cursor that is safe after it."""

    envelope: Envelope | None
    since: str | None
    items: dict[str, Any]
    dead: DeadLetter | None = None


class DockerSource:
    """Observations of one Docker engine (`unix:///var/run/docker.sock` by default)."""

    def __init__(
        self,
        base_url: str,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        timeout: float = 10.0,
        reconnect_initial: float = 1.0,
        reconnect_max: float = 30.0,
        first_wait: float = 5.0,
        queue_size: int = 10_000,
        clock: Clock = _now,
    ) -> None:
        self.base_url = base_url
        self.host = host
        self.name = f"docker:{base_url}"
        self.topic = RAW_CONTAINERS
        self.timeout = timeout
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.first_wait = first_wait
        self._clock = clock
        cursor = cursor or {}
        self._since: str | None = cursor.get("since")
        self._items: dict[str, Any] = from_cursor(cursor.get("snapshot")) or {}
        self._had_snapshot = cursor.get("snapshot") is not None
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._first = threading.Event()
        self._polled = False
        self._lock = threading.Lock()
        self._stream: Any = None
        # Observable by tests and status: set while the events stream is followed.
        self.connected = threading.Event()
        self.connects = 0
        self._thread = threading.Thread(target=self._run, name=f"watchman-{self.name}", daemon=True)
        self._thread.start()

    # -- the Source protocol ------------------------------------------------------------------------

    def poll(self, max_lines: int) -> Poll:
        if not self._polled:
            self._polled = True
            self._first.wait(self.first_wait)
        out = Poll()
        last: _Item | None = None
        while len(out.observations) < max_lines:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item.envelope is not None:
                out.observations.append(item.envelope)
            if item.dead is not None:
                out.dead.append(item.dead)
            last = item
        if last is not None:
            out.cursor = {"since": last.since, "snapshot": to_cursor(last.items)}
        out.lines = len(out.observations)
        return out

    def close(self) -> None:
        self._stop.set()
        self._cancel_stream()
        self._thread.join(timeout=self.timeout + 5)

    # -- the background thread ----------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.reconnect_initial
        reported = False
        while not self._stop.is_set():
            client: Any = None
            try:
                client = self._connect()
                self._resync(client)
                if reported:
                    log.info("docker engine at %s is back; resynchronised", self.base_url)
                reported = False
                delay = self.reconnect_initial
                self._first.set()
                self._follow(client)
            except Exception as exc:  # the engine went away or was never there: retry, never crash
                self.connected.clear()
                if not reported and not self._stop.is_set():
                    # Once per outage, not every retry: an absent engine is a normal state of a host.
                    log.info(
                        "docker engine at %s unavailable (%s); retrying with backoff", self.base_url, exc
                    )
                    reported = True
            finally:
                self.connected.clear()
                self._first.set()
                if client is not None:
                    client.close()
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.reconnect_max)

    def _connect(self) -> Any:
        sock = unix_socket(self.base_url)
        if sock is not None and not sock.exists():
            raise EngineUnavailable(f"no socket at {sock}")
        try:
            client = docker.DockerClient(base_url=self.base_url, timeout=self.timeout)
            client.ping()
        except DockerException as exc:
            raise EngineUnavailable(str(exc)) from exc
        return client

    def _resync(self, client: Any) -> None:
        """Snapshot the engine and queue what differs from the last snapshot."""
        api = client.api
        ts = self._clock()
        containers: list[ContainerState] = []
        for c in api.containers(all=True):
            cid = str(c.get("Id") or "")

            def inspect(cid: str = cid) -> ContainerState:
                return convert.container_state(api.inspect_container(cid))

            # None when removed between the list and the inspect: the events will tell.
            state = self._inspect(inspect, failed=_FAILED)
            if state is _FAILED:
                # Not readable now: keep what we knew rather than report it removed.
                known = self._items.get(convert.item_key("container", cid))
                state = ContainerState.model_validate(known) if known is not None else None
            if state is not None:
                containers.append(state)
        images = _each(convert.image_info, api.images())
        volumes = _each(convert.volume_info, (api.volumes() or {}).get("Volumes") or ())
        networks = _each(convert.network_info, api.networks())
        items = convert.snapshot_items(containers, images, volumes, networks)
        before = self._items if self._had_snapshot else None
        observations = convert.state_observations(before, items, ts)
        self._items, self._had_snapshot = items, True
        if self._since is None:
            # First contact: the stream starts where the snapshot was taken, so nothing falls between.
            self._since = convert.since_from_datetime(ts)
        self.connects += 1
        for obs in observations:
            self._put(convert.raw_envelope(self.host, obs, ts))
        self._put(None)  # saves the new snapshot even when nothing changed

    def _follow(self, client: Any) -> None:
        """Follow the events stream until it ends (the engine stopped) or the source closes."""
        stream = client.events(since=self._since, decode=True)
        with self._lock:
            self._stream = stream
        if self._stop.is_set():
            self._cancel_stream()
        self.connected.set()
        try:
            for event in stream:
                if self._stop.is_set():
                    return
                if not isinstance(event, dict) or convert.is_noise(event):
                    continue
                self._on_event(client.api, event)
        finally:
            self._cancel_stream()
        if not self._stop.is_set():
            raise EngineUnavailable("the events stream ended")

    def _on_event(self, api: Any, event: dict[str, Any]) -> None:
        kind = str(event.get("Type") or "")
        action = str(event.get("Action") or "")
        actor = str((event.get("Actor") or {}).get("ID") or "")
        container: ContainerState | None = None
        image: ImageInfo | None = None
        # Track the snapshot with what the engine says now; an inspect that failed changes nothing.
        if kind == "container":
            found = self._inspect(lambda: convert.container_state(api.inspect_container(actor)), _FAILED)
            if found is not _FAILED:
                container = found
                self._track("container", actor, found)
        elif kind == "image":
            found = self._inspect(lambda: convert.image_info(api.inspect_image(actor)), _FAILED)
            if found is not _FAILED and found is not None:
                image = found
                self._track("image", found.id, found)
            elif found is None and action == "delete":
                self._track("image", actor, None)
        elif kind in ("volume", "network") and action in ("create", "destroy"):
            read = api.inspect_volume if kind == "volume" else api.inspect_network
            one = convert.volume_info if kind == "volume" else convert.network_info
            found = self._inspect(lambda: one(read(actor)), _FAILED)
            if found is not _FAILED:
                self._track("volume" if kind == "volume" else "network", actor, found)
        try:
            obs = convert.event_observation(event, container, image)
        except (KeyError, ValueError, TypeError) as exc:
            # Into the dead-letter topic with the record as the engine sent it; the stream goes on.
            raw = orjson.dumps(event, default=str)
            position = str(event.get("timeNano") or self._since)
            error = f"{type(exc).__name__}: {exc}"
            self._put(None, DeadLetter.of(self.host, self.name, position, error, raw, self._clock()))
            return
        self._since = convert.since_from_nano(obs.time_nano)
        self._put(convert.raw_envelope(self.host, obs, self._clock()))

    @staticmethod
    def _inspect(fn: Callable[[], Any], failed: Any = None) -> Any:
        """The object as it is now, None when it is gone, `failed` on any other refusal (an engine
        error, an object the converter cannot read): the event is still recorded, since raising here
        would replay the same event after every reconnect, forever."""
        try:
            return fn()
        except NotFound:
            return None
        except (APIError, KeyError, ValueError, TypeError) as exc:
            log.info("docker inspect failed (%s); going on without the object's state", exc)
            return failed

    def _track(self, kind: DockerObject, ident: str, value: Any) -> None:
        """Keep the snapshot in step with the events (copy on write: queued items hold the old one)."""
        key = convert.item_key(kind, ident)
        items = dict(self._items)
        if value is None:
            items.pop(key, None)
        else:
            items[key] = value.model_dump(mode="json")
        self._items = items

    def _put(self, envelope: Envelope | None, dead: DeadLetter | None = None) -> None:
        item = _Item(envelope, self._since, self._items, dead)
        # Bounded: when the pipeline falls behind, the reader waits (the engine buffers its stream).
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _cancel_stream(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception as exc:  # closing a stream whose socket is already gone
                log.debug("closing the docker events stream: %s", exc)
