"""Followed logs wake the runner: the package log sources' inotify descriptors, on real files."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producers.packages.sources import LogSource
from producers.source import Source
from producers.tailer import FileTailer
from watchman.pipeline import wait_for_input

NOW = datetime.now(UTC).replace(microsecond=0)
# Long enough that a missed event cannot pass for a slow one; inotify delivers within microseconds.
READY_WITHIN = 5.0
# How long "not readable" is watched for after a drain.
QUIET_FOR = 0.3


def dpkg_line(name: str, when: datetime = NOW) -> bytes:
    """One whole install as dpkg logs it."""
    t = f"{when:%Y-%m-%d %H:%M:%S}"
    return f"{t} install {name}:amd64 <none> 1.0-1\n{t} status installed {name}:amd64 1.0-1\n".encode()


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def readable(fd: int, timeout: float) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


def drain(src: LogSource) -> list[str]:
    names: list[str] = []
    for _ in range(100):
        poll = src.poll(1000)
        names += [e.subject for e in poll.observations]
        if poll.lines == 0:
            return names
    raise AssertionError("source never ran dry")


@pytest.fixture
def dpkg(tmp_path: Path) -> Iterator[tuple[Path, LogSource]]:
    log = tmp_path / "log" / "dpkg.log"
    log.parent.mkdir()
    log.write_bytes(dpkg_line("old"))
    src = LogSource("dpkg", log, "h")
    yield log, src
    src.close()


def test_an_appended_line_makes_the_log_source_readable_until_polled(dpkg: tuple[Path, LogSource]) -> None:
    log, src = dpkg
    fd = src.fileno()
    assert fd >= 0
    assert drain(src) == ["old"]
    assert not readable(fd, QUIET_FOR)  # what was there before the poll does not wake anyone
    append(log, dpkg_line("curl"))
    assert readable(fd, READY_WITHIN)
    assert drain(src) == ["curl"]
    assert not readable(fd, QUIET_FOR)  # the poll drained it: a select would not spin
    # writes to other files of the directory (think /var/log/syslog) do not wake the source
    other = log.parent / "syslog"
    other.write_bytes(b"created\n")
    assert readable(fd, READY_WITHIN)  # a new file in the directory may be a rotation
    drain(src)
    append(other, b"one more syslog line\n")
    assert not readable(fd, QUIET_FOR)


def test_rotation_by_rename_and_a_new_file_wakes_the_log_source(dpkg: tuple[Path, LogSource]) -> None:
    log, src = dpkg
    fd = src.fileno()
    assert drain(src) == ["old"]
    append(log, dpkg_line("late"))  # written just before the rotation, not polled yet
    log.rename(log.with_name("dpkg.log.1"))
    assert readable(fd, READY_WITHIN)
    log.write_bytes(dpkg_line("fresh"))
    assert drain(src) == ["late", "fresh"]
    assert not readable(fd, QUIET_FOR)
    # the watch moved to the new live file: its writes wake the source, and the rotated one's too
    append(log, dpkg_line("vim"))
    assert readable(fd, READY_WITHIN)
    assert drain(src) == ["vim"]
    assert not readable(fd, QUIET_FOR)
    append(log.with_name("dpkg.log.1"), dpkg_line("straggler"))
    assert readable(fd, READY_WITHIN)
    drain(src)
    assert not readable(fd, QUIET_FOR)


def test_copytruncate_wakes_the_log_source(dpkg: tuple[Path, LogSource]) -> None:
    log, src = dpkg
    fd = src.fileno()
    drain(src)
    log.with_name("dpkg.log.1").write_bytes(log.read_bytes())
    os.truncate(log, 0)
    assert readable(fd, READY_WITHIN)
    drain(src)
    append(log, dpkg_line("after-truncate"))
    assert readable(fd, READY_WITHIN)
    assert drain(src) == ["after-truncate"]


def test_a_log_whose_directory_appears_later_wakes_once_it_is_watched(tmp_path: Path) -> None:
    log = tmp_path / "apt" / "dpkg.log"
    src = LogSource("dpkg", log, "h")
    try:
        fd = src.fileno()
        assert fd >= 0
        assert drain(src) == []
        log.parent.mkdir()
        assert drain(src) == []  # this poll finds the directory and watches it
        log.write_bytes(dpkg_line("first"))
        assert readable(fd, READY_WITHIN)
        assert drain(src) == ["first"]
        assert not readable(fd, QUIET_FOR)
    finally:
        src.close()


# Run in a user namespace of its own, whose inotify limits (per user namespace since Linux 5.11) are
# lowered there only: the kernel itself refuses, and the machine's limits are left alone.
NO_INOTIFY_CHILD = """
import json, logging, sys
from pathlib import Path
from producers.packages.sources import LogSource
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
log = Path(sys.argv[1])
src = LogSource("dpkg", log, "h")
got, fds = [], []
for data in sys.argv[2:]:
    with log.open("ab") as f:
        f.write(data.encode())
    for _ in range(3):
        poll = src.poll(100)
        got += [e.subject for e in poll.observations]
        fds.append(src.fileno())
src.close()
print(json.dumps({"got": got, "fds": sorted(set(fds))}))
"""


@pytest.mark.parametrize(
    ("limit", "error"),
    [("max_inotify_instances", "Too many open files"), ("max_inotify_watches", "No space")],
)
def test_without_inotify_the_source_polls_and_says_so_once(tmp_path: Path, limit: str, error: str) -> None:
    log = tmp_path / "dpkg.log"
    log.write_bytes(b"")
    script = f'echo 0 > /proc/sys/user/{limit} && exec "$@"'
    child = [
        sys.executable,
        "-c",
        NO_INOTIFY_CHILD,
        str(log),
        dpkg_line("a").decode(),
        dpkg_line("b").decode(),
    ]
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "sh", "-c", script, "sh", *child],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"got": ["a", "b"], "fds": [-1]}
    said = [line for line in proc.stderr.splitlines() if "inotify" in line]
    assert len(said) == 1 and said[0].startswith("INFO producers.tailer") and error in said[0], proc.stderr


def test_close_releases_the_descriptor(tmp_path: Path) -> None:
    src = LogSource("dpkg", tmp_path / "dpkg.log", "h")
    fd = src.fileno()
    assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
    src.close()
    try:
        now_there = os.readlink(f"/proc/self/fd/{fd}")
    except FileNotFoundError:
        now_there = ""
    assert now_there != "anon_inode:inotify"
    # a tailer that nobody waits on opens no descriptor at all
    assert FileTailer(tmp_path / "dpkg.log").fileno() == -1


def test_wait_for_input_returns_when_a_followed_log_grows(dpkg: tuple[Path, LogSource]) -> None:
    log, src = dpkg
    drain(src)
    stop = threading.Event()
    timer = threading.Timer(0.2, append, (log, dpkg_line("woken")))
    timer.start()
    try:
        started = time.monotonic()
        sources: list[Source] = [src]
        wait_for_input(sources, 30.0, stop)
        waited = time.monotonic() - started
    finally:
        timer.cancel()
    assert waited < 30.0 / 2, f"slept {waited:.1f} s: the append did not wake the wait"
    assert drain(src) == ["woken"]
