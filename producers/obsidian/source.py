"""VaultSource (I/O): keeps one Obsidian vault in sync from a thread of its own and hands what each sync
did to the raw topic.

A sync runs at start, when edits have settled (inotify on the vault's directories: no event for
`quiet_period` seconds after the last one), and every `sync_interval` seconds as the fallback (edits
inotify missed, the remote's changes). `sync_now` runs one at once for the SyncObsidianVault command.
Syncs are serialised by the syncer's lock. `poll` only drains what the syncs produced, so the ingest
loop never waits for git or ssh.

The cursor is the last commit whose added notes reached the bus: a restart lists the notes added
since then (same ids: they hash the commit and the path), nothing twice and nothing missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import inotify_simple  # type: ignore[import-untyped]  # no py.typed: a ctypes wrapper

from producers.obsidian.git_sync import SyncResult, VaultConfig, VaultSyncer
from producers.source import Poll
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.obsidian import (
    RAW_OBSIDIAN,
    ObsidianNoteAddedObserved,
    ObsidianSyncObserved,
    ObsidianVaultObserved,
    Trigger,
)

log = logging.getLogger(__name__)

SOURCE = "obsidian.sync"
_F = inotify_simple.flags
# What an edit looks like: a file written and closed, created, moved in or out, deleted.
MASK = _F.CLOSE_WRITE | _F.CREATE | _F.DELETE | _F.MOVED_FROM | _F.MOVED_TO | _F.MODIFY | _F.ATTRIB
SKIP_DIRS = frozenset({".git", ".trash"})
# Steps that write files into the vault.
WRITES = frozenset({"pull", "conflict", "conflict_resolved"})


def _now() -> datetime:
    return datetime.now(UTC)


class VaultSource:
    def __init__(
        self,
        cfg: VaultConfig,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        auto_sync: bool = True,
        sync_interval: float = 300.0,
        quiet_period: float = 5.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.cfg = cfg
        self.host = host
        self.vault = cfg.name
        self.name = f"obsidian:{cfg.name}"
        self.topic = RAW_OBSIDIAN
        self.auto_sync = auto_sync
        self.sync_interval = sync_interval
        self.quiet_period = quiet_period
        self.syncer = VaultSyncer(cfg, host, clock=clock)
        self.syncer.history_head = (cursor or {}).get("history")
        self._cursor: dict[str, Any] = dict(cursor or {})
        self._out: deque[tuple[Envelope, str | None]] = deque()
        self._out_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_result: SyncResult | None = None

    # --- what the command executor and the tests call ----------------------------------------------

    def sync_now(self, trigger: Trigger = "command") -> SyncResult:
        result = self.syncer.sync(trigger)
        self._emit(result)
        return result

    def scan_now(self) -> None:
        """TriggerScan: sync at the thread's next turn."""
        self._wake.set()

    # --- Source ------------------------------------------------------------------------------------

    def poll(self, max_lines: int) -> Poll:
        if self._thread is None and self.auto_sync:
            self._thread = threading.Thread(target=self._run, name=f"obsidian-{self.vault}", daemon=True)
            self._thread.start()
        out: list[Envelope] = []
        with self._out_lock:
            while self._out and len(out) < max_lines:
                env, history = self._out.popleft()
                out.append(env)
                if history is not None:
                    self._cursor = {"history": history}
        if not out:
            return Poll()
        return Poll(observations=out, cursor=dict(self._cursor), lines=len(out))

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.syncer.close()

    # --- the thread --------------------------------------------------------------------------------

    def _emit(self, result: SyncResult) -> None:
        self.last_result = result
        items: list[tuple[Envelope, str | None]] = [(self._envelope(s), None) for s in result.steps]
        items += [(self._envelope(n), None) for n in result.notes]
        # The status comes last and carries the history position: saved once all of it is on the bus.
        items.append((self._envelope(result.status), result.history_head))
        with self._out_lock:
            self._out.extend(items)

    def _envelope(self, obs: EventPayload) -> Envelope:
        if isinstance(obs, ObsidianNoteAddedObserved):
            parts: tuple[str, ...] = ("note", obs.commit_hash, obs.path)
        elif isinstance(obs, ObsidianSyncObserved):
            parts = ("step", obs.step, obs.commit_hash or obs.ts.isoformat(), *obs.paths[:20])
        else:
            assert isinstance(obs, ObsidianVaultObserved)
            parts = ("status", obs.ts.isoformat())
        ts: datetime = getattr(obs, "ts")  # noqa: B009  # every obsidian observation has one
        return Envelope(
            id=event_id("raw", self.host, SOURCE, self.vault, *parts),
            type=obs.TYPE,
            schema_version=obs.VERSION,
            host=self.host,
            source=SOURCE,
            ts=ts,
            observed_at=_now(),
            subject=self.vault,
            payload=obs.model_dump(mode="json"),
        )

    def _sync(self, trigger: Trigger) -> None:
        try:
            self.sync_now(trigger)
        except Exception:  # a sync's failure must not end the thread: the next one may succeed
            log.exception("obsidian vault %s: sync failed", self.vault)

    def _run(self) -> None:
        ino = inotify_simple.INotify()
        watches: dict[int, Path] = {}
        try:
            self._sync("start")
            self._watch_tree(ino, watches, self.cfg.path)
            next_at = time.monotonic() + self.sync_interval
            last_edit: float | None = None
            while not self._stop.is_set():
                timeout = min(self.quiet_period, 0.5)
                for ev in ino.read(timeout=int(timeout * 1000)):
                    if self._event(ino, watches, ev):
                        last_edit = time.monotonic()
                now = time.monotonic()
                trigger: Trigger | None = None
                if self._wake.is_set():
                    self._wake.clear()
                    trigger = "command"
                elif last_edit is not None and now - last_edit >= self.quiet_period:
                    trigger = "edit"
                elif now >= next_at:
                    trigger = "interval"
                if trigger is None or self._stop.is_set():
                    continue
                self._sync(trigger)
                # What a sync wrote itself (a pull, conflict copies) is no edit to commit; when it wrote
                # nothing, what inotify saw meanwhile was someone editing during the sync: commit it too.
                wrote = self.last_result is None or any(st.step in WRITES for st in self.last_result.steps)
                last_edit = None
                for ev in ino.read(timeout=0):
                    if self._event(ino, watches, ev) and not wrote:
                        last_edit = time.monotonic()
                self._watch_tree(ino, watches, self.cfg.path)
                next_at = time.monotonic() + self.sync_interval
        finally:
            ino.close()

    def _watch_tree(self, ino: Any, watches: dict[int, Path], top: Path) -> None:
        if not top.is_dir():
            return
        known = set(watches.values())
        stack = [top]
        while stack:
            d = stack.pop()
            if d not in known:
                try:
                    watches[ino.add_watch(str(d), MASK)] = d
                except OSError:
                    continue
            try:
                stack.extend(
                    c
                    for c in d.iterdir()
                    if c.is_dir() and not c.is_symlink() and not (d == top and c.name in SKIP_DIRS)
                )
            except OSError:
                continue

    def _event(self, ino: Any, watches: dict[int, Path], ev: Any) -> bool:
        """Keep the watches current; True when the event is an edit of the vault."""
        if ev.mask & _F.IGNORED:
            watches.pop(ev.wd, None)
            return False
        parent = watches.get(ev.wd)
        if parent is None:
            return False
        if parent == self.cfg.path and ev.name in SKIP_DIRS:
            return False
        if ev.mask & _F.ISDIR and ev.mask & (_F.CREATE | _F.MOVED_TO):
            self._watch_tree(ino, watches, parent / ev.name)
        return True
