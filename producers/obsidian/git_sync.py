"""VaultSyncer (I/O): one vault's sync — commit, pull (merge or rebase), push only when ahead, conflicts
that never lose a side — with GitPython, and its media with rsync (never through git).

One sync (obsidian-git's order: stage → commit → pull → push):
1. an open conflict first: a merge whose notes still hold markers pauses everything (no commit, pull or
   push); once the markers are gone the merge is committed and the sync goes on. Copies listed in the
   conflict note that were all deleted resolve an `alert` conflict.
2. commit what changed (`git add -A` honours the managed .gitignore block: workspace files, .trash/,
   media); a changed note with a whole set of conflict markers is left out and reported as a conflict.
3. fetch; when behind, merge or rebase (a rebase that stops on a conflict is aborted and done as a
   merge, so every strategy meets one state: the index with both sides);
4. push when ahead;
5. rsync the media when any media file changed since the last transfer;
6. the notes the history added since the last sync, and the vault's state.

Every step is returned as an observation for the raw topic; the caller (producers/obsidian/source.py)
puts them on the bus. A step's id derives from the vault and the commit it made or reached, so a re-told
step is one event.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from git import Repo
from git.exc import GitCommandError, GitError

from producers.obsidian.vaultfiles import (
    CONFLICT_NOTE,
    DEFAULT_IGNORES,
    DEFAULT_MEDIA_EXTENSIONS,
    commit_message,
    conflict_note,
    copy_name,
    extension,
    has_markers,
    is_media,
    is_note,
    listed_copies,
    managed_gitignore,
    media_patterns,
)
from schemas.events.obsidian import (
    ConflictStrategy,
    ObsidianNoteAddedObserved,
    ObsidianSyncObserved,
    ObsidianVaultObserved,
    SyncStatus,
    SyncStep,
    Trigger,
)

log = logging.getLogger(__name__)

REMOTE = "origin"
MAX_PATHS = 200
RSYNC_TIMEOUT = 3600.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class VaultConfig:
    """One vault as the syncer needs it (built from the settings by watchman/domains/obsidian.py)."""

    name: str
    path: Path
    git_remote: str | None = None
    branch: str = "main"
    auto_commit: bool = True
    commit_message_template: str = "vault backup: {{date}}"
    pull_method: Literal["merge", "rebase"] = "merge"
    conflict_strategy: ConflictStrategy = "alert"
    media_sync_enabled: bool = False
    media_extensions: tuple[str, ...] = DEFAULT_MEDIA_EXTENSIONS
    media_max_file_mb: float | None = 10.0
    media_rsync_target: str | None = None
    # The ssh program line for git and rsync (GIT_SSH_COMMAND, rsync -e); None: the environment's.
    ssh_command: str | None = None
    # Keep one ssh connection open between syncs (ControlMaster, 2 minutes idle): each sync's fetch and
    # push then skip the key exchange (measured here: ~0.8 s per connection on a loaded machine).
    ssh_multiplex: bool = True
    author_name: str = "The Watchman"
    author_email: str = "watchman@localhost"
    hostname: str = ""


@dataclass
class SyncResult:
    steps: list[ObsidianSyncObserved]
    status: ObsidianVaultObserved
    notes: list[ObsidianNoteAddedObserved] = field(default_factory=list)
    # The last commit whose added notes are in `notes` (the source's cursor).
    history_head: str | None = None

    def summary(self) -> str:
        done = ", ".join(
            f"{s.step}" + (f" {s.files_changed} file(s)" if s.files_changed else "")
            + (f" {s.commit_hash[:10]}" if s.commit_hash else "")
            for s in self.steps
        )  # fmt: skip
        st = self.status
        text = f"vault {st.vault}: {st.sync_status}" + (f" ({done})" if done else " (nothing to do)")
        return text + (f"; {st.detail}" if st.detail else "")


@dataclass
class _Scan:
    files: int = 0
    notes: int = 0
    size: int = 0
    media: list[tuple[str, int, int]] = field(default_factory=list)  # (path, size, mtime_ns)
    large: list[str] = field(default_factory=list)  # media by size only (no media extension)


class VaultSyncer:
    """Syncs one vault; `sync` is serialised by a lock (the source's thread and the command executor
    share one syncer)."""

    def __init__(self, cfg: VaultConfig, host: str, *, clock: Callable[[], datetime] = _now) -> None:
        self.cfg = cfg
        self.host = host
        self.clock = clock
        self.lock = threading.Lock()
        self.history_head: str | None = None
        self.last_sync: datetime | None = None
        # path -> (size, mtime_ns) of the media the last transfer sent (None: none yet in this process).
        self._media_sent: dict[str, tuple[int, int]] | None = None
        self._marker_paths: tuple[str, ...] = ()
        self._repo: Repo | None = None
        self._ssh_dir: str | None = None
        self._extensions = frozenset(e.lstrip(".").lower() for e in cfg.media_extensions)
        self._max_bytes = None if cfg.media_max_file_mb is None else int(cfg.media_max_file_mb * 2**20)

    def close(self) -> None:
        """End the shared ssh connections (ControlPersist would keep them 120 s) and remove their
        directory; close the repository's git processes."""
        with self.lock:
            if self._ssh_dir is not None:
                for sock in Path(self._ssh_dir).iterdir():
                    subprocess.run(
                        ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "watchman-vault"],
                        capture_output=True,
                        timeout=10,
                        check=False,
                    )
                shutil.rmtree(self._ssh_dir, ignore_errors=True)
                self._ssh_dir = None
            if self._repo is not None:
                self._repo.close()
                self._repo = None

    # --- the repository ---------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": self.cfg.author_name,
            "GIT_AUTHOR_EMAIL": self.cfg.author_email,
            "GIT_COMMITTER_NAME": self.cfg.author_name,
            "GIT_COMMITTER_EMAIL": self.cfg.author_email,
        }
        ssh = self.ssh()
        if ssh:
            env["GIT_SSH_COMMAND"] = ssh
        return env

    def ssh(self) -> str | None:
        """The ssh program line for git and rsync: the configured one (or the environment's), with
        connection sharing when asked for."""
        base = self.cfg.ssh_command or os.environ.get("GIT_SSH_COMMAND") or os.environ.get("RSYNC_RSH")
        if not self.cfg.ssh_multiplex:
            return self.cfg.ssh_command
        if self._ssh_dir is None:
            self._ssh_dir = tempfile.mkdtemp(prefix="wm-ssh-")  # 0700: the control sockets are ours only
        control = f"-o ControlMaster=auto -o ControlPath={self._ssh_dir}/%C -o ControlPersist=120"
        return f"{base or 'ssh'} {control}"

    def repo(self) -> Repo:
        if self._repo is not None:
            return self._repo
        path, remote = self.cfg.path, self.cfg.git_remote
        if not (path / ".git").exists():
            if remote and (not path.exists() or not any(path.iterdir())):
                Repo.clone_from(remote, path, env={**os.environ, **self.env()})
            else:
                path.mkdir(parents=True, exist_ok=True)
                Repo.init(path)
        repo = Repo(path)
        repo.git.update_environment(**self.env())
        repo.git.set_persistent_git_options(c="core.quotePath=false")
        if not self._valid(repo, "HEAD"):  # unborn: name the branch (a clone of an empty remote too)
            repo.git.symbolic_ref("HEAD", f"refs/heads/{self.cfg.branch}")
        if remote:
            names = [r.name for r in repo.remotes]
            if REMOTE not in names:
                repo.create_remote(REMOTE, remote)
            elif repo.remotes[REMOTE].url != remote:
                repo.git.remote("set-url", REMOTE, remote)
        self._repo = repo
        return repo

    @staticmethod
    def _valid(repo: Repo, rev: str) -> bool:
        try:
            repo.git.rev_parse("--verify", "--quiet", rev + "^{commit}")
        except GitCommandError:
            return False
        return True

    def _head(self, repo: Repo) -> str | None:
        return repo.git.rev_parse("HEAD") if self._valid(repo, "HEAD") else None

    def _merging(self, repo: Repo) -> bool:
        return (Path(repo.git_dir) / "MERGE_HEAD").exists()

    def _unmerged(self, repo: Repo) -> list[str]:
        out = repo.git.diff("--name-only", "--diff-filter=U", "-z")
        return sorted({p for p in out.split("\0") if p})

    def _blob(self, repo: Repo, spec: str) -> bytes | None:
        try:
            data = repo.git.execute(
                ["git", "-c", "core.quotePath=false", "cat-file", "blob", spec],
                stdout_as_string=False,
                strip_newline_in_stdout=False,
            )
        except GitCommandError:
            return None
        assert isinstance(data, bytes)
        return data

    # --- files -------------------------------------------------------------------------------------

    def _scan(self) -> _Scan:
        """Counts, sizes and the media list of the vault (not .git/ nor .trash/). Plain strings, no Path
        objects per file: a 10,000-note vault is scanned in every sync."""
        scan = _Scan()
        root = str(self.cfg.path)
        cut = len(root) + 1
        exts, max_bytes = self._extensions, self._max_bytes
        stack = [root]
        while stack:
            d = stack.pop()
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            top = d == root
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    if not (top and e.name in (".git", ".trash")):
                        stack.append(e.path)
                    continue
                if not e.is_file(follow_symlinks=False):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                ext = extension(e.name)
                scan.files += 1
                scan.size += st.st_size
                if ext == "md":
                    scan.notes += 1
                elif is_media(e.name, st.st_size, exts, max_bytes):
                    rel = e.path[cut:]
                    scan.media.append((rel, st.st_size, st.st_mtime_ns))
                    if ext not in exts:
                        scan.large.append(rel)
        scan.media.sort()
        return scan

    def _ignores(self, scan: _Scan) -> None:
        """The managed .gitignore block (shared with the other clones) and, for files that are media only
        by their size, .git/info/exclude (this clone's own)."""
        root = self.cfg.path
        # Media stay out of git whether or not this host rsyncs them (the "never through git").
        entries = [*DEFAULT_IGNORES, *media_patterns(sorted(self._extensions))]
        gi = root / ".gitignore"
        current = gi.read_text() if gi.exists() else ""
        wanted = managed_gitignore(current, entries)
        if wanted != current:
            gi.write_text(wanted)
        exclude = root / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        current = exclude.read_text() if exclude.exists() else ""
        wanted = managed_gitignore(current, ["/" + _escape(p) for p in scan.large])
        if wanted != current:
            exclude.write_text(wanted)

    # --- one sync ---------------------------------------------------------------------------------

    def sync(self, trigger: Trigger) -> SyncResult:
        with self.lock:
            return self._sync(trigger)

    def _sync(self, trigger: Trigger) -> SyncResult:
        steps: list[ObsidianSyncObserved] = []
        ahead = behind = 0
        status: SyncStatus = "in_sync" if self.cfg.git_remote else "no_remote"
        detail = ""
        paused = False
        repo: Repo | None = None
        scan = _Scan()
        try:
            repo = self.repo()
            scan = self._scan()
            self._ignores(scan)
            paused, d = self._open_conflicts(repo, trigger, steps)
            detail = d
            if not paused and (self.cfg.auto_commit or trigger == "command"):
                paused, d = self._commit(repo, trigger, steps)
                detail = d or detail
            if not paused and self.cfg.git_remote:
                status, ahead, behind, paused, d = self._exchange(repo, trigger, steps)
                detail = d or detail
            if paused:
                status = "conflict"
            if self.cfg.media_sync_enabled and self.cfg.media_rsync_target:
                d = self._media(scan, trigger, steps)
                detail = d or detail
            if any(st.step in ("pull", "conflict", "conflict_resolved") for st in steps):
                scan = self._scan()  # the pull or the conflict copies changed the files
        except (GitError, OSError) as exc:  # GitError: a failed command, a broken or missing repository
            detail = self._redact(_short(exc))  # a clone's command line holds the remote's URL
            log.warning("obsidian vault %s: sync failed: %s", self.cfg.name, detail)
            status, repo = "error", None
        now = self.clock()
        if status != "error":
            self.last_sync = now
        notes, history_head = self._notes_added(repo) if repo is not None else ([], self.history_head)
        # Advanced here: the caller puts `notes` on the bus with the position (a crash before that
        # restarts from the saved cursor and lists them again, under the same ids).
        self.history_head = history_head
        open_conflicts = self._count_open(repo) if repo is not None else 0
        head = self._head(repo) if repo is not None else None
        state = ObsidianVaultObserved(
            ts=now,
            vault=self.cfg.name,
            path=str(self.cfg.path),
            git_remote=_redact_url(self.cfg.git_remote),
            sync_status=status,
            last_sync=self.last_sync,
            head=head,
            ahead=ahead,
            behind=behind,
            file_count=scan.files,
            note_count=scan.notes,
            media_count=len(scan.media),
            total_size_mb=round(scan.size / 2**20, 3),
            open_conflicts=open_conflicts,
            auto_sync_paused=paused,
            detail=self._redact(detail)[:500],
        )
        return SyncResult(steps, state, notes, history_head)

    def _redact(self, text: str) -> str:
        """A password in the remote's URL never reaches an event (git's own messages may quote it)."""
        remote = self.cfg.git_remote
        if remote and _redact_url(remote) != remote:
            text = text.replace(remote, str(_redact_url(remote)))
            password = remote.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
            if password:
                text = text.replace(password, "***")
        return text

    def _step(
        self,
        step: SyncStep,
        trigger: Trigger,
        *,
        files: list[str] | None = None,
        commit: str | None = None,
        count: int | None = None,
        **extra: object,
    ) -> ObsidianSyncObserved:
        files = files or []
        return ObsidianSyncObserved(
            ts=self.clock(),
            vault=self.cfg.name,
            step=step,
            trigger=trigger,
            files_changed=len(files) if count is None else count,
            commit_hash=commit,
            paths=tuple(files[:MAX_PATHS]),
            **extra,
        )

    def _open_conflicts(
        self, repo: Repo, trigger: Trigger, steps: list[ObsidianSyncObserved]
    ) -> tuple[bool, str]:
        """(paused, detail): a merge waiting for its markers to go, and the conflict note's copies."""
        if self._merging(repo):
            unmerged = self._unmerged(repo)
            waiting = [p for p in unmerged if _holds_markers(self.cfg.path / p)]
            if waiting:
                return (
                    True,
                    f"conflict markers left in {', '.join(waiting[:5])}: auto-sync paused until resolved",
                )
            # The markers are gone: what the files hold now is the resolution (other edits made
            # meanwhile get a commit of their own next).
            repo.git.add("-A", "--", *unmerged)
            repo.git.commit("--no-edit", "--no-verify")
            steps.append(
                self._step(
                    "conflict_resolved",
                    trigger,
                    files=unmerged,
                    commit=self._head(repo),
                    strategy=self.cfg.conflict_strategy,
                    detail="merge committed with the notes as edited",
                )
            )
        note = self.cfg.path / CONFLICT_NOTE
        if note.exists():
            copies = listed_copies(note.read_text(errors="replace"))
            if not any((self.cfg.path / c).exists() for c in copies.values()):
                note.unlink()
                steps.append(
                    self._step(
                        "conflict_resolved",
                        trigger,
                        files=sorted(copies),
                        strategy="alert",
                        detail="every conflict copy was deleted",
                    )
                )
        return False, ""

    def _commit(self, repo: Repo, trigger: Trigger, steps: list[ObsidianSyncObserved]) -> tuple[bool, str]:
        repo.git.add("-A")
        changed = self._staged(repo)
        marked = [p for p in changed if is_note(p) and _holds_markers(self.cfg.path / p)]
        before, self._marker_paths = self._marker_paths, tuple(marked)
        if marked:
            # A note holding a whole set of markers is an unresolved conflict: never commit it as text.
            repo.git.reset("-q", "--", *marked)
            changed = [p for p in changed if p not in marked]
            if tuple(marked) != before:
                steps.append(
                    self._step(
                        "conflict",
                        trigger,
                        files=marked,
                        strategy="manual",
                        needs_attention=True,
                        detail="notes hold conflict markers: not committed until they are gone",
                    )
                )
        elif before:  # the markers were removed (or the notes deleted): the alert can end
            steps.append(
                self._step(
                    "conflict_resolved",
                    trigger,
                    files=list(before),
                    strategy="manual",
                    detail="the conflict markers are gone",
                )
            )
        if changed:
            msg = commit_message(self.cfg.commit_message_template, self.clock(), self.cfg.hostname, changed)
            repo.git.commit("-q", "--no-verify", "-m", msg, env=self._dated())
            steps.append(self._step("auto_commit", trigger, files=changed, commit=self._head(repo)))
        if marked:
            return True, f"conflict markers in {', '.join(marked[:5])}: not committed, sync paused"
        return False, ""

    def _dated(self) -> dict[str, str]:
        """The syncer's clock as the commit's time (what `latest` compares; tests give their own clock)."""
        when = self.clock().isoformat()
        return {**self.env(), "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}

    def _staged(self, repo: Repo) -> list[str]:
        if self._valid(repo, "HEAD"):
            out = repo.git.diff("--cached", "--name-only", "-z", "--no-renames")
        else:
            out = repo.git.ls_files("-z", "--cached")
        return sorted({p for p in out.split("\0") if p})

    def _exchange(
        self, repo: Repo, trigger: Trigger, steps: list[ObsidianSyncObserved]
    ) -> tuple[SyncStatus, int, int, bool, str]:
        """fetch, pull when behind, push when ahead: (status, ahead, behind, paused, detail).

        With only local commits to send, the push goes first: a push the remote accepts was a
        fast-forward, so there was nothing to pull and one ssh round trip is saved (measured: a fetch
        is ~40 % of a one-note sync over ssh). A rejected push (the remote moved) changes nothing and
        falls back to fetch, pull, push: a pull still always comes before a push that needs one."""
        branch = self.cfg.branch
        upstream = f"refs/remotes/{REMOTE}/{branch}"
        if self._valid(repo, upstream):
            ahead = self._count(repo, f"{upstream}..HEAD")
            if ahead and self._push(repo, upstream, ahead, trigger, steps) is None:
                return "in_sync", 0, 0, False, ""
        try:
            repo.git.fetch("-q", REMOTE)
        except GitCommandError as exc:
            ahead = self._count(repo, f"{upstream}..HEAD") if self._valid(repo, upstream) else 0
            return "ahead" if ahead else "error", ahead, 0, False, f"fetch failed: {_short(exc)}"
        has_up = self._valid(repo, upstream)
        behind = self._count(repo, f"HEAD..{upstream}") if has_up else 0
        if behind:
            before = self._head(repo)
            paused = self._pull(repo, upstream, trigger, steps)
            if paused:
                return "conflict", 0, behind, True, "conflict: auto-sync paused until the markers are gone"
            after = self._head(repo)
            files = self._diff_names(repo, before, after)
            steps.append(self._step("pull", trigger, files=files, commit=after))
        ahead = self._count(repo, f"{upstream}..HEAD") if has_up else self._count(repo, "HEAD")
        if ahead:
            failed = self._push(repo, upstream if has_up else None, ahead, trigger, steps)
            if failed is not None:  # the remote moved meanwhile: the next sync pulls first
                return "ahead", ahead, 0, False, f"push failed: {failed}"
        return "in_sync", 0, 0, False, ""

    def _push(
        self,
        repo: Repo,
        upstream: str | None,
        ahead: int,
        trigger: Trigger,
        steps: list[ObsidianSyncObserved],
    ) -> str | None:
        """Push HEAD to the branch; None when done (a push step added), else why not."""
        head = self._head(repo)
        files = self._diff_names(repo, repo.git.rev_parse(upstream) if upstream else None, head)
        try:
            repo.git.push("-q", REMOTE, f"HEAD:refs/heads/{self.cfg.branch}")
        except GitCommandError as exc:
            return _short(exc)
        # No fetch needed: the push moved the remote-tracking branch too.
        steps.append(self._step("push", trigger, files=files, commit=head, detail=f"{ahead} commit(s)"))
        return None

    def _count(self, repo: Repo, rng: str) -> int:
        if not self._valid(repo, "HEAD"):
            return 0
        return int(repo.git.rev_list("--count", rng))

    def _diff_names(self, repo: Repo, a: str | None, b: str | None) -> list[str]:
        if b is None:
            return []
        if a is None:
            out = repo.git.ls_tree("-r", "-z", "--name-only", b)
        else:
            out = repo.git.diff("--name-only", "-z", "--no-renames", a, b)
        return sorted({p for p in out.split("\0") if p})

    def _pull(self, repo: Repo, upstream: str, trigger: Trigger, steps: list[ObsidianSyncObserved]) -> bool:
        """Merge or rebase onto the remote; True when a conflict pauses the vault."""
        if not self._valid(repo, "HEAD"):  # nothing of our own yet: take the remote's branch as it is
            repo.git.merge("-q", "--ff-only", upstream)
            return False
        if self.cfg.pull_method == "rebase":
            try:
                repo.git.rebase("-q", upstream)
                return False
            except GitCommandError:
                if (Path(repo.git_dir) / "rebase-merge").exists() or (
                    Path(repo.git_dir) / "rebase-apply"
                ).exists():
                    repo.git.rebase("--abort")
                # fall through: a merge puts both sides in the index for the strategy
        try:
            repo.git.merge("-q", "--no-edit", "--allow-unrelated-histories", upstream)
            return False
        except GitCommandError:
            if not self._merging(repo) or not self._unmerged(repo):
                raise
        return self._conflict(repo, trigger, steps)

    def _conflict(self, repo: Repo, trigger: Trigger, steps: list[ObsidianSyncObserved]) -> bool:
        """Both sides changed the same notes: apply the strategy; nothing is ever lost."""
        unmerged = self._unmerged(repo)
        theirs_rev = repo.git.rev_parse("MERGE_HEAD")
        strategy = self.cfg.conflict_strategy
        if strategy == "manual":
            steps.append(
                self._step(
                    "conflict",
                    trigger,
                    files=unmerged,
                    commit=theirs_rev,
                    strategy="manual",
                    needs_attention=True,
                    detail="both versions are in the notes between conflict markers; auto-sync paused until "
                    "they are gone",
                )
            )
            return True
        root = self.cfg.path
        copies: dict[str, str] = {}
        for p in unmerged:
            ours, theirs = self._blob(repo, f":2:{p}"), self._blob(repo, f":3:{p}")
            if ours is None or theirs is None:  # changed on one side, deleted on the other: keep the change
                kept = ours if ours is not None else theirs
                if kept is not None:
                    _write(root / p, kept)
                continue
            keep, other, tag = ours, theirs, theirs_rev[:8]
            if strategy == "latest" and self._time(repo, "MERGE_HEAD", p) > self._time(repo, "HEAD", p):
                keep, other, tag = theirs, ours, repo.git.rev_parse("HEAD")[:8]
            copy = copy_name(p, tag)
            n = 2
            while (root / copy).exists():
                copy = copy_name(p, f"{tag} {n}")
                n += 1
            _write(root / p, keep)
            _write(root / copy, other)
            copies[p] = copy
        if strategy == "alert":
            note = root / CONFLICT_NOTE
            existing = note.read_text(errors="replace") if note.exists() else ""
            note.write_text(conflict_note(copies, self.clock(), existing))
        repo.git.add("-A")
        repo.git.commit(
            "-q",
            "--no-verify",
            "-m",
            f"vault merge: kept both versions of {len(unmerged)} conflicted file(s)",
        )
        how = (
            "the newer version in the note, the other"
            if strategy == "latest"
            else "one version in the note, the other"
        )
        steps.append(
            self._step(
                "conflict",
                trigger,
                files=unmerged,
                commit=self._head(repo),
                strategy=strategy,
                copies=copies,
                needs_attention=strategy == "alert",
                detail=f"{how} in a copy" + (f"; listed in {CONFLICT_NOTE}" if strategy == "alert" else ""),
            )
        )
        return False

    def _time(self, repo: Repo, rev: str, path: str) -> int:
        out = repo.git.log("-1", "--format=%ct", rev, "--", path)
        return int(out) if out.strip() else 0

    def _count_open(self, repo: Repo) -> int:
        if self._merging(repo):
            return len(self._unmerged(repo))
        note = self.cfg.path / CONFLICT_NOTE
        n = len(self._marker_paths)
        if note.exists():
            copies = listed_copies(note.read_text(errors="replace"))
            n += sum(1 for c in copies.values() if (self.cfg.path / c).exists())
        return n

    # --- media ------------------------------------------------------------------------------------

    def _media(self, scan: _Scan, trigger: Trigger, steps: list[ObsidianSyncObserved]) -> str:
        now = {p: (size, mtime) for p, size, mtime in scan.media}
        sent = self._media_sent
        changed = [p for p in now if sent is None or sent.get(p) != now[p]]
        if not changed:
            return ""
        target = str(self.cfg.media_rsync_target)
        with tempfile.NamedTemporaryFile("wb", prefix="wm-media-", suffix=".list") as lst:
            lst.write(b"\0".join(p.encode() for p in changed) + b"\0")
            lst.flush()
            cmd = ["rsync", "-a", "--mkpath", "--from0", f"--files-from={lst.name}", "--out-format=%n"]
            if sent is not None:
                # Only files seen to change are listed; rsync's own quick check (size and mtime to the
                # second) would skip a same-size rewrite within one second, so it is told to not skip.
                cmd.append("--ignore-times")
            ssh = self.ssh()
            if ssh:
                cmd += ["-e", ssh]
            cmd += [f"{self.cfg.path}/", target if target.endswith("/") else target + "/"]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RSYNC_TIMEOUT, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"media rsync failed: {exc}"
        if proc.returncode != 0:
            return f"media rsync exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
        self._media_sent = now
        moved = [ln for ln in proc.stdout.splitlines() if ln and not ln.endswith("/")]
        if moved:
            steps.append(self._step("media", trigger, files=moved, detail=f"rsync to {_redact_url(target)}"))
        return ""

    # --- history ----------------------------------------------------------------------------------

    def _notes_added(self, repo: Repo) -> tuple[list[ObsidianNoteAddedObserved], str | None]:
        head = self._head(repo)
        if head is None or head == self.history_head:
            return [], self.history_head
        rng = head
        if self.history_head and self._valid(repo, self.history_head):
            rng = f"{self.history_head}..{head}"
        out = repo.git.log(
            "--reverse",
            "--diff-filter=A",
            "--name-only",
            "--no-renames",
            # A merge's own additions (conflict copies, the conflict note) count at the merge; what it
            # brought from the other side counts at the commit that added it there.
            "--cc",
            "--format=@@%H %ct",
            rng,
            "--",
            "*.md",
        )
        notes: list[ObsidianNoteAddedObserved] = []
        commit, ts = "", 0
        for line in out.splitlines():
            if line.startswith("@@"):
                commit, _, t = line[2:].partition(" ")
                ts = int(t)
            elif line.strip() and commit:
                notes.append(
                    ObsidianNoteAddedObserved(
                        ts=datetime.fromtimestamp(ts, UTC), vault=self.cfg.name, path=line, commit_hash=commit
                    )
                )
        return notes, head


def _holds_markers(path: Path) -> bool:
    try:
        return has_markers(path.read_text(errors="replace"))
    except OSError:
        return False


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _escape(path: str) -> str:
    """A path as a literal gitignore pattern."""
    out = "".join("\\" + c if c in "*?[\\" else c for c in path)
    if out.startswith(("#", "!")):
        out = "\\" + out
    return out.rstrip(" ") + ("\\ " if out.endswith(" ") else "")


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "stderr", "") or exc).strip()
    return " ".join(text.split())[-300:]


def _redact_url(url: str | None) -> str | None:
    """A remote as it may be shown: without a password in it (https://user:pw@host/...)."""
    if url is None or "://" not in url or "@" not in url.split("://", 1)[1].split("/", 1)[0]:
        return url
    scheme, rest = url.split("://", 1)
    creds, _, host = rest.partition("@")
    return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
