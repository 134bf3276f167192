"""The Obsidian vault sync domain in the shell: `[[obsidian.vaults]]`, a source per vault, and its command's
executor options.

```toml
[[obsidian.vaults]]
name = "notes"                                  # the vault's id in the API, CLI and graph
path = "/home/me/Notes"
git_remote = "git@backup.lan:vaults/notes.git"  # ssh, file:// or a path; none: commit only
sync_interval = 300                             # seconds; the fallback when no edit settles
conflict_strategy = "alert"                     # alert | latest | manual
media_sync_enabled = true
media_rsync_target = "me@backup.lan:/srv/media/notes"
```
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from producers.obsidian.git_sync import VaultConfig
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore

# The extensions kept out of git and sent by rsync (producers/obsidian/vaultfiles.py has the same list:
# the shell may not import a producer at settings time, and a test keeps the two equal).
DEFAULT_MEDIA_EXTENSIONS: tuple[str, ...] = (
    "png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "tif", "tiff", "heic",
    "pdf", "mp3", "m4a", "wav", "ogg", "flac", "mp4", "mov", "webm", "mkv", "avi", "zip",
)  # fmt: skip
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_EXT = re.compile(r"^\.?[A-Za-z0-9]{1,16}$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,99}$")


class VaultSettings(BaseModel):
    """One `[[obsidian.vaults]]` entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="the vault's id: letters, digits, '.', '_', '-' (API, CLI, graph)")
    path: Path = Field(description="the vault's directory (cloned from git_remote when empty or missing)")
    git_remote: str | None = Field(None, description="ssh (user@host:repo), ssh://, file:// or a path")
    branch: str = "main"
    auto_sync: bool = True
    sync_interval: float = Field(300.0, ge=5, le=7 * 86400, description="seconds between fallback syncs")
    quiet_period: float = Field(5.0, ge=0.1, le=3600, description="seconds without edits before a commit")
    auto_commit: bool = True
    # obsidian-git's default; {{date}} (YYYY-MM-DD HH:mm:ss), {{hostname}}, {{numFiles}}, {{files}}.
    commit_message_template: str = Field("vault backup: {{date}}", min_length=1, max_length=500)
    pull_method: Literal["merge", "rebase"] = "merge"
    conflict_strategy: Literal["alert", "latest", "manual"] = "alert"
    media_sync_enabled: bool = False
    media_extensions: tuple[str, ...] = DEFAULT_MEDIA_EXTENSIONS
    # Files larger than this are media too (kept out of git, sent by rsync) whatever their extension.
    media_max_file_mb: float | None = Field(10.0, gt=0)
    media_rsync_target: str | None = Field(None, description="rsync destination: user@host:/dir or /dir")
    # The ssh program line for git and rsync (GIT_SSH_COMMAND, rsync -e); none: the environment's.
    ssh_command: str | None = None
    author_name: str = "The Watchman"
    author_email: str | None = Field(None, description="default watchman@<host>")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"vault name {v!r}: use letters, digits, '.', '_' and '-' (it is the vault's id in URLs)"
            )
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: Path) -> Path:
        if not v.is_absolute():
            raise ValueError(f"vault path {str(v)!r} must be absolute")
        return v

    @field_validator("branch")
    @classmethod
    def _branch(cls, v: str) -> str:
        if not _BRANCH.match(v) or ".." in v or v.endswith((".", "/", ".lock")):
            raise ValueError(f"not a git branch name: {v!r}")
        return v

    @field_validator("git_remote", "media_rsync_target")
    @classmethod
    def _no_option(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or v.lstrip().startswith("-")):
            raise ValueError(f"{v!r} is not a remote (empty, or it would be read as an option)")
        return v

    @field_validator("media_extensions")
    @classmethod
    def _exts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [e for e in v if not _EXT.match(e)]
        if bad:
            raise ValueError(f"media_extensions: {bad} are not file extensions (png, .pdf, ...)")
        return tuple(e.lstrip(".").lower() for e in v)

    @model_validator(mode="after")
    def _media(self) -> VaultSettings:
        if self.media_sync_enabled and not self.media_rsync_target:
            raise ValueError(f"vault {self.name!r}: media_sync_enabled needs media_rsync_target")
        return self


class ObsidianSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    vaults: tuple[VaultSettings, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> ObsidianSettings:
        names = [v.name for v in self.vaults]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(
                f"obsidian.vaults: the name {dup[0]!r} is used twice (names are the vaults' ids)"
            )
        paths = [v.path.resolve() for v in self.vaults]
        for i, p in enumerate(paths):
            for q in paths[i + 1 :]:
                if p == q or p.is_relative_to(q) or q.is_relative_to(p):
                    raise ValueError(f"obsidian.vaults: {p} and {q} overlap (one vault per directory)")
        return self


def vault_config(settings: Settings, v: VaultSettings) -> VaultConfig:
    """The syncer's view of one vault."""
    # Imported here: GitPython is only loaded on hosts that sync a vault.
    from producers.obsidian.git_sync import VaultConfig

    return VaultConfig(
        name=v.name,
        path=v.path,
        git_remote=v.git_remote,
        branch=v.branch,
        auto_commit=v.auto_commit,
        commit_message_template=v.commit_message_template,
        pull_method=v.pull_method,
        conflict_strategy=v.conflict_strategy,
        media_sync_enabled=v.media_sync_enabled,
        media_extensions=v.media_extensions,
        media_max_file_mb=v.media_max_file_mb,
        media_rsync_target=v.media_rsync_target,
        ssh_command=v.ssh_command,
        author_name=v.author_name,
        author_email=v.author_email or f"watchman@{settings.host}",
        hostname=settings.host or socket.gethostname(),
    )


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    if not settings.obsidian.vaults:
        return []
    from producers.obsidian.source import VaultSource

    out: list[Source] = []
    for v in settings.obsidian.vaults:
        cfg = vault_config(settings, v)
        out.append(
            VaultSource(
                cfg,
                settings.host,
                cursors.get(f"obsidian:{v.name}"),
                auto_sync=v.auto_sync,
                sync_interval=v.sync_interval,
                quiet_period=v.quiet_period,
            )
        )
    return out


def describe(settings: Settings) -> list[tuple[str, str]]:
    """(label, text) lines for `watchman config check`."""
    out: list[tuple[str, str]] = []
    for v in settings.obsidian.vaults:
        where = (
            "found"
            if (v.path / ".git").exists()
            else ("not a git repository yet" if v.path.exists() else "missing")
        )
        remote = v.git_remote or "no remote"
        mode = f"auto every {v.sync_interval:g}s + edits" if v.auto_sync else "on command only"
        out.append(
            (
                f"obsidian {v.name}",
                f"{v.path} ({where}) -> {remote}; {mode}; conflicts: {v.conflict_strategy}",
            )
        )
    return out
