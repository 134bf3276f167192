"""Config files: the first scan, an idle rescan and the inotify latency of the config scanner.

A generated tree (`files` files of ~1 KiB in 100 directories, a few secrets among them) under a temporary
root, and this machine's own /etc (read only: its versions go to a temporary repository). Baselines from
the same run: hashing the same files with nothing else (the floor of a first scan) and walking the tree
(the floor of a rescan).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from pathlib import Path

from bench.common import say
from bench.results import Figure, Section
from producers.configfiles.source import ConfigSource, ConfigTracking


def _tree(root: Path, files: int) -> None:
    for i in range(files):
        d = root / "etc" / f"app{i % 100}"
        d.mkdir(parents=True, exist_ok=True)
        body = f"# generated {i}\n" + "".join(f"key{j} = value {i}-{j}\n" for j in range(60))
        if i % 97 == 0:
            body += "password = not-for-git\n"
        (d / f"file{i}.conf").write_text(body)


def _hash_all(root: Path) -> float:
    t = time.perf_counter()
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            hashlib.sha256((Path(dirpath) / n).read_bytes()).hexdigest()
    return time.perf_counter() - t


def _walk(root: Path) -> float:
    t = time.perf_counter()
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            os.lstat(Path(dirpath) / n)
    return time.perf_counter() - t


def run(work: Path, *, files: int = 2000, changes: int = 20, real_etc: bool = True) -> Section:
    root = work / "configfiles-root"
    _tree(root, files)
    tracking = ConfigTracking(
        paths=("/etc",), root=root, versions_dir=work / "configfiles-versions", rescan_interval=3600.0
    )
    src = ConfigSource("bench", None, tracking)
    try:
        t = time.perf_counter()
        first = src.poll(100_000)
        first_s = time.perf_counter() - t
        say(
            f"configfiles: first scan of {files} files: {first_s:.2f} s "
            f"({len(first.observations)} observations)"
        )
        hashed = _hash_all(root / "etc")
        src.scan_now()
        t = time.perf_counter()
        src.poll(100_000)
        rescan_s = time.perf_counter() - t
        walked = _walk(root / "etc")
        latencies = []
        for i in range(changes):
            target = root / "etc" / f"app{i}" / f"file{i}.conf"
            t = time.perf_counter()
            target.write_text(target.read_text() + f"changed = {i}\n")
            while True:
                src.wait(0.05)
                if src.poll(1000).observations:
                    break
            latencies.append((time.perf_counter() - t) * 1000)
    finally:
        src.close()
    figures = [
        Figure(
            f"first scan of {files} files (hash, classify, commit to git, check)",
            first_s,
            "s",
            baseline=hashed,
            baseline_label="sha256 of the same files alone",
        ),
        Figure(
            f"rescan of {files} unchanged files",
            rescan_s,
            "s",
            baseline=walked,
            baseline_label="os.walk + lstat",
        ),
        Figure(
            f"inotify: file written -> observation (median of {changes})",
            statistics.median(latencies),
            "ms",
            note=f"max {max(latencies):.0f} ms; each change is one git commit",
        ),
    ]
    if not real_etc:
        return Section("Config files", figures)
    real = ConfigSource(
        "bench",
        None,
        ConfigTracking(paths=("/etc",), versions_dir=work / "configfiles-etc", inotify=False, validate=False),
    )
    try:
        t = time.perf_counter()
        etc = real.poll(100_000)
        etc_s = time.perf_counter() - t
    finally:
        real.close()
    etc_files = sum(1 for e in etc.observations if e.type == "ConfigFileObserved")
    figures.append(Figure(f"first scan of this machine's /etc ({etc_files} files, no checkers)", etc_s, "s"))
    return Section("Config files", figures)
