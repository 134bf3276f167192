"""Pure helpers of the vault syncer: conflict markers, conflict copies and their note, the commit message,
the managed .gitignore block and which files are media (no I/O here)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import PurePosixPath

# The note that lists conflicted notes and the copies that keep the other side (obsidian-git writes
# conflict-files-obsidian-git.md the same way); deleting every listed copy resolves the conflict.
CONFLICT_NOTE = "conflict-files-watchman.md"

# Start and end of the block of .gitignore the syncer owns; lines outside it are the user's and stay.
IGNORE_BEGIN = "# >>> watchman obsidian sync (managed: edit outside this block)"
IGNORE_END = "# <<< watchman obsidian sync"
# obsidian-git's users' most reported conflict is .obsidian/workspace.json (per device UI state).
DEFAULT_IGNORES = (
    ".obsidian/workspace.json",
    ".obsidian/workspace-mobile.json",
    ".obsidian/workspace*.json",
    ".trash/",
    ".DS_Store",
)

DEFAULT_MEDIA_EXTENSIONS = (
    "png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "tif", "tiff", "heic",
    "pdf", "mp3", "m4a", "wav", "ogg", "flac", "mp4", "mov", "webm", "mkv", "avi", "zip",
)  # fmt: skip

_START = re.compile(r"^<{7}(?: |$)", re.MULTILINE)
_MID = re.compile(r"^={7}$", re.MULTILINE)
_END = re.compile(r"^>{7}(?: |$)", re.MULTILINE)


def has_markers(text: str) -> bool:
    """Does the text hold a whole set of git conflict markers (<<<<<<<, =======, >>>>>>> at line starts,
    in that order)? A note that merely mentions one of them does not count."""
    start = _START.search(text)
    if start is None:
        return False
    mid = _MID.search(text, start.end())
    return mid is not None and _END.search(text, mid.end()) is not None


def copy_name(path: str, tag: str) -> str:
    """Where the other side of a conflicted note is kept: `Folder/Note (conflict TAG).md`."""
    p = PurePosixPath(path)
    return str(p.with_name(f"{p.stem} (conflict {tag}){p.suffix}"))


def conflict_note(copies: dict[str, str], when: datetime, existing: str = "") -> str:
    """The conflict note: what it listed before (still open) plus the new pairs, as Obsidian links."""
    lines = [ln for ln in existing.splitlines() if ln.startswith("- ")]
    for note, copy in sorted(copies.items()):
        line = f"- [[{note}]] and its other version [[{copy}]]"
        if line not in lines:
            lines.append(line)
    return (
        "# Sync conflicts\n\n"
        f"Updated {when:%Y-%m-%d %H:%M:%S} UTC. Both sides of each conflicted note are kept: the note holds "
        "one version, the copy the other. Merge what you need into the note and delete the copy; once "
        "every copy listed here is gone the conflict is resolved and this note is removed.\n\n"
        + "\n".join(lines)
        + "\n"
    )


_LINK = re.compile(r"^- \[\[(.+?)\]\] and its other version \[\[(.+?)\]\]$", re.MULTILINE)


def listed_copies(note_text: str) -> dict[str, str]:
    """note -> copy, as the conflict note lists them."""
    return {m.group(1): m.group(2) for m in _LINK.finditer(note_text)}


def commit_message(template: str, when: datetime, hostname: str, files: list[str]) -> str:
    """obsidian-git's placeholders: {{date}} (YYYY-MM-DD HH:mm:ss), {{hostname}}, {{numFiles}}, {{files}}."""
    return (
        template.replace("{{date}}", f"{when:%Y-%m-%d %H:%M:%S}")
        .replace("{{hostname}}", hostname)
        .replace("{{numFiles}}", str(len(files)))
        .replace(
            "{{files}}", ", ".join(files[:20]) + (f" and {len(files) - 20} more" if len(files) > 20 else "")
        )
    )


def media_patterns(extensions: Iterable[str]) -> list[str]:
    """.gitignore patterns for media extensions, both cases (git's matching is case-sensitive)."""
    out: list[str] = []
    for ext in extensions:
        e = ext.lstrip(".").lower()
        for variant in dict.fromkeys((e, e.upper())):
            out.append(f"*.{variant}")
    return out


def managed_gitignore(current: str, entries: Iterable[str]) -> str:
    """`current` with the managed block set to `entries` (appended when absent; the rest untouched)."""
    block = "\n".join([IGNORE_BEGIN, *entries, IGNORE_END])
    if IGNORE_BEGIN in current and IGNORE_END in current:
        head, _, rest = current.partition(IGNORE_BEGIN)
        _, _, tail = rest.partition(IGNORE_END)
        return head + block + tail
    sep = "" if not current or current.endswith("\n") else "\n"
    return current + sep + block + "\n"


def extension(path: str) -> str:
    """The lower-case extension of a path's last part ("" for none and for dot files)."""
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot + 1 :].lower() if dot > 0 else ""


def is_media(path: str, size: int, extensions: frozenset[str], max_file_bytes: int | None) -> bool:
    """Media goes by rsync, not git: by extension, or any file but a note larger than the size limit
    (a note always belongs in git, however long)."""
    ext = extension(path)
    if ext == "md":
        return False
    return ext in extensions or (max_file_bytes is not None and size > max_file_bytes)


def is_note(path: str) -> bool:
    return path.lower().endswith(".md")
