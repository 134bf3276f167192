"""Which systemd service a process belongs to, from the text of /proc/PID/cgroup (pure)."""

from __future__ import annotations


def cgroup_path(text: str) -> str | None:
    """The process's path in systemd's hierarchy: the unified (cgroup v2) line, or on a hybrid/legacy
    system the `name=systemd` line (the v2 line there is often just "/")."""
    unified: str | None = None
    named: str | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "":
            unified = path
        elif controllers == "name=systemd":
            named = path
    for candidate in (named, unified):
        if candidate and candidate != "/":
            return candidate
    return unified or named


def unit_of(text: str) -> str | None:
    """The deepest `*.service` in the path: /system.slice/nginx.service -> nginx.service; a user's
    service (user@1000.service/app.slice/foo.service) -> foo.service; no service (a scope, a container,
    the root) -> None."""
    path = cgroup_path(text)
    if not path:
        return None
    for part in reversed(path.strip("/").split("/")):
        if part.endswith(".service") and len(part) > len(".service"):
            return part
    return None
