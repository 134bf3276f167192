"""The versions repository (I/O): every version of every tracked config file, in git under the data directory.

Layout: a file's path on the host without its leading slash (`etc/nginx/nginx.conf`), as etckeeper
keeps /etc; owner, group and mode of every file in `.metadata` at the top (git keeps neither), one line
`mode owner group path` per file, as etckeeper's `.etckeeper` does for what git forgets. A secret file
is stored as a placeholder that names its hash only (`PLACEHOLDER` + sha256): its content never enters
git. Binary and oversized files likewise (their content is not worth a diff; their hash is the version).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git

log = logging.getLogger(__name__)

PLACEHOLDER = b"# watchman: content not kept (secret, binary or too large); sha256 "
METADATA = ".metadata"
# Secret versions encrypted to the configured age recipients, beside the placeholders (never in .metadata).
ENCRYPTED = ".encrypted"
AUTHOR = git.Actor("The Watchman", "watchman@localhost")
# One repository is written by the scanner and read (and rolled back from) by executors and the CLI.
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path.resolve(), threading.Lock())


@dataclass(frozen=True)
class Stored:
    """What goes into the repository for one file: its content, or a placeholder naming the hash."""

    path: str
    content: bytes | None  # None: removed
    owner: str = ""
    group: str = ""
    mode: str = ""


@dataclass(frozen=True)
class Version:
    rev: str
    ts: datetime
    message: str


class VersionsError(LookupError):
    """A path or revision the repository does not hold, or a version whose content was never kept."""


def placeholder(sha256: str) -> bytes:
    return PLACEHOLDER + sha256.encode() + b"\n"


def is_placeholder(data: bytes) -> bool:
    return data.startswith(PLACEHOLDER)


def encrypted_path(path: str) -> str:
    """Where the age-encrypted version of a secret file is kept (a path in the repository's terms)."""
    return f"/{ENCRYPTED}{path}.age"


def rel(path: str) -> str:
    if not path.startswith("/") or "/../" in path + "/" or "\x00" in path:
        raise VersionsError(f"not an absolute path: {path!r}")
    return path.lstrip("/")


class VersionsRepo:
    """A git repository of file versions; commits are made with GitPython over the git binary."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = _lock(root)
        root.mkdir(parents=True, exist_ok=True)
        if (root / ".git").exists():
            self.repo = git.Repo(root)
        else:
            self.repo = git.Repo.init(root)
            with self.repo.config_writer() as cw:
                cw.set_value("user", "name", AUTHOR.name)
                cw.set_value("user", "email", AUTHOR.email)
                cw.set_value("core", "fileMode", "false")
                # Nobody else may read what is kept (the data directory is 0700 anyway).
                cw.set_value("core", "sharedRepository", "0600")

    def _metadata(self) -> dict[str, str]:
        f = self.root / METADATA
        if not f.exists():
            return {}
        out: dict[str, str] = {}
        for line in f.read_text().splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4:
                out[parts[3]] = line
        return out

    def commit(self, files: list[Stored], message: str) -> str | None:
        """Write these versions and commit them in one commit; the commit id, or None if nothing changed."""
        if not files:
            return None
        with self.lock:
            meta = self._metadata()
            add: list[str] = []
            remove: list[str] = []
            for f in files:
                r = rel(f.path)
                target = self.root / r
                if f.content is None:
                    meta.pop(f.path, None)
                    if target.exists():
                        remove.append(r)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(f.content)
                if not r.startswith(ENCRYPTED + "/"):
                    meta[f.path] = f"{f.mode or '-'} {f.owner or '-'} {f.group or '-'} {f.path}"
                add.append(r)
            (self.root / METADATA).write_text("".join(line + "\n" for _, line in sorted(meta.items())))
            add.append(METADATA)
            if remove:
                self.repo.index.remove(remove, working_tree=True)
            self.repo.git.add("--", *add)
            if self.repo.head.is_valid() and not self.repo.index.diff("HEAD"):
                return None
            commit = self.repo.index.commit(message, author=AUTHOR, committer=AUTHOR)
            return commit.hexsha

    def head(self) -> str | None:
        return self.repo.head.commit.hexsha if self.repo.head.is_valid() else None

    def history(self, path: str, limit: int = 100) -> list[Version]:
        """The commits that changed `path`, newest first."""
        r = rel(path)
        if not self.repo.head.is_valid():
            return []
        with self.lock:
            commits = list(self.repo.iter_commits("HEAD", paths=r, max_count=limit))
        return [
            Version(c.hexsha, datetime.fromtimestamp(c.committed_date, UTC), str(c.message).strip())
            for c in commits
        ]

    def resolve(self, rev: str) -> str:
        try:
            return self.repo.commit(rev).hexsha
        except (git.BadName, ValueError, git.GitCommandError) as exc:
            raise VersionsError(f"no revision {rev!r} in the versions repository") from exc

    def content(self, path: str, rev: str = "HEAD") -> bytes:
        """The bytes of `path` as of `rev` (a placeholder for what was never kept)."""
        r = rel(path)
        try:
            commit = self.repo.commit(rev)
            blob = commit.tree / r
        except (git.BadName, ValueError, KeyError, git.GitCommandError) as exc:
            raise VersionsError(f"{path} is not in the versions repository at {rev}") from exc
        data: bytes = blob.data_stream.read()
        return data

    def metadata(self, path: str, rev: str = "HEAD") -> tuple[str, str, str] | None:
        """(mode, owner, group) of `path` as recorded at `rev`."""
        try:
            text = (self.repo.commit(rev).tree / METADATA).data_stream.read().decode()
        except (git.BadName, ValueError, KeyError, git.GitCommandError):
            return None
        for line in text.splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4 and parts[3] == path:
                return parts[0], parts[1], parts[2]
        return None

    def tag(self, name: str, rev: str = "HEAD") -> None:
        with self.lock:
            self.repo.create_tag(name, ref=rev, force=True)

    def has(self, rev: str) -> bool:
        try:
            self.repo.commit(rev)
            return True
        except (git.BadName, ValueError, git.GitCommandError):
            return False

    def tracked(self, rev: str = "HEAD") -> list[str]:
        """Every path (absolute) the repository holds at `rev`."""
        if not self.has(rev):
            return []
        out = self.repo.git.ls_tree("-r", "--name-only", rev).splitlines()
        return ["/" + p for p in out if p != METADATA and not p.startswith(ENCRYPTED + "/")]


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
