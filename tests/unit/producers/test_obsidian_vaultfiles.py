"""The vault syncer's pure helpers: conflict markers, copies and their note, commit messages, the managed
.gitignore block, media by extension and size."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from producers.obsidian import vaultfiles
from producers.obsidian.vaultfiles import (
    IGNORE_BEGIN,
    commit_message,
    conflict_note,
    copy_name,
    has_markers,
    is_media,
    listed_copies,
    managed_gitignore,
    media_patterns,
)
from watchman.domains import obsidian as shell

WHEN = datetime(2026, 12, 4, 9, 5, 7, tzinfo=UTC)


def test_markers_need_the_whole_set_at_line_starts() -> None:
    # As git writes them for a conflicted text file.
    assert has_markers("a\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> 3a23ff9 (vault backup)\nz\n")
    assert has_markers("<<<<<<<\n=======\n>>>>>>>\n")
    assert not has_markers("git writes <<<<<<< and ======= and >>>>>>> in conflicts\n")
    assert not has_markers("<<<<<<< HEAD\nours\n=======\n")  # no end
    assert not has_markers(">>>>>>> x\n=======\n<<<<<<< y\n")  # wrong order
    assert not has_markers("# Title\n\n=======\n")


@given(st.text())
def test_markers_never_crash(text: str) -> None:
    assert has_markers(text) in (True, False)


def test_copy_names_keep_folder_and_extension() -> None:
    assert copy_name("Projects/Road map.md", "3a23ff9f") == "Projects/Road map (conflict 3a23ff9f).md"
    assert copy_name("canvas.canvas", "ab") == "canvas (conflict ab).canvas"


def test_conflict_note_lists_pairs_and_reads_back() -> None:
    first = conflict_note({"A.md": "A (conflict 1).md"}, WHEN)
    both = conflict_note({"B/C.md": "B/C (conflict 2).md"}, WHEN, first)
    assert listed_copies(both) == {"A.md": "A (conflict 1).md", "B/C.md": "B/C (conflict 2).md"}
    assert "[[A.md]]" in both and "2026-12-04 09:05:07" in both
    # Listing the same pair again adds nothing.
    assert conflict_note({"A.md": "A (conflict 1).md"}, WHEN, both).count("[[A.md]]") == 1


def test_commit_message_placeholders_as_obsidian_git() -> None:
    assert (
        commit_message("vault backup: {{date}}", WHEN, "h", ["a.md"]) == "vault backup: 2026-12-04 09:05:07"
    )
    msg = commit_message("{{hostname}}: {{numFiles}} files ({{files}})", WHEN, "laptop", ["a.md", "b.md"])
    assert msg == "laptop: 2 files (a.md, b.md)"
    many = commit_message("{{files}}", WHEN, "h", [f"{i}.md" for i in range(25)])
    assert many.endswith("and 5 more")


def test_managed_gitignore_keeps_the_users_lines_and_is_idempotent() -> None:
    user = "my-secret-folder/\n*.tmp"
    once = managed_gitignore(user, [".trash/", "*.png"])
    assert once.startswith("my-secret-folder/\n*.tmp\n" + IGNORE_BEGIN)
    assert managed_gitignore(once, [".trash/", "*.png"]) == once
    changed = managed_gitignore(once + "after\n", [".trash/"])
    assert "*.png" not in changed and changed.endswith("after\n") and "my-secret-folder/" in changed
    assert managed_gitignore("", ["x"]) == f"{IGNORE_BEGIN}\nx\n{vaultfiles.IGNORE_END}\n"


def test_media_by_extension_any_case_or_by_size() -> None:
    exts = frozenset({"png", "pdf"})
    assert is_media("a/b.PNG", 1, exts, None)
    assert not is_media("note.md", 10**9, exts, None)
    assert is_media("dump.bin", 11, exts, 10)
    assert not is_media("dump.bin", 10, exts, 10)
    assert not is_media("long note.md", 11, exts, 10)  # a note always goes by git
    assert not is_media(".png", 1, exts, None)  # a dot file has no extension
    assert media_patterns(["png", ".PDF"]) == ["*.png", "*.PNG", "*.pdf", "*.PDF"]


def test_the_shell_and_the_producer_default_to_the_same_media() -> None:
    assert shell.DEFAULT_MEDIA_EXTENSIONS == vaultfiles.DEFAULT_MEDIA_EXTENSIONS
