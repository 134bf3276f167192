"""CI runners from real processes to the named questions' answers, through `watchman run` and the CLI.

A stand-in Runner.Listener (tests/support/runners.py: a real process writing its `_diag` files as
actions/runner does, new files on each page and each job) and a test process appending gitlab-runner
lines to its log play the runners; a stand-in `systemctl` says the units are active (systemd cannot run
here). The daemon discovers both runners, follows their jobs, sees the Listener die while its service
"runs" (the alert event), and answers the four questions.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.instance import Instance
from tests.support.runners import Listener, gitlab_line, install_listener

DATA = Path(__file__).resolve().parents[1] / "data" / "runners"
TIMEOUT = 60.0


def _wait(inst: Instance, what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError):
            if check():
                return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{inst.daemon_log()}")


def _runner(inst: Instance, name: str) -> dict[str, Any] | None:
    rows = inst.query(
        "MATCH (r:GitRunner) WHERE r.name = $n RETURN r.status AS status, r.version AS version, "
        "r.repo AS repo, r.id AS id, r.jobs_completed AS jobs, r.service AS service",
        "-p",
        f"n={name}",
    )
    return rows[0] if rows else None


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Instance, Path, Path]]:
    inst = Instance(tmp_path / "w")
    inst.write_config()
    runner = tmp_path / "actions-runner"
    runner.mkdir()
    (runner / ".runner").write_bytes((DATA / "github" / ".runner").read_bytes())
    (runner / ".service").write_bytes((DATA / "github" / ".service").read_bytes())
    # Credentials sit beside .runner in a real installation: never read.
    (runner / ".credentials").write_text('{"scheme": "OAuth", "data": {"clientId": "never-read-me"}}')
    install_listener(runner)
    gitlab = tmp_path / "gitlab"
    gitlab.mkdir()
    (gitlab / "config.toml").write_text((DATA / "gitlab" / "config.toml").read_text())
    systemd = tmp_path / "systemd"
    systemd.mkdir()
    systemctl = tmp_path / "systemctl"
    systemctl.write_text(
        "#!/bin/sh\n# stand-in: systemd cannot run here; every unit is active\necho active\n"
    )
    systemctl.chmod(0o755)
    with inst.config.open("a") as f:
        f.write(
            "[git_runners]\n"
            "enabled = true\n"
            f'github_dirs = ["{runner}"]\n'
            "github_search = []\n"
            f'gitlab_config = "{gitlab / "config.toml"}"\n'
            f'gitlab_log = "{gitlab / "runner.log"}"\n'
            "scan_interval = 0.5\n"
            f'systemctl = "{systemctl}"\n'
            f'systemd_dir = "{systemd}"\n'
        )
    yield inst, runner, gitlab / "runner.log"


def test_runners_end_to_end(setup: tuple[Instance, Path, Path]) -> None:
    inst, runner_dir, gitlab_log = setup
    daemon = inst.start("run")
    listener: Listener | None = None
    try:
        inst.wait_ready(daemon)
        # Discovered before its process runs: offline while its unit is active -> the alert event.
        _wait(
            inst, "runner-01 offline", lambda: (_runner(inst, "runner-01") or {}).get("status") == "offline"
        )
        r = _runner(inst, "runner-01")
        assert r is not None
        assert (r["repo"], r["id"], r["service"]) == (
            "octo-org/octo-app",
            17,
            "actions.runner.octo-org-octo-app.runner-01.service",
        )
        listener = Listener(runner_dir)
        _wait(inst, "runner-01 online", lambda: (_runner(inst, "runner-01") or {}).get("status") == "online")
        listener.send("job build octo-org/octo-app CI")
        _wait(inst, "a running job", lambda: bool(inst.query("runners-running-jobs")))
        _wait(inst, "its workflow", lambda: inst.query("runners-running-jobs")[0]["workflow"] == "CI")
        (running,) = inst.query("runners-running-jobs")
        assert (running["runner"], running["job"], running["repo"]) == (
            "runner-01",
            "build",
            "octo-org/octo-app",
        )
        listener.send("finish Succeeded")
        listener.send("page")  # the Listener's next page: a new Runner_ file
        listener.send("job test octo-org/octo-app CI")
        listener.send("finish Failed")
        _wait(
            inst,
            "two jobs today",
            lambda: inst.query("runner-jobs-today", "-p", "runner=runner-01")[0]["jobs"] == 2,
        )
        (today,) = inst.query("runner-jobs-today", "-p", "runner=runner-01")
        assert today["succeeded"] == 1
        failed = inst.query("ci-jobs-failed")
        assert [(f["runner"], f["job"], f["workflow"], f["result"]) for f in failed] == [
            ("runner-01", "test", "CI", "failed")
        ]
        assert inst.query("runners-running-jobs") == []
        r = _runner(inst, "runner-01")
        assert r is not None and (r["version"], r["jobs"], r["status"]) == ("2.336.0", 2, "online")

        # GitLab: a process appending the runner's lines to its log.
        with gitlab_log.open("a") as f:
            f.write(
                gitlab_line(
                    "Runtime platform", {"arch": "amd64", "os": "linux", "pid": 9, "version": "19.4.0"}
                )
            )
            base = {"runner": "t3_NotAR", "runner_name": "gl-runner-01"}
            f.write(
                gitlab_line(
                    "Checking for jobs... received",
                    {**base, "job": 51, "repo_url": "https://gitlab.example.com/platform/api.git"},
                )
            )
            f.flush()
            f.write(
                gitlab_line(
                    "Job succeeded",
                    {**base, "job": 51, "duration_s": 12.5, "project_full_path": "platform/api"},
                )
            )
        _wait(
            inst,
            "the GitLab job",
            lambda: inst.query("runner-jobs-today", "-p", "runner=gl-runner-01")[0]["jobs"] == 1,
        )
        durations = {d["repo"]: d for d in inst.query("ci-job-duration")}
        assert durations["platform/api"]["average_seconds"] == pytest.approx(12.5)
        assert durations["octo-org/octo-app"]["jobs"] == 2
        gl = _runner(inst, "gl-runner-01")
        assert gl is not None and (gl["version"], gl["id"]) == ("19.4.0", 42)

        # The Listener dies while its unit is still "active": offline, and the alert's event.
        listener.stop()
        _wait(
            inst,
            "runner-01 offline again",
            lambda: (_runner(inst, "runner-01") or {}).get("status") == "offline",
        )
        alerts = inst.query(
            "MATCH (e:Event)-[:ACTED_ON]->(r:GitRunner) WHERE r.name = $n AND e.type = $t "
            "RETURN e.summary AS summary ORDER BY e.ts",
            "-p",
            "n=runner-01",
            "-p",
            "t=RunnerStatusChanged",
        )
        assert [a["summary"] for a in alerts][-1] == "github runner runner-01: online -> offline"
        # Nothing of the credentials file or the GitLab tokens reached the log.
        dump = inst.cli("query", "MATCH (e:Event) RETURN e.summary AS s, e.subject AS subject").stdout
        raw = b"".join(p.read_bytes() for p in inst.data_dir.glob("log.sqlite*"))
        for secret in (
            "never-read-me",
            "glrt-t3_NotARealTokenButShapedLikeOne",
            "glrt-t1_AnotherNotRealToken0000",
        ):
            assert secret not in dump and secret.encode() not in raw
        assert json.loads(json.dumps(alerts))  # plain JSON rows
    finally:
        if listener is not None:
            listener.stop()
        inst.stop(daemon)
