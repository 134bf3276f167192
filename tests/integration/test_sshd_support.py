"""The test sshd (tests/support/sshd.py) serves ssh, rsync and git for the domains that use them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sshd import Sshd, running_sshd


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    with running_sshd() as server:
        yield server


def test_ssh_runs_a_command_only_with_the_test_key(sshd: Sshd, tmp_path: Path) -> None:
    assert sshd.run("echo hello").stdout == "hello\n"
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    cmd = sshd.ssh_command()
    cmd[cmd.index(str(sshd.client_key))] = str(other)
    denied = subprocess.run([*cmd, sshd.destination, "true"], check=False, capture_output=True, timeout=30)
    assert denied.returncode == 255


def test_rsync_and_git_over_ssh(sshd: Sshd, tmp_path: Path) -> None:
    env = {**os.environ, **sshd.env()}
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(4096))
    subprocess.run(["rsync", "-a", f"{src}/", f"{sshd.destination}:{dst}/"], env=env, check=True, timeout=60)
    assert (dst / "a.bin").read_bytes() == (src / "a.bin").read_bytes()

    bare = tmp_path / "vault.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", f"ssh://{sshd.destination}:{sshd.port}{bare}", str(clone)],
        env=env,
        check=True,
        timeout=60,
    )
    assert (clone / ".git").is_dir()
