"""What a process keeps to itself: file modes of the data directory, token files, and where it listens.

The data directory holds the whole event history (log.sqlite and its -wal/-shm), the graph, the API's
URL, locks and the producer's spool. SQLite and LadybugDB create their side files themselves (WAL,
shm, shadow pages) with the process's umask, so a chmod after creation would always race one of them:
the umask 077 is set once at the process's entry (`watchman` and every sub-command) and everything the
process creates is 0600/0700 from the first byte. A data directory that already exists with group or
other access (made by an older version, or by hand) is narrowed to 0700 with a warning: that alone
closes everything below it. A token file readable by others is only warned about, not changed: it may
be a mounted secret (compose) or a file the operator placed on purpose.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import stat
from pathlib import Path

log = logging.getLogger(__name__)

UMASK = 0o077


def private_umask() -> int:
    """Files 0600, directories 0700 from here on; returns the previous umask."""
    return os.umask(UMASK)


def secure_data_dir(path: Path) -> str | None:
    """Create the data directory 0700, or narrow an existing one that others can enter; the warning
    given (None when there was nothing to do)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return None
    try:
        path.chmod(mode & 0o700)
    except OSError as exc:
        message = f"data directory {path} is open to others (mode {mode:04o}) and could not be fixed: {exc}"
    else:
        message = (
            f"data directory {path} was readable by others (mode {mode:04o}); made it 0700 "
            "(it holds the event log, the graph and the API's files)"
        )
    log.warning("%s", message)
    return message


def check_token_file(path: Path) -> str | None:
    """A warning when a token file can be read by others than its owner (the file is left as it is)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if not mode & 0o077:
        return None
    message = (
        f"token file {path} is readable by others (mode {mode:04o}): anyone who reads it can use the API; "
        f"chmod 600 {path}"
    )
    log.warning("%s", message)
    return message


class RemoteListenRefused(ValueError):
    """api_listen names an address beyond this host and api_allow_remote is not set."""


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback address (127.0.0.0/8, ::1, localhost)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0])).is_loopback for info in infos)


def check_listen(listen: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback admin API address unless the user said so (api_allow_remote = true)."""
    host = listen.rpartition(":")[0]
    if allow_remote or is_loopback(host):
        return
    raise RemoteListenRefused(
        f"the admin API would listen on {listen}, reachable from other hosts, over plain HTTP: set "
        "api_allow_remote = true (WATCHMAN_API_ALLOW_REMOTE=true) to mean it, and put TLS in front "
        "(docs/operations.md, 'Reaching the API from elsewhere'); or keep 127.0.0.1"
    )
