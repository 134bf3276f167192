"""The runner source on real files: discovery differences, _diag files followed across the runner's new
pages and deletions, a saved cursor resumed without re-reading, credentials never read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from producers.runners.source import RunnerSource, SourceOptions

DATA = Path(__file__).resolve().parents[1] / "data" / "runners"


def _kinds(src: RunnerSource) -> list[tuple[str, str]]:
    poll = src.poll(10_000)
    return [(e.type, e.payload.get("kind") or e.payload.get("change")) for e in poll.observations]


def test_discovery_logs_pages_and_resume(tmp_path: Path) -> None:
    runner = tmp_path / "actions-runner"
    shutil.copytree(DATA / "github", runner)
    opts = SourceOptions(github_dirs=(runner,), gitlab_config=None, scan_interval=3600, systemctl=None)
    src = RunnerSource("vm", opts)
    first = _kinds(src)
    assert first[0] == ("RunnerObserved", "added")
    assert [k for _, k in first[1:]] == [
        "job_message",  # the Worker file is read first
        "version",
        "listening",
        "job_received",
        "job_started",
        "job_finished",
        "job_received",
        "job_started",
        "job_finished",
    ]
    assert _kinds(src) == []  # nothing new
    cursor = src.cursor()

    # The runner's next page, and the old Worker file deleted by its retention.
    (runner / "_diag" / "Worker_20261204-101611-utc.log").unlink()
    page = runner / "_diag" / "Runner_20261204-110000-utc.log"
    page.write_text("[2026-12-04 11:00:00Z INFO Listener] Version: 2.337.0\n")
    assert _kinds(src) == [("RunnerLogObserved", "version")]
    assert str(runner / "_diag" / "Worker_20261204-101611-utc.log") not in src.cursor()["files"]

    # A new process resumes from the saved cursor: only what was appended since.
    resumed = RunnerSource("vm", opts, cursor)
    with page.open("a") as f:
        f.write("[2026-12-04 11:00:01Z INFO Terminal] WRITE LINE: 2026-12-04 11:00:01Z: Listening for Jobs\n")
    got = _kinds(resumed)
    assert ("RunnerLogObserved", "listening") in got and ("RunnerObserved", "added") not in got
    # A half-written line waits for its end.
    with page.open("a") as f:
        f.write("[2026-12-04 11:00:02Z INFO Listener] Version: 2.3")
    assert _kinds(resumed) == []
    with page.open("a") as f:
        f.write("38.0\n")
    assert _kinds(resumed) == [("RunnerLogObserved", "version")]


def test_the_credentials_file_is_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = tmp_path / "actions-runner"
    shutil.copytree(DATA / "github", runner)
    (runner / ".credentials").write_text('{"data": {"token": "never"}}')
    opened: list[str] = []
    real_open = Path.open
    real_read = Path.read_bytes

    def spy_open(self: Path, *a: object, **k: object) -> object:
        opened.append(self.name)
        return real_open(self, *a, **k)  # type: ignore[arg-type]

    def spy_read(self: Path) -> bytes:
        opened.append(self.name)
        return real_read(self)

    monkeypatch.setattr(Path, "open", spy_open)
    monkeypatch.setattr(Path, "read_bytes", spy_read)
    src = RunnerSource("vm", SourceOptions(github_dirs=(runner,), gitlab_config=None, systemctl=None))
    obs = src.poll(10_000).observations
    monkeypatch.undo()
    assert obs and ".runner" in opened
    assert not [n for n in opened if n.startswith(".credentials")]
