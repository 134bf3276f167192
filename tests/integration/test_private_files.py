"""File modes and binding of a real `watchman run`: what it creates is 0600/0700, an open data directory
is closed with a warning, a token file readable by others is warned about, and a non-loopback API
address is refused unless the user says so."""

from __future__ import annotations

import os
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.instance import Instance
from watchman.private_files import RemoteListenRefused, check_listen, is_loopback

NOW = datetime.now(UTC).replace(microsecond=0)


def apt_entry(when: datetime, line: str) -> str:
    stamp = when.strftime("%Y-%m-%d  %H:%M:%S")
    return f"Start-Date: {stamp}\nCommandline: apt-get install\n{line}\nEnd-Date: {stamp}\n\n"


def open_to_others(root: Path) -> list[str]:
    """Every path under root (root included) with any group or other permission bit."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if not stat.S_ISLNK(path.lstat().st_mode) and mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {mode:04o}")
    return found


@pytest.fixture
def inst(tmp_path: Path) -> Instance:
    i = Instance(tmp_path / "w")
    i.write_config()
    i.apt_log.parent.mkdir(parents=True, exist_ok=True)
    i.apt_log.write_text(apt_entry(NOW - timedelta(days=1), "Install: nginx:amd64 (1.22.1-9)"))
    return i


def test_everything_in_the_data_directory_is_private(inst: Instance) -> None:
    old = os.umask(0o022)  # the test runner's own umask must not be what makes the files private
    try:
        proc = inst.start()
    finally:
        os.umask(old)
    try:
        inst.wait_ready(proc)
        deadline = time.monotonic() + 60
        while not (inst.data_dir / "api.url").exists() or not inst.query("MATCH (e:Event) RETURN e.id"):
            assert time.monotonic() < deadline, inst.daemon_log()
            time.sleep(0.05)
        names = {p.name for p in inst.data_dir.rglob("*")}
        assert {
            "log.sqlite",
            "log.sqlite-wal",
            "log.sqlite-shm",
            "api.url",
            "daemon.lock",
            "graph.lbug",
        } <= names
        assert open_to_others(inst.data_dir) == []  # while it runs: WAL, shm, graph files, lock, socket
    finally:
        assert inst.stop(proc) == 0
    assert open_to_others(inst.data_dir) == []
    # A command that only reads (and opens the graph itself) keeps it that way too.
    inst.cli("status")
    assert open_to_others(inst.data_dir) == []


def test_an_open_data_directory_is_closed_and_an_open_token_file_is_told(inst: Instance) -> None:
    inst.data_dir.mkdir(parents=True)
    inst.data_dir.chmod(0o755)
    token = inst.data_dir / "api.token"
    token.write_text("a-token-someone-made-by-hand-0123456789abcdef\n")
    token.chmod(0o644)
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        deadline = time.monotonic() + 30
        while "token file" not in inst.daemon_log():
            assert time.monotonic() < deadline, inst.daemon_log()
            time.sleep(0.05)
    finally:
        inst.stop(proc)
    log = inst.daemon_log()
    assert f"data directory {inst.data_dir} was readable by others (mode 0755); made it 0700" in log
    assert f"token file {token} is readable by others (mode 0644)" in log and "chmod 600" in log
    assert stat.S_IMODE(inst.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(token.stat().st_mode) == 0o644  # told, not changed: it may be a mounted secret
    assert "a-token-someone" not in log  # the warning names the file, never the secret


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0"])
def test_a_non_loopback_api_address_is_refused_without_api_allow_remote(inst: Instance, listen: str) -> None:
    inst.write_config(api_listen=listen)
    proc = inst.cli("run", "--once", check=False)
    assert proc.returncode != 0
    assert "api_allow_remote" in proc.stderr and "TLS" in proc.stderr
    assert not (inst.data_dir / "api.url").exists()
    # The distributed commands' --api-listen flag is held to the same rule.
    inst.write_config()
    produce = inst.cli("produce", "--once", "--api-listen", listen, check=False)
    assert produce.returncode == 2 and "api_allow_remote" in produce.stderr


def test_the_listen_rule() -> None:
    for loopback in ("127.0.0.1:9650", "127.0.0.2:1", "[::1]:9650", "localhost:9650"):
        check_listen(loopback, allow_remote=False)
    assert is_loopback("localhost") and not is_loopback("0.0.0.0") and not is_loopback("::")
    with pytest.raises(RemoteListenRefused, match="api_allow_remote"):
        check_listen("0.0.0.0:9650", allow_remote=False)
    check_listen("0.0.0.0:9650", allow_remote=True)  # said explicitly: allowed
