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
TIMEOUT = 120.0  # a bound, not a target: three test workers on two cores slow every CLI call


def _wait(inst: Instance, what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError):
            if check():
                return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{inst.daemon_log()}")


def _ask(inst: Instance, text: str, *params: str) -> list[dict[str, Any]]:
    """A query through the running daemon's admin API, from this process (the CLI costs a second or
    more per call; `watchman query` itself is exercised by the first answers of each test)."""
    from watchman.api_client import ApiClient

    client = ApiClient(
        (inst.data_dir / "api.url").read_text().strip(), (inst.data_dir / "api.token").read_text().strip()
    )
    values: dict[str, Any] = {}
    for p in params:
        if p != "-p":
            key, _, value = p.partition("=")
            values[key] = int(value) if value.isdigit() and key not in ("n", "t", "name", "runner") else value
    from projections.catalog import QUERIES

    body = (
        {"name": text, "params": values}
        if text in QUERIES
        else {"cypher": text, "params": values, "read_only": True}
    )
    answer = client.post("/query", body)
    return list(answer["rows"])


def _runner(inst: Instance, name: str) -> dict[str, Any] | None:
    rows = _ask(
        inst,
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
        _wait(inst, "a running job", lambda: bool(_ask(inst, "runners-running-jobs")))
        _wait(inst, "its workflow", lambda: _ask(inst, "runners-running-jobs")[0]["workflow"] == "CI")
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
            lambda: _ask(inst, "runner-jobs-today", "runner=runner-01")[0]["jobs"] == 2,
        )
        (today,) = _ask(inst, "runner-jobs-today", "runner=runner-01")
        assert today["succeeded"] == 1
        failed = inst.query("ci-jobs-failed")
        assert [(f["runner"], f["job"], f["workflow"], f["result"]) for f in failed] == [
            ("runner-01", "test", "CI", "failed")
        ]
        assert _ask(inst, "runners-running-jobs") == []
        r = _runner(inst, "runner-01")
        assert r is not None and (r["version"], r["jobs"], r["status"]) == ("2.336.0", 2, "online")
        # The admin API's runner endpoints (bearer token) and the CLI over them.
        from watchman.api_client import ApiClient, ApiError

        api = ApiClient(
            (inst.data_dir / "api.url").read_text().strip(), (inst.data_dir / "api.token").read_text().strip()
        )
        jobs = api.get("/admin/runners/jobs?days=7")["rows"]
        assert sorted((j["job"], j["status"]) for j in jobs) == [("build", "succeeded"), ("test", "failed")]
        listed = {row["runner"]: row for row in api.get("/admin/runners")["rows"]}
        assert listed["runner-01"]["jobs_completed"] == 2 and listed["gl-runner-01"]["provider"] == "gitlab"
        with pytest.raises(ApiError) as refused:
            ApiClient(api.url, "not-the-token").get("/admin/runners")
        assert refused.value.status == 401
        cli_jobs = [
            json.loads(line) for line in inst.cli("runners", "jobs", "--days", "1").stdout.splitlines()
        ]
        assert {j["job"] for j in cli_jobs} == {"build", "test"}

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
            lambda: _ask(inst, "runner-jobs-today", "runner=gl-runner-01")[0]["jobs"] == 1,
        )
        durations = {d["repo"]: d for d in _ask(inst, "ci-job-duration")}
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
        alerts = _ask(
            inst,
            "MATCH (e:Event)-[:ACTED_ON]->(r:GitRunner) WHERE r.name = $n AND e.type = $t "
            "RETURN e.summary AS summary ORDER BY e.ts",
            "-p",
            "n=runner-01",
            "-p",
            "t=RunnerStatusChanged",
        )
        assert [a["summary"] for a in alerts][-1] == "github runner runner-01: online -> offline"
        # The alert's event (RunnerOfflineWhileServiceRuns fires on it): in the event log.
        events = b"".join(p.read_bytes() for p in inst.data_dir.glob("log.sqlite*"))
        assert b'"offline_while_service_runs":true' in events
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


API_TOKEN = "ghp_KnownTestSecret0123456789abcdefABCDEF"


def test_register_and_remove_through_the_api(tmp_path: Path) -> None:
    """Register and remove GitHub (classic and just-in-time) and GitLab runners with `watchman runners`,
    against the local stand-in of both APIs (checked against GitHub's OpenAPI description), with the
    runners' tools played by stand-ins that write what the real ones write; no token leaks anywhere."""
    from tests.support.ci_apis import running_ci_api
    from tests.support.runners import GITLAB_RUNNER, install_tool, runner_release

    inst = Instance(tmp_path / "w")
    inst.write_config()
    release = tmp_path / "release"
    config_sh = runner_release(release)
    runners_dir = tmp_path / "runners"
    runners_dir.mkdir()
    gitlab_runner = install_tool(tmp_path / "bin" / "gitlab-runner", GITLAB_RUNNER)
    config_toml = tmp_path / "gitlab" / "config.toml"
    config_toml.parent.mkdir()
    secrets = inst.data_dir / "secrets"
    secrets.mkdir(parents=True, mode=0o700)
    for name in ("github-token", "gitlab-token"):
        (secrets / name).write_text(API_TOKEN)
        (secrets / name).chmod(0o600)
    with running_ci_api(API_TOKEN) as api:
        with inst.config.open("a") as f:
            f.write(
                "[git_runners]\n"
                "enabled = true\n"
                f'github_search = ["{runners_dir}/*"]\n'
                f'gitlab_config = "{config_toml}"\n'
                "scan_interval = 0.3\n"
                'systemctl = ""\n'  # no service manager: its state is unknown
                "[[git_runners.providers]]\n"
                'name = "octo"\nkind = "github"\nscope = "octo-org/octo-app"\n'
                f'api_url = "{api.url}"\ntoken = "secret:github-token"\n'
                f'runner_command = "{config_sh}"\nrunners_dir = "{runners_dir}"\nlabels = ["linux"]\n'
                "[[git_runners.providers]]\n"
                'name = "lab"\nkind = "gitlab"\nscope = "42"\n'
                f'api_url = "{api.url}"\ntoken = "secret:gitlab-token"\nrunner_command = "{gitlab_runner}"\n'
            )
        daemon = inst.start("run")
        try:
            inst.wait_ready(daemon)

            def done(kind: str, n: int) -> list[dict[str, Any]]:
                rows = _ask(
                    inst,
                    "MATCH (c:Command) WHERE c.type = $t RETURN c.status AS status, c.detail AS detail "
                    "ORDER BY c.finished_at",
                    f"t={kind}",
                )
                assert len(rows) >= n
                return rows

            inst.cli("runners", "register", "--provider", "octo", "--name", "runner-02", "--label", "gpu")
            _wait(inst, "the registration", lambda: bool(done("RegisterRunner", 1)))
            (reg,) = done("RegisterRunner", 1)
            assert reg["status"] == "succeeded", reg
            _wait(inst, "runner-02 discovered", lambda: _runner(inst, "runner-02") is not None)
            r2 = _runner(inst, "runner-02")
            assert r2 is not None and r2["repo"] == "octo-org/octo-app"

            inst.cli("runners", "register", "--provider", "octo", "--name", "jit-01", "--ephemeral")
            inst.cli("runners", "register", "--provider", "lab", "--name", "gl-new", "--label", "docker")
            _wait(inst, "jit-01 discovered", lambda: _runner(inst, "jit-01") is not None)
            _wait(inst, "gl-new discovered", lambda: _runner(inst, "gl-new") is not None)
            assert all(c["status"] == "succeeded" for c in done("RegisterRunner", 3)), done(
                "RegisterRunner", 3
            )

            refused = inst.cli("runners", "remove", "--provider", "octo", "--name", "runner-02", check=False)
            assert refused.returncode == 2 and "--yes" in refused.stderr
            inst.cli("runners", "remove", "--provider", "octo", "--name", "runner-02", "--yes")
            inst.cli("runners", "remove", "--provider", "lab", "--name", "gl-new", "--yes")
            _wait(
                inst,
                "runner-02 removed",
                lambda: (_runner(inst, "runner-02") or {}).get("status") == "removed",
            )
            _wait(inst, "gl-new removed", lambda: (_runner(inst, "gl-new") or {}).get("status") == "removed")
            assert all(c["status"] == "succeeded" for c in done("RemoveRunner", 2))
            listed = inst.cli("runners", "list").stdout
            assert "runner-02" in listed and "jit-01" in listed
        finally:
            inst.stop(daemon)
        assert api.violations == []
        assert ("POST", "/repos/octo-org/octo-app/actions/runners/registration-token") in api.calls
        assert ("POST", "/repos/octo-org/octo-app/actions/runners/generate-jitconfig") in api.calls
        assert ("POST", "/repos/octo-org/octo-app/actions/runners/remove-token") in api.calls
        assert ("POST", "/api/v4/user/runners") in api.calls
        # The API token and every token the APIs handed out are nowhere the product writes.
        secrets_used = [API_TOKEN, *api.issued]
        places = [*inst.data_dir.glob("log.sqlite*"), inst.root / "run.log"]
        places += [p for p in (inst.data_dir / "graph").rglob("*") if p.is_file()]
        for path in places:
            data = path.read_bytes()
            for secret in secrets_used:
                assert secret.encode() not in data, (path, secret[:4])
        outputs = inst.cli("query", "MATCH (c:Command) RETURN c.params AS p, c.detail AS d").stdout + listed
        for secret in secrets_used:
            assert secret not in outputs


def test_autoscale_from_the_queue_with_real_containers(tmp_path: Path) -> None:
    """The provider's queue (the stand-in API: queued runs and their jobs) scales runner containers on a
    real dockerd: up at once to min + assigned jobs (capped at max), down to min after the cool-down."""
    from tests.support.ci_apis import running_ci_api
    from tests.support.dockerd import running_dockerd

    inst = Instance(tmp_path / "w")
    inst.write_config()
    secrets = inst.data_dir / "secrets"
    secrets.mkdir(parents=True, mode=0o700)
    (secrets / "github-token").write_text(API_TOKEN)
    (secrets / "github-token").chmod(0o600)
    with running_ci_api(API_TOKEN) as api, running_dockerd() as engine:
        engine.import_busybox("tiny:1")
        # Two queued jobs this provider's runners can take, one they cannot (a label they lack).
        api.queue[901] = [["self-hosted", "linux"], ["self-hosted", "Linux", "X64"], ["self-hosted", "gpu"]]
        with inst.config.open("a") as f:
            f.write(
                "[git_runners]\n"
                "enabled = false\n"  # no runners on this host to discover: the API's side only
                "api_interval = 0.5\n"
                "[[git_runners.providers]]\n"
                'name = "octo"\nkind = "github"\nscope = "octo-org/octo-app"\n'
                f'api_url = "{api.url}"\ntoken = "secret:github-token"\n'
                "min_runners = 1\nmax_runners = 4\ncool_down_minutes = 0.05\n"
                f'image = "tiny:1"\ncontainer_command = ["/bin/busybox", "sleep", "3600"]\n'
                f'container_network = "none"\ndocker_url = "{engine.url}"\n'
            )
        daemon = inst.start("run")

        def running() -> list[str]:
            out = engine.cli(
                "ps", "--filter", "label=watchman.runners.provider=octo", "--format", "{{.Names}}"
            )
            return sorted(out.stdout.split())

        try:
            inst.wait_ready(daemon)
            _wait(inst, "three runner containers", lambda: len(running()) == 3)
            assert running() == [f"watchman-runner-octo-{i}" for i in (1, 2, 3)]
            api.queue.clear()
            _wait(inst, "back to one", lambda: running() == ["watchman-runner-octo-1"])
            rows = _ask(
                inst,
                "MATCH (c:Command) WHERE c.type = $t RETURN c.status AS status, c.detail AS detail "
                "ORDER BY c.finished_at",
                "t=ScaleRunners",
            )
            assert [r["status"] for r in rows] == ["succeeded"] * len(rows) and len(rows) >= 2
            assert rows[-1]["detail"].startswith("octo: 1 runner container(s) (target 1)")
        finally:
            inst.stop(daemon)
        assert api.violations == []
        assert ("GET", "/repos/octo-org/octo-app/actions/runs/901/jobs") in api.calls
