"""The LadybugDB graph as a backup input: a consistent copy under the writer, and its check.

In the embedded daemon the backup executor runs inside the pipeline's step, so no projection batch is
applied while it runs; the store's own lock also holds queries back while it CHECKPOINTs (the WAL folded
into the file) and copies the file (`LadybugStore.checkpoint_copy`). The copy is then opened in its own
directory and its counts (nodes per label, relationships per type) must equal the live store's, or the
backup fails. The counts go into the archive beside the file, so a verify (restore to scratch, open,
count) compares against what the live graph held.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from projections.stores.ladybug import LadybugStore

GRAPH_FILE = "watchman/graph/graph.lbug"
COUNTS_FILE = "watchman/graph-counts.json"


class GraphCopyError(Exception):
    """The copy does not hold what the live graph held (or the graph cannot be copied)."""


def copy_store(store: LadybugStore, scratch: Path) -> Path:
    """A directory under `scratch` with `graph.lbug` (the copy) and `graph-counts.json`; the caller
    removes it. Raises GraphCopyError if the copy's counts differ from the live store's."""
    scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    out = Path(tempfile.mkdtemp(prefix="graph-copy-", dir=scratch))
    try:
        live = store.checkpoint_copy(out / "graph.lbug")
        check_dir = out / "check"
        check_dir.mkdir()
        shutil.copyfile(out / "graph.lbug", check_dir / "graph.lbug")  # opening writes beside the file
        copied = counts_of(check_dir)
        shutil.rmtree(check_dir)
        if copied != live:
            raise GraphCopyError(f"the graph copy holds {_diff(live, copied)}")
        (out / "graph-counts.json").write_text(json.dumps(live, sort_keys=True))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return out


def copy_directory(graph_dir: Path, scratch: Path) -> Path:
    """The same from a graph no process holds (the CLI without a daemon); GraphLocked if one does."""
    store = LadybugStore(graph_dir)
    try:
        return copy_store(store, scratch)
    finally:
        store.close()


def counts_of(graph_dir: Path) -> dict[str, int]:
    store = LadybugStore(graph_dir)
    try:
        return store.counts()
    finally:
        store.close()


def check_restored(root: Path) -> dict[str, int]:
    """Open the graph restored under `root` and compare its counts with those stored beside it."""
    expected = json.loads((root / COUNTS_FILE).read_text())
    got = counts_of((root / GRAPH_FILE).parent)
    if got != expected:
        raise GraphCopyError(f"the restored graph holds {_diff(expected, got)}")
    return got


def _diff(want: dict[str, int], got: dict[str, int]) -> str:
    bad = [f"{k} {got.get(k)} (want {v})" for k, v in sorted(want.items()) if got.get(k) != v]
    return ", ".join(bad[:5]) or "other labels than the live graph"
