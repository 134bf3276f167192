"""A real OpenSSH server (Debian's openssh-server) on 127.0.0.1, for tests of ssh and rsync-over-ssh.

Each `running_sshd()` starts its own `sshd -D` on a free loopback port with a fresh host key and a fresh
client key in a temporary directory, accepting only that key, for the current user (root here). Clients
use `ssh_command()` (an `ssh ...` argv honouring the test's known_hosts) or `env()` (GIT_SSH_COMMAND for
git, RSYNC_RSH for rsync). Stopped and removed when the context ends.
"""

from __future__ import annotations

import contextlib
import getpass
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
READY_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Sshd:
    root: Path
    port: int
    user: str
    process: subprocess.Popen[bytes]

    @property
    def client_key(self) -> Path:
        return self.root / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def ssh_command(self) -> list[str]:
        """The ssh argv (without the destination) a client uses to reach this server."""
        return [
            "ssh",
            "-p",
            str(self.port),
            "-i",
            str(self.client_key),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
        ]

    @property
    def destination(self) -> str:
        return f"{self.user}@127.0.0.1"

    def env(self) -> dict[str, str]:
        """Environment for git (GIT_SSH_COMMAND) and rsync (RSYNC_RSH) to use this server."""
        cmd = shlex.join(self.ssh_command())
        return {"GIT_SSH_COMMAND": cmd, "RSYNC_RSH": cmd}

    def run(self, remote: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.ssh_command(), self.destination, remote],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log(self) -> str:
        path = self.root / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def running_sshd() -> Iterator[Sshd]:
    if not Path(SSHD).exists():
        raise RuntimeError(f"{SSHD} missing: scripts/dev-deps.sh install (openssh-server)")
    root = Path(tempfile.mkdtemp(prefix="wm-sshd-"))
    root.chmod(0o700)
    # sshd's privilege separation directory (created by the package's service unit normally).
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    _keygen(root / "host_ed25519")
    _keygen(root / "client_ed25519")
    authorized = root / "authorized_keys"
    shutil.copy(root / "client_ed25519.pub", authorized)
    authorized.chmod(0o600)
    port = free_port()
    host_pub = (root / "host_ed25519.pub").read_text().split()
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {root / 'host_ed25519'}",
                f"AuthorizedKeysFile {authorized}",
                f"PidFile {root / 'sshd.pid'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    proc = subprocess.Popen(
        [SSHD, "-D", "-f", str(config), "-E", str(root / "sshd.log")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Sshd(root=root, port=port, user=getpass.getuser(), process=proc)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {proc.returncode}: {server.log()}")
            if server.run("true", timeout=10).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd on 127.0.0.1:{port} did not accept the key: {server.log()}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
