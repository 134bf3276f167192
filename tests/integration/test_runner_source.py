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


def test_gitlab_runner_lines_from_a_real_journal(tmp_path: Path) -> None:
    """GitLab Runner under systemd logs to the journal: a real journal file (systemd-journal-remote) with
    the runner's lines as its unit writes them, read from a saved cursor on."""
    from datetime import UTC, datetime, timedelta

    from tests.support.journal import Entries, build_journal
    from tests.support.runners import gitlab_line

    config = tmp_path / "config.toml"
    config.write_text((DATA / "gitlab" / "config.toml").read_text())
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    entries = Entries()
    base = {"runner": "t3_NotAR", "runner_name": "gl-runner-01"}
    lines = [
        gitlab_line("Runtime platform", {"arch": "amd64", "os": "linux", "pid": 811, "version": "19.4.0"}),
        gitlab_line(
            "Checking for jobs... received",
            {**base, "job": 77, "repo_url": "https://gitlab.example.com/g/p.git"},
        ),
        gitlab_line(
            "Job failed: exit code 2",
            {**base, "job": 77, "duration_s": 3.5, "failure_reason": "script_failure"},
            "warning",
        ),
    ]
    for i, line in enumerate(lines):
        entries.service_log(t0 + timedelta(seconds=i), "gitlab-runner.service", line.rstrip("\n"))
    entries.service_log(t0 + timedelta(seconds=9), "nginx.service", "not the runner's")
    journal = build_journal(tmp_path / "j" / "system.journal", entries)
    opts = SourceOptions(
        gitlab_config=config,
        gitlab_journal=True,
        gitlab_journal_files=(journal,),
        systemctl=None,
        scan_interval=3600,
    )
    src = RunnerSource("vm", opts)
    obs = [e.payload for e in src.poll(10_000).observations if e.type == "RunnerLogObserved"]
    assert [(o["runner"], o["kind"], o["job"]) for o in obs] == [
        ("gl-runner-01", "version", None),
        ("gl-docker", "version", None),  # the process's version: every runner of its config
        ("gl-runner-01", "job_started", "77"),
        ("gl-runner-01", "job_finished", "77"),
    ]
    assert obs[2]["ts"].startswith(t0.strftime("%Y-%m-%dT%H:%M"))  # the journal's time, not the read's
    cursor = src.cursor()
    assert cursor["journal"]
    assert RunnerSource("vm", opts, cursor).poll(10_000).observations == []  # nothing new since the cursor


def test_a_job_message_written_in_pieces_is_read_whole(tmp_path: Path) -> None:
    """The runner's StreamWriter may put a long record on disk in pieces: half a job message is waited for."""
    runner = tmp_path / "actions-runner"
    (runner / "_diag").mkdir(parents=True)
    (runner / ".runner").write_bytes((DATA / "github" / ".runner").read_bytes())
    src = RunnerSource("vm", SourceOptions(github_dirs=(runner,), gitlab_config=None, systemctl=None))
    whole = (DATA / "github" / "_diag" / "Worker_20261204-101611-utc.log").read_text()
    cut = whole.index('"contextData"')
    worker = runner / "_diag" / "Worker_20261204-101611-utc.log"
    worker.write_text(whole[:cut])
    assert [
        e.payload.get("kind") for e in src.poll(10_000).observations if e.type == "RunnerLogObserved"
    ] == []
    worker.write_text(whole)
    got = [e.payload for e in src.poll(10_000).observations if e.type == "RunnerLogObserved"]
    assert [(g["kind"], g["workflow"]) for g in got] == [("job_message", "CI")]
