"""The vault syncer on real git: two clones of one vault editing through a real remote (a bare repository
served over ssh by a real sshd on loopback, and a file:// one), real conflicts under each strategy with
nothing lost, media sent by real rsync over the same ssh and kept out of git."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producers.obsidian.git_sync import VaultConfig, VaultSyncer
from producers.obsidian.vaultfiles import CONFLICT_NOTE, has_markers
from tests.support.sshd import Sshd, running_sshd

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    with running_sshd() as s:
        yield s


def _bare(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def _git(vault: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(vault), *args], capture_output=True, text=True, check=True).stdout


def _tracked(vault: Path) -> set[str]:
    return set(_git(vault, "ls-files").split())


def _remote_tree(bare: Path) -> set[str]:
    out = subprocess.run(
        ["git", "-C", str(bare), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.splitlines())


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def _pair(tmp: Path, remote: str, **cfg: object) -> tuple[VaultSyncer, VaultSyncer, Clock, Clock]:
    ca, cb = Clock(T0), Clock(T0)
    base = VaultConfig(name="notes", path=tmp / "a", git_remote=remote, hostname="a", **cfg)  # type: ignore[arg-type]
    a = VaultSyncer(base, "hosta", clock=ca)
    b = VaultSyncer(replace(base, path=tmp / "b", hostname="b"), "hostb", clock=cb)
    return a, b, ca, cb


def _steps(result: object) -> list[str]:
    return [s.step for s in result.steps]  # type: ignore[attr-defined]


def test_edits_sync_both_ways_over_ssh(tmp_path: Path, sshd: Sshd) -> None:
    bare = _bare(tmp_path / "remote.git")
    remote = f"{sshd.destination}:{bare}"
    a, b, _, _ = _pair(tmp_path, remote, ssh_command=shlex.join(sshd.ssh_command()))
    (tmp_path / "a" / "Daily").mkdir(parents=True)
    (tmp_path / "a" / "Daily" / "2026-12-01.md").write_text("# Monday\n")
    (tmp_path / "a" / ".obsidian").mkdir()
    (tmp_path / "a" / ".obsidian" / "workspace.json").write_text("{}")
    (tmp_path / "a" / ".obsidian" / "app.json").write_text("{}")
    (tmp_path / "a" / ".trash").mkdir()
    (tmp_path / "a" / ".trash" / "old.md").write_text("gone\n")
    (tmp_path / "a" / "photo.JPG").write_bytes(b"\xff\xd8" * 10)
    r = a.sync("edit")
    assert _steps(r) == ["auto_commit", "push"], r.summary()
    assert r.status.sync_status == "in_sync"
    assert r.status.note_count == 1 and r.status.media_count == 1
    assert [n.path for n in r.notes] == ["Daily/2026-12-01.md"]
    # Per-device UI state, the trash and media never go into git.
    assert _remote_tree(bare) == {".gitignore", ".obsidian/app.json", "Daily/2026-12-01.md"}

    r = b.sync("start")  # an empty directory: cloned over ssh
    assert (tmp_path / "b" / "Daily" / "2026-12-01.md").read_text() == "# Monday\n"
    assert r.status.sync_status == "in_sync"
    (tmp_path / "b" / "Daily" / "2026-12-01.md").write_text("# Monday\nfrom b\n")
    (tmp_path / "b" / "Ideas.md").write_text("idea\n")
    r = b.sync("edit")
    assert _steps(r) == ["auto_commit", "push"]
    assert r.steps[0].files_changed == 2
    r = a.sync("interval")
    assert _steps(r) == ["pull"]
    assert (tmp_path / "a" / "Ideas.md").read_text() == "idea\n"
    assert (tmp_path / "a" / "Daily" / "2026-12-01.md").read_text() == "# Monday\nfrom b\n"
    assert [n.path for n in r.notes] == ["Ideas.md"]
    # Nothing to do: no step, no push without being ahead.
    assert _steps(a.sync("interval")) == []
    assert "Permission denied" not in sshd.log()
    # Closing ends the shared ssh connections and removes their directory (they once piled up in /tmp).
    shared = [Path(d) for d in (a._ssh_dir, b._ssh_dir) if d is not None]
    assert shared and all(any(d.iterdir()) for d in shared)
    a.close()
    b.close()
    assert not any(d.exists() for d in shared)


def _conflict(tmp: Path, strategy: str, **cfg: object) -> tuple[VaultSyncer, VaultSyncer, Path]:
    """Both clones change the same line of one note; A pushes first (its edit one hour later), then B."""
    bare = _bare(tmp / "remote.git")
    a, b, ca, _ = _pair(tmp, f"file://{bare}", conflict_strategy=strategy, **cfg)
    (tmp / "a").mkdir()
    (tmp / "a" / "Plan.md").write_text("# Plan\nstart\n")
    a.sync("edit")
    b.sync("start")
    (tmp / "a" / "Plan.md").write_text("# Plan\nversion A\n")
    (tmp / "b" / "Plan.md").write_text("# Plan\nversion B\n")
    (tmp / "b" / "Other.md").write_text("other\n")
    ca.t = T0 + timedelta(hours=1)
    assert _steps(a.sync("edit")) == ["auto_commit", "push"]
    return a, b, bare


def test_conflict_alert_keeps_both_versions_lists_them_and_raises(tmp_path: Path) -> None:
    a, b, bare = _conflict(tmp_path, "alert")
    r = b.sync("edit")
    assert _steps(r) == ["auto_commit", "conflict", "pull", "push"], r.summary()
    conflict = r.steps[1]
    assert conflict.paths == ("Plan.md",) and conflict.strategy == "alert" and conflict.needs_attention
    copy = conflict.copies["Plan.md"]
    texts = {(tmp_path / "b" / "Plan.md").read_text(), (tmp_path / "b" / copy).read_text()}
    assert texts == {"# Plan\nversion A\n", "# Plan\nversion B\n"}  # nothing lost
    note = (tmp_path / "b" / CONFLICT_NOTE).read_text()
    assert "[[Plan.md]]" in note and f"[[{copy}]]" in note
    assert r.status.open_conflicts == 1 and r.status.sync_status == "in_sync"
    assert not has_markers((tmp_path / "b" / "Plan.md").read_text())
    assert {"Plan.md", copy, CONFLICT_NOTE, "Other.md"} <= _remote_tree(bare)
    # The other clone gets both versions too.
    a.sync("interval")
    assert (tmp_path / "a" / copy).exists()
    # Deleting the copy (after merging what one needs) resolves it; the note goes.
    (tmp_path / "a" / copy).unlink()
    r = a.sync("edit")
    assert "conflict_resolved" in _steps(r)
    assert not (tmp_path / "a" / CONFLICT_NOTE).exists()
    assert r.status.open_conflicts == 0
    b.sync("interval")
    assert not (tmp_path / "b" / copy).exists() and not (tmp_path / "b" / CONFLICT_NOTE).exists()


def test_conflict_latest_takes_the_newer_side_and_keeps_the_other(tmp_path: Path) -> None:
    _, b, _ = _conflict(tmp_path, "latest")
    r = b.sync("edit")  # B's edit is an hour older than A's
    conflict = next(s for s in r.steps if s.step == "conflict")
    assert conflict.strategy == "latest" and not conflict.needs_attention
    assert (tmp_path / "b" / "Plan.md").read_text() == "# Plan\nversion A\n"
    assert (tmp_path / "b" / conflict.copies["Plan.md"]).read_text() == "# Plan\nversion B\n"
    assert not (tmp_path / "b" / CONFLICT_NOTE).exists()
    assert r.status.sync_status == "in_sync"


def test_conflict_latest_when_the_local_side_is_newer(tmp_path: Path) -> None:
    bare = _bare(tmp_path / "remote.git")
    a, b, _, cb = _pair(tmp_path, f"file://{bare}", conflict_strategy="latest")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Plan.md").write_text("start\n")
    a.sync("edit")
    b.sync("start")
    (tmp_path / "a" / "Plan.md").write_text("A\n")
    a.sync("edit")
    (tmp_path / "b" / "Plan.md").write_text("B\n")
    cb.t = T0 + timedelta(hours=2)
    r = b.sync("edit")
    conflict = next(s for s in r.steps if s.step == "conflict")
    assert (tmp_path / "b" / "Plan.md").read_text() == "B\n"
    assert (tmp_path / "b" / conflict.copies["Plan.md"]).read_text() == "A\n"


def test_conflict_manual_pauses_until_resolved(tmp_path: Path) -> None:
    a, b, bare = _conflict(tmp_path, "manual")
    r = b.sync("edit")
    assert _steps(r) == ["auto_commit", "conflict"], r.summary()
    assert r.steps[1].needs_attention and r.status.auto_sync_paused and r.status.sync_status == "conflict"
    text = (tmp_path / "b" / "Plan.md").read_text()
    assert has_markers(text) and "version A" in text and "version B" in text  # both sides, in the note
    remote_before = _git(bare, "rev-parse", "main")
    # Paused: a later edit is not committed, nothing is pushed, even on the interval or a command.
    (tmp_path / "b" / "Later.md").write_text("later\n")
    for trigger in ("interval", "command"):
        r = b.sync(trigger)  # type: ignore[arg-type]
        assert _steps(r) == [] and r.status.auto_sync_paused
    assert _git(bare, "rev-parse", "main") == remote_before
    assert "Later.md" not in _tracked(tmp_path / "b")
    # The user resolves: the markers go, the merge is committed and the sync resumes.
    (tmp_path / "b" / "Plan.md").write_text("# Plan\nversion A and B\n")
    r = b.sync("edit")
    assert _steps(r) == ["conflict_resolved", "auto_commit", "push"], r.summary()
    assert r.status.sync_status == "in_sync" and not r.status.auto_sync_paused
    a.sync("interval")
    assert (tmp_path / "a" / "Plan.md").read_text() == "# Plan\nversion A and B\n"
    assert (tmp_path / "a" / "Later.md").read_text() == "later\n"


def test_rebase_that_conflicts_is_merged_and_loses_nothing(tmp_path: Path) -> None:
    a, b, _ = _conflict(tmp_path, "alert", pull_method="rebase")
    r = b.sync("edit")
    conflict = next(s for s in r.steps if s.step == "conflict")
    texts = {
        (tmp_path / "b" / "Plan.md").read_text(),
        (tmp_path / "b" / conflict.copies["Plan.md"]).read_text(),
    }
    assert texts == {"# Plan\nversion A\n", "# Plan\nversion B\n"}
    assert not (Path(tmp_path / "b" / ".git" / "rebase-merge")).exists()
    # Without a conflict a rebase keeps the history linear.
    (tmp_path / "a" / "New.md").write_text("n\n")
    a.sync("interval")
    a.sync("edit")
    (tmp_path / "b" / "Mine.md").write_text("m\n")
    b.sync("edit")
    parents = _git(tmp_path / "b", "log", "-1", "--format=%P").split()
    assert len(parents) == 1


def test_markers_in_an_edited_note_are_never_committed(tmp_path: Path) -> None:
    bare = _bare(tmp_path / "remote.git")
    a, _, _, _ = _pair(tmp_path, f"file://{bare}")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Git.md").write_text("<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\n")
    (tmp_path / "a" / "Fine.md").write_text("fine\n")
    r = a.sync("edit")
    assert "conflict" in _steps(r) and r.status.sync_status == "conflict"
    assert "Git.md" not in _remote_tree(bare) if (bare / "refs" / "heads" / "main").exists() else True
    assert "Git.md" not in _tracked(tmp_path / "a")
    # Reported once, not at every sync; resolved when the markers go, and then committed.
    assert "conflict" not in _steps(a.sync("interval"))
    (tmp_path / "a" / "Git.md").write_text("x and y\n")
    r = a.sync("edit")
    assert _steps(r) == ["conflict_resolved", "auto_commit", "push"], r.summary()
    assert r.steps[0].paths == ("Git.md",) and r.status.sync_status == "in_sync"


def test_media_go_by_rsync_over_ssh_never_through_git(tmp_path: Path, sshd: Sshd) -> None:
    bare = _bare(tmp_path / "remote.git")
    target = tmp_path / "media-target" / "notes"
    vault = tmp_path / "a"
    cfg = VaultConfig(
        name="notes",
        path=vault,
        git_remote=f"file://{bare}",
        media_sync_enabled=True,
        media_rsync_target=f"{sshd.destination}:{target}",
        media_max_file_mb=0.01,  # 10 KiB: anything larger is media too
        ssh_command=shlex.join(sshd.ssh_command()),
    )
    s = VaultSyncer(cfg, "hosta", clock=Clock(T0))
    (vault / "Attachments").mkdir(parents=True)
    (vault / "Attachments" / "diagram.png").write_bytes(b"\x89PNG" + b"\0" * 100)
    (vault / "Attachments" / "talk.mp4").write_bytes(b"\0" * 2000)
    (vault / "Attachments" / "dump.bin").write_bytes(b"\1" * 20_000)  # media by size
    (vault / "Note.md").write_text("![[diagram.png]]\n")
    r = s.sync("edit")
    media = next(st for st in r.steps if st.step == "media")
    assert set(media.paths) == {"Attachments/diagram.png", "Attachments/talk.mp4", "Attachments/dump.bin"}
    for name in ("diagram.png", "talk.mp4", "dump.bin"):
        assert (target / "Attachments" / name).read_bytes() == (vault / "Attachments" / name).read_bytes()
    assert _remote_tree(bare) == {".gitignore", "Note.md"}
    # Unchanged media: no transfer; a changed one goes again.
    assert "media" not in _steps(s.sync("interval"))
    (vault / "Attachments" / "diagram.png").write_bytes(b"\x89PNG" + b"\1" * 100)
    r = s.sync("edit")
    assert [st.paths for st in r.steps if st.step == "media"] == [("Attachments/diagram.png",)]
    assert (target / "Attachments" / "diagram.png").read_bytes() == (
        vault / "Attachments" / "diagram.png"
    ).read_bytes()


def test_an_unreachable_remote_is_reported_and_the_commit_kept(tmp_path: Path) -> None:
    a, _, _, _ = _pair(tmp_path, f"file://{tmp_path / 'nowhere.git'}")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "N.md").write_text("n\n")
    r = a.sync("edit")
    assert _steps(r) == ["auto_commit"]
    assert r.status.sync_status in ("ahead", "error") and "fetch failed" in r.status.detail
    assert "N.md" in _tracked(tmp_path / "a")


def test_a_password_in_the_remote_never_reaches_an_event(tmp_path: Path) -> None:
    secret = "s3cr3t-Vault-Token-42"
    remote = f"https://me:{secret}@127.0.0.1:1/vault.git"  # nothing listens on port 1
    s = VaultSyncer(VaultConfig(name="notes", path=tmp_path / "v", git_remote=remote), "h", clock=Clock(T0))
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "N.md").write_text("n\n")
    r = s.sync("edit")
    assert r.status.sync_status in ("ahead", "error")
    text = r.status.model_dump_json() + "".join(st.model_dump_json() for st in r.steps) + r.summary()
    assert secret not in text
    assert r.status.git_remote == "https://me@127.0.0.1:1/vault.git"


def test_the_source_hands_steps_to_the_bus_and_resumes_the_history_from_its_cursor(tmp_path: Path) -> None:
    from producers.obsidian.source import VaultSource

    bare = _bare(tmp_path / "remote.git")
    cfg = VaultConfig(name="notes", path=tmp_path / "v", git_remote=f"file://{bare}")
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "One.md").write_text("1\n")
    src = VaultSource(cfg, "h", None, auto_sync=False)  # no thread: syncs only when told
    assert src.poll(100).observations == []
    src.sync_now("command")
    poll = src.poll(100)
    types = [e.type for e in poll.observations]
    assert types == ["ObsidianSyncObserved"] * 2 + ["ObsidianNoteAddedObserved", "ObsidianVaultObserved"]
    assert {e.subject for e in poll.observations} == {"notes"} and poll.cursor
    first_note = poll.observations[2]
    # A restart from the saved cursor lists only what was added since; a restart without it lists
    # the same notes again under the same ids (one node each in the graph).
    (tmp_path / "v" / "Two.md").write_text("2\n")
    again = VaultSource(cfg, "h", poll.cursor, auto_sync=False)
    again.sync_now("command")
    added = [e.payload["path"] for e in again.poll(100).observations if e.type == "ObsidianNoteAddedObserved"]
    assert added == ["Two.md"]
    fresh = VaultSource(cfg, "h", None, auto_sync=False)
    fresh.sync_now("command")
    notes = [e for e in fresh.poll(100).observations if e.type == "ObsidianNoteAddedObserved"]
    assert [n.payload["path"] for n in notes] == ["One.md", "Two.md"] and notes[0].id == first_note.id
    # max_lines bounds a poll; the rest waits for the next one.
    (tmp_path / "v" / "Three.md").write_text("3\n")
    fresh.sync_now("command")
    assert len(fresh.poll(2).observations) == 2 and fresh.poll(100).observations


def test_the_bench_runs_at_a_tiny_size(tmp_path: Path) -> None:
    """`python -m bench obsidian` works end to end (its figures are never judged in a test)."""
    from bench import obsidian as bench

    section = bench.run(tmp_path, notes=30, media_mb=1, repeat=1)
    assert [f.value is not None and f.value > 0 for f in section.figures] == [True, True, True]
    assert section.figures[0].baseline and list(tmp_path.iterdir()) == []


def test_a_broken_repository_is_an_error_state_not_a_crash(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    (vault / ".git").mkdir(parents=True)  # a .git that is no repository
    (vault / "N.md").write_text("n\n")
    r = VaultSyncer(VaultConfig(name="notes", path=vault), "h", clock=Clock(T0)).sync("interval")
    assert r.status.sync_status == "error" and r.status.detail and r.steps == []
