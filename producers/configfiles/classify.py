"""What a config file is (pure): its application, whether it holds secrets, how two versions differ.

Secrets are decided twice, by path and by content, and either is enough: a file that looks secret is
tracked by hash only (never copied into the versions repository, never diffed into an event).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Sequence
from pathlib import PurePosixPath

# Paths that hold secrets on a Debian/RHEL host (shell patterns over the absolute path).
SECRET_PATHS: tuple[str, ...] = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/ssh/ssh_host_*_key",
    "/etc/ssl/private/*",
    "/etc/pki/*/private/*",
    "*.key",
    "*.pem",
    "*.p12",
    "*.pfx",
    "*/id_rsa",
    "*/id_ecdsa",
    "*/id_ed25519",
    "*/id_dsa",
    "*/.netrc",
    "*/.pgpass",
    "*/credentials",
    "*/credentials.json",
    "*token*",
    "*secret*",
    "*password*",
    "*.age",
    "/etc/wireguard/*",
    "/etc/ppp/*-secrets",
    "/etc/NetworkManager/system-connections/*",
)
# Content that marks a secret wherever the file is (checked on the first 1 MiB).
SECRET_MARKERS: tuple[re.Pattern[bytes], ...] = (
    re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
    re.compile(rb"-----BEGIN PGP PRIVATE KEY BLOCK-----"),
    re.compile(rb"AGE-SECRET-KEY-1"),
    re.compile(
        rb"(?im)^\s*(?:export\s+)?[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key)"
        rb"[A-Za-z0-9_.-]*\s*[=:]\s*\S"
    ),
    re.compile(rb"(?m)^[^:\s]+:\$(?:1|2[aby]?|5|6|y|gy|7)\$"),  # a shadow-style crypt hash
    re.compile(rb"aws_secret_access_key", re.I),
    re.compile(rb"\bghp_[A-Za-z0-9]{20,}"),
    re.compile(rb"\bxox[abp]-[A-Za-z0-9-]{10,}"),
)
# Applications whose files sit at known places (the first match wins).
APP_PATHS: tuple[tuple[str, str], ...] = (
    ("/etc/ssh/sshd_config*", "sshd"),
    ("/etc/ssh/*", "ssh"),
    ("/etc/sudoers", "sudo"),
    ("/etc/sudoers.d/*", "sudo"),
    ("/etc/systemd/*", "systemd"),
    ("/lib/systemd/*", "systemd"),
    ("/usr/lib/systemd/*", "systemd"),
)


def is_secret_path(path: str, extra: Sequence[str] = ()) -> bool:
    name = PurePosixPath(path).name
    for pattern in (*SECRET_PATHS, *extra):
        if fnmatch.fnmatchcase(path, pattern) or ("/" not in pattern and fnmatch.fnmatchcase(name, pattern)):
            return True
    return False


def has_secret_content(data: bytes) -> bool:
    head = data[: 1 << 20]
    return any(m.search(head) for m in SECRET_MARKERS)


def is_secret(path: str, data: bytes | None, extra: Sequence[str] = ()) -> bool:
    return is_secret_path(path, extra) or (data is not None and has_secret_content(data))


def app_of(path: str, roots: Sequence[str] = ("/etc",), declared: dict[str, str] | None = None) -> str | None:
    """The application a file configures: declared first, then well-known places, then the first
    directory under its tracked root (/etc/nginx/sites-enabled/x -> nginx, ~/.config/git/config -> git)."""
    if declared and path in declared:
        return declared[path]
    for pattern, app in APP_PATHS:
        if fnmatch.fnmatchcase(path, pattern):
            return app
    for root in sorted(roots, key=len, reverse=True):
        prefix = root.rstrip("/") + "/"
        if path.startswith(prefix):
            rest = path[len(prefix) :].split("/")
            if len(rest) > 1:
                return rest[0].lstrip(".") or None
            stem = PurePosixPath(rest[0]).stem
            return stem.lstrip(".") or None
    return None


def is_text(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def diff_stats(old: bytes | None, new: bytes | None) -> tuple[int, int] | None:
    """(lines added, lines removed) from old to new; None when either side is not text."""
    if (old is not None and not is_text(old)) or (new is not None and not is_text(new)):
        return None
    a = (old or b"").decode("utf-8").splitlines()
    b = (new or b"").decode("utf-8").splitlines()
    added = removed = 0
    for line in difflib.unified_diff(a, b, lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def unified_diff(old: bytes, new: bytes, old_name: str, new_name: str, limit: int = 8192) -> str:
    """A unified diff of two text versions, cut to `limit` characters (a marker says when)."""
    if not (is_text(old) and is_text(new)):
        return ""
    text = "\n".join(
        difflib.unified_diff(
            old.decode("utf-8").splitlines(),
            new.decode("utf-8").splitlines(),
            old_name,
            new_name,
            lineterm="",
        )
    )
    if len(text) > limit:
        marker = "\n… (diff cut)"
        text = text[: limit - len(marker)] + marker
    return text


def excluded(path: str, patterns: Sequence[str]) -> bool:
    """Does a pattern match the path, its name, or a directory it lies in?"""
    if not patterns:
        return False
    p = PurePosixPath(path)
    for candidate in (p, *p.parents):
        text, name = str(candidate), candidate.name
        if text == "/":
            break
        if any(fnmatch.fnmatchcase(text, pat) or fnmatch.fnmatchcase(name, pat) for pat in patterns):
            return True
    return False
