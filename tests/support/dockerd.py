"""A real Docker engine for tests: Debian's dockerd with private roots and socket, in its own netns.

dockerd runs as root with `--iptables=false --ip6tables=false --bridge=none` and private
--data-root/--exec-root/--pidfile/-H unix socket under a temporary directory. It is started inside a
fresh network namespace (nsenter --net, so /sys and the cgroup mounts stay the host's): user-defined
bridge networks, veths and the docker-proxy that publishes ports then live in that namespace and never
touch the host's network. Images come from `docker import` of a tar holding busybox-static, no
registry. Teardown stops the engine (and any containerd/shim it left), removes the namespace, unmounts
what is left under the directory and deletes it, even when the test failed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUSYBOX = Path("/bin/busybox")
READY_TIMEOUT = 60.0


def busybox_rootfs_tar() -> bytes:
    """A root filesystem with /bin/busybox (static) and /bin/sh -> busybox, as an uncompressed tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "data"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for applet in ("sh", "sleep", "true", "nc", "httpd"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buf.getvalue()


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line names our private directory (containerd, shims): ours by id."""
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            out.append(int(entry.name))
    return out


def _alive(pidfile: Path) -> bool:
    """Does the process named in `pidfile` still run (a zombie does not count)?"""
    try:
        stat = Path(f"/proc/{int(pidfile.read_text().strip())}/stat").read_text()
    except (OSError, ValueError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _mounts_under(root: Path) -> list[str]:
    points: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mp = line.split()[4].replace("\\040", " ")
            if mp == str(root) or mp.startswith(f"{root}/"):
                points.append(mp)
    return sorted(points, key=len, reverse=True)


@dataclass
class Dockerd:
    root: Path
    netns: str = field(default_factory=lambda: f"wmdk-{uuid.uuid4().hex[:8]}")
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def sock(self) -> Path:
        return self.root / "d.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        if self.starts == 0:
            subprocess.run(["ip", "netns", "add", self.netns], check=True, timeout=30)
            subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, timeout=30)
        self.starts += 1
        log = (self.root / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{self.netns}",
                "dockerd",
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "-H",
                self.url,
                "--pidfile",
                str(self.root / "d.pid"),
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--shutdown-timeout=2",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dockerd exited {self.proc.returncode}: {self.log_tail()}")
            if self.sock.exists() and self._answers():
                return
            time.sleep(0.2)
        raise AssertionError(f"dockerd not ready in {timeout}s: {self.log_tail()}")

    def _answers(self) -> bool:
        try:
            return self.cli("version", check=False, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:  # a socket left by a killed engine, or one still starting
            return False

    def kill(self) -> None:
        """SIGKILL the engine alone: its containerd and the containers' shims live on."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait(timeout=30)
        # Its containerd dies with it (parent-death signal) and is left a zombie: PID 1 of this
        # machine does not reap it at once, and a new engine that finds the pid in containerd's pidfile
        # still "alive" waits for it and gives up ("containerd is still running"). On a host whose init
        # reaps, the pidfile would name a dead process: dropping it once the process is dead says that.
        pidfile = self.root / "exec" / "containerd" / "containerd.pid"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(pidfile):
            time.sleep(0.1)
        pidfile.unlink(missing_ok=True)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the engine (SIGTERM: it stops its containers), and anything it left behind."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _pids_mentioning(str(self.root)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in _pids_mentioning(str(self.root)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            subprocess.run(["ip", "netns", "del", self.netns], check=False, timeout=30, capture_output=True)
            for mp in _mounts_under(self.root):
                subprocess.run(["umount", "-l", mp], check=False, timeout=30, capture_output=True)
            shutil.rmtree(self.root, ignore_errors=True)

    # -- using it ---------------------------------------------------------------------------------------

    def log_tail(self) -> str:
        p = self.root / "dockerd.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["docker", "-H", self.url, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "DOCKER_CONFIG": str(self.root / "cli")},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def import_busybox(self, tag: str = "tiny:1") -> str:
        """`docker import` a busybox root filesystem; returns the image id."""
        tar = self.root / "rootfs.tar"
        tar.write_bytes(busybox_rootfs_tar())
        return self.cli("import", str(tar), tag).stdout.strip()

    def inspect(self, name: str) -> dict[str, Any]:
        data = json.loads(self.cli("inspect", name).stdout)
        assert isinstance(data, list) and data
        result: dict[str, Any] = data[0]
        return result


@contextlib.contextmanager
def running_dockerd() -> Iterator[Dockerd]:
    # A short path under /tmp: the socket path (and containerd's under exec-root) must stay < 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="wmdk-", dir="/tmp"))
    engine = Dockerd(root)
    try:
        engine.start()
        yield engine
    finally:
        engine.destroy()
