"""A line longer than max_line_bytes is a dead letter with its length and first bytes, never parsed whole.

One apt `Install:` line of 3 M items (53 MB) made `watchman parse apt` take 5 GB and echo the whole
line into its error; the daemon's tailer handed the parser 1 MiB pieces of it as if they were lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from producers.packages.sources import LogSource

STANZA = (
    "Start-Date: 2024-03-01  10:00:00\nCommandline: apt install {name}\nInstall: {items}\n"
    "End-Date: 2024-03-01  10:00:05\n\n"
)


def _history(path: Path, items: int) -> int:
    """A history.log: one normal stanza, one whose Install line holds `items` packages, one more."""
    huge = ", ".join(f"p{i}:amd64 (1.0)" for i in range(items))
    with path.open("w") as f:
        f.write(STANZA.format(name="a", items="a:amd64 (1.0)"))
        f.write(STANZA.format(name="big", items=huge))
        f.write(STANZA.format(name="b", items="b:amd64 (2.0)"))
    return len(f"Install: {huge}")


def test_the_daemon_source_dead_letters_an_overlong_line_and_parses_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "history.log"
    size = _history(log, 100_000)  # 1.6 MB
    src = LogSource("apt", log, "h", tz=ZoneInfo("UTC"), max_line_bytes=64 * 1024)
    try:
        polls = [src.poll(1000) for _ in range(3)]
    finally:
        src.close()
    observed = [o.subject for p in polls for o in p.observations]
    dead = [d for p in polls for d in p.dead]
    # The big stanza's other lines are whole; its Install line is the dead letter, so it installs nothing.
    assert observed == ["a", "b"]
    assert len(dead) == 1
    assert f"line of {size:,} bytes is longer than max_line_bytes (65,536)" in dead[0].error
    assert dead[0].raw_text.startswith("Install: p0:amd64 (1.0), p1:amd64")
    assert len(dead[0].raw_text) == 256
    # The cursor is past everything: a restart does not read the huge line again.
    assert polls[0].cursor is not None and polls[0].cursor["offset"] == log.stat().st_size


def test_parse_rejects_a_53_mb_line_without_parsing_it_and_echoes_only_its_start(tmp_path: Path) -> None:
    log = tmp_path / "history.log"
    size = _history(log, 3_000_000)
    assert size > 50_000_000
    env = {
        **os.environ,
        "WATCHMAN_DATA_DIR": str(tmp_path / "data"),
        "WATCHMAN_CONFIG": str(tmp_path / "none"),
    }
    env.pop("WATCHMAN_MAX_LINE_BYTES", None)
    # A parent of its own, so RUSAGE_CHILDREN is this one command's peak.
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "sys.stdout.buffer.write(p.stdout)\n"
        "sys.stderr.buffer.write(p.stderr)\n"
        "print('RSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 'RC', p.returncode)\n"
    )
    (tmp_path / "none").write_text("")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            sys.executable,
            "-m",
            "watchman",
            "parse",
            "apt",
            str(log),
            "--tz",
            "UTC",
            "--only",
            "observations",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    *rows, last = proc.stdout.splitlines()
    rss_kb, rc = int(last.split()[1]), int(last.split()[3])
    assert rc == 3
    assert [json.loads(r)["payload"]["package"] for r in rows] == ["a", "b"]
    errors = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert len(errors) == 1
    assert errors[0]["error"] == f"line of {size:,} bytes is longer than max_line_bytes (1,048,576)"
    assert len(errors[0]["text"]) <= 256
    assert len(proc.stderr) < 2000
    assert rss_kb < 300 * 1024, f"parse took {rss_kb // 1024} MB"
