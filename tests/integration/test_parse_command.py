"""`watchman parse` on input that is not what it expects: one clear line and the documented exit code."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures" / "packages"


def parse(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "none.toml").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHMAN_")}
    env |= {"WATCHMAN_DATA_DIR": str(tmp_path / "data"), "WATCHMAN_CONFIG": str(tmp_path / "none.toml")}
    return subprocess.run(
        [sys.executable, "-m", "watchman", "parse", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_clear_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and lines[0] != "Aborted!"
    return lines[0]


def test_a_directory(tmp_path: Path) -> None:
    proc = parse(tmp_path, "dpkg", str(tmp_path))
    assert proc.returncode == 2
    assert "is a directory" in one_clear_line(proc)


@pytest.mark.parametrize("name", ["dpkg.log.2.gz", "dpkg.log.gz"])
def test_a_gz_that_is_not_gzip(tmp_path: Path, name: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(b"2024-01-01 10:00:00 status installed a:amd64 1\n")
    proc = parse(tmp_path, "dpkg", str(bad))
    assert proc.returncode == 3
    assert "not a readable gzip file" in one_clear_line(proc)


def test_a_truncated_gz_prints_what_it_holds_then_says_so(tmp_path: Path) -> None:
    data = (FIXTURES / "dpkg_debian12.log").read_bytes() * 200  # well past one read's chunk
    whole = gzip.compress(data)
    cut = tmp_path / "dpkg.log.2.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    proc = parse(tmp_path, "dpkg", str(cut))
    assert proc.returncode == 3
    assert "is truncated" in one_clear_line(proc)
    assert proc.stdout.count("\n") > 0  # the changes before the cut were printed


def test_brew_on_a_plain_file(tmp_path: Path) -> None:
    plain = tmp_path / "history.log"
    plain.write_text("not a prefix\n")
    proc = parse(tmp_path, "brew", str(plain))
    assert proc.returncode == 2
    assert "not a directory" in one_clear_line(proc)


def test_brew_on_a_directory_without_a_cellar(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = parse(tmp_path, "brew", str(tmp_path / "empty"))
    assert proc.returncode == 2
    assert "no Cellar or Caskroom" in one_clear_line(proc)


def test_brew_on_a_prefix_still_works(tmp_path: Path) -> None:
    keg = tmp_path / "prefix" / "Cellar" / "htop" / "3.3.0"
    keg.mkdir(parents=True)
    (keg / "INSTALL_RECEIPT.json").write_bytes((FIXTURES / "brew" / "htop_INSTALL_RECEIPT.json").read_bytes())
    proc = parse(tmp_path, "brew", str(tmp_path / "prefix"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") > 0


def test_an_unreadable_file(tmp_path: Path) -> None:
    locked = tmp_path / "dpkg.log"
    locked.write_text("x\n")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything: make it unreadable another way
        locked.unlink()
        locked.symlink_to("/proc/self/mem")
    proc = parse(tmp_path, "dpkg", str(locked))
    assert proc.returncode == 1
    assert "cannot read" in one_clear_line(proc)


def test_an_error_quoting_a_long_value_repeats_only_its_start(tmp_path: Path) -> None:
    log = tmp_path / "dpkg.log"
    log.write_text("2024-01-01 10:00:00 " + "x" * 500_000 + " a:amd64 1\n")  # under the line limit
    proc = parse(tmp_path, "dpkg", str(log))
    assert proc.returncode == 3
    assert "unknown dpkg action" in proc.stderr
    assert len(proc.stderr) < 1000
