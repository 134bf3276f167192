"""Obsidian vault sync: a vault of --obsidian-notes notes (10,000) and --obsidian-media-mb of media (1 GB for
the issue's figure; 256 MB by default, so the default run takes a few minutes) syncs a one-note change.

The remote is a bare repository and the media target a directory, both reached over ssh through a real
sshd on loopback (tests/support/sshd.py), as a vault on a laptop would reach a home server. Measured:
- the first sync (commit of every note, push, rsync of all media);
- a one-note change on this clone: VaultSyncer.sync (scan, stage, commit, fetch, push, media check,
  the notes-added history and the status), median and max of --repeat runs; target <= 2 s;
- the same change arriving at a second clone (fetch + merge);
baseline: the same one-note change by hand with the git CLI (add -A, commit, push), no syncer.
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import time
from pathlib import Path

from bench.common import say, scratch
from bench.results import Figure, Section, Target
from producers.obsidian.git_sync import VaultConfig, VaultSyncer
from tests.support.sshd import running_sshd

TARGET = Target("<=", 2.0, "s")
NOTE = "# Note {i}\n\n" + "Some words of a note, with a [[link]] and a #tag. " * 20 + "\n"
MEDIA_FILE_MB = 8


def _make_vault(vault: Path, notes: int, media_mb: int) -> None:
    for i in range(notes):
        folder = vault / f"Folder {i % 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"Note {i:05d}.md").write_text(NOTE.format(i=i))
    media = vault / "Attachments"
    media.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    left, n = media_mb, 0
    while left > 0:
        size = min(MEDIA_FILE_MB, left)
        with (media / f"video-{n:04d}.mp4").open("wb") as f:
            for k in range(size):
                f.write(block[k:] + block[:k])  # not one repeated MiB: rsync sees real data
        left -= size
        n += 1


def _git(vault: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["git", "-C", str(vault), *args], check=True, capture_output=True, env=env)


def run(work: Path, *, notes: int = 10_000, media_mb: int = 256, repeat: int = 5) -> Section:
    with scratch(work, "obsidian") as root, running_sshd() as sshd:
        ssh = shlex.join(sshd.ssh_command())
        bare = root / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        remote = f"{sshd.destination}:{bare}"
        vault = root / "vault"
        say(f"obsidian: writing {notes:,} notes and {media_mb:,} MB of media")
        _make_vault(vault, notes, media_mb)
        cfg = VaultConfig(
            name="bench",
            path=vault,
            git_remote=remote,
            media_sync_enabled=True,
            media_rsync_target=f"{sshd.destination}:{root / 'media'}",
            ssh_command=ssh,
        )
        a = VaultSyncer(cfg, "bench")
        started = time.perf_counter()
        first = a.sync("start")
        first_s = time.perf_counter() - started
        say(f"obsidian: first sync {first_s:.1f} s ({first.summary()[:120]})")
        assert first.status.sync_status == "in_sync", first.summary()
        b = VaultSyncer(
            VaultConfig(name="bench", path=root / "other", git_remote=remote, ssh_command=ssh), "b"
        )
        b.sync("start")

        target = vault / "Folder 07" / "Note 00007.md"
        change, pull = [], []
        for k in range(repeat):
            target.write_text(NOTE.format(i=7) + f"edit {k}\n")
            started = time.perf_counter()
            r = a.sync("edit")
            change.append(time.perf_counter() - started)
            assert [s.step for s in r.steps] == ["auto_commit", "push"], r.summary()
            started = time.perf_counter()
            r = b.sync("interval")
            pull.append(time.perf_counter() - started)
            assert [s.step for s in r.steps] == ["pull"], r.summary()
        say(f"obsidian: one-note change {statistics.median(change):.3f} s median, {max(change):.3f} s max")

        env = {**os.environ, "GIT_SSH_COMMAND": ssh}
        by_hand = []
        for k in range(repeat):
            target.write_text(NOTE.format(i=7) + f"by hand {k}\n")
            started = time.perf_counter()
            _git(vault, "add", "-A")
            _git(vault, "commit", "-q", "-m", "by hand")
            _git(vault, "push", "-q", "origin", "HEAD:refs/heads/main", env=env)
            by_hand.append(time.perf_counter() - started)
        baseline = statistics.median(by_hand)
        size = f"{notes:,} notes + {media_mb:,} MB media"
        figures = [
            Figure(
                f"one-note change synced ({size})",
                statistics.median(change),
                "s",
                baseline=baseline,
                baseline_label="git add + commit + push by hand",
                target=TARGET,
                note=f"max {max(change):.3f} s of {repeat}",
            ),
            Figure(f"the change pulled by a second clone ({notes:,} notes)", statistics.median(pull), "s"),
            Figure(f"first sync: commit, push and rsync of everything ({size})", first_s, "s"),
        ]
        runs = "; ".join(
            f"{label} {', '.join(f'{x:.3f}' for x in xs)}"
            for label, xs in (("change", change), ("pull", pull), ("by hand", by_hand))
        )
        files = max(media_mb // MEDIA_FILE_MB, 1)
        details = [
            "Remote: a bare repository over ssh (OpenSSH on 127.0.0.1, one shared connection); media by "
            f"rsync over the same ssh, {files} files of up to {MEDIA_FILE_MB} MB. A one-note sync scans the "
            "vault (counts, media list), stages with `git add -A`, commits, pushes (a push the remote "
            "accepts needs no fetch), sees that no media changed, reads the notes added and the status.",
            f"Runs (s): {runs}.",
        ]
        return Section("obsidian", figures, details)
