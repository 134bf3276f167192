"""The runners processor: discovery, status, jobs and the offline-while-running alert, in arrival orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processors import runners
from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.runners.envelopes import api_envelope, log_envelope, scan_envelope
from schemas.alerts import ALERT_KINDS
from schemas.envelope import Envelope
from schemas.events.runners import RunnerApiObserved, RunnerLogObserved, RunnerObserved

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
ROUTE = next(r for r in ROUTES if r.name == runners.SOURCE)
JOB = "5e1c7d7a-2b3c-4d5e-8f9a-0b1c2d3e4f5a"


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def scan(s: float, change: str = "added", **kw: Any) -> Envelope:
    base: dict[str, Any] = {
        "ts": at(s),
        "change": change,
        "provider": "github",
        "runner": "runner-01",
        "runner_id": 17,
        "repo": "octo/app",
        "path": "/opt/actions-runner",
        "service": "actions.runner.octo-app.runner-01.service",
        "service_state": "active",
        "process": True,
        "registered_at": T0,
    }
    return scan_envelope("vm", RunnerObserved.model_validate({**base, **kw}), at(s))


def log(s: float, kind: str, pos: int, file: str = "Runner_1.log", **kw: Any) -> Envelope:
    obs = RunnerLogObserved(ts=at(s), provider="github", runner="runner-01", kind=kind, file=file, **kw)  # type: ignore[arg-type]
    return log_envelope("vm", obs, str(pos), at(s))


def run(envs: list[Envelope], table: MemoryTable | None = None) -> list[Envelope]:
    table = table or MemoryTable()
    out: list[Envelope] = []
    for e in envs:
        out += ROUTE.handle(e.to_json(), table)
    return out


def types(events: list[Envelope]) -> list[str]:
    return [e.type for e in events]


JOB_LINES = [
    log(10, "job_received", 1, job=JOB),
    log(10, "job_started", 2, job_name="build"),
    log(11, "job_message", 0, file="Worker_1.log", job=JOB, job_name="build", repo="octo/app", workflow="CI"),
    log(42, "job_finished", 3, job=JOB, result="succeeded"),
]


def test_discovery_then_a_job() -> None:
    out = run([scan(0), log(1, "version", 100, version="2.336.0"), log(2, "listening", 101), *JOB_LINES])
    assert types(out) == [
        "RunnerDiscovered",
        "RunnerStatusChanged",  # process running -> online
        "RunnerVersionObserved",
        "RunnerStatusChanged",  # busy
        "JobStarted",
        "JobCompleted",
        "RunnerStatusChanged",  # online again
    ]
    started = out[4].payload
    assert (started["repo"], started["workflow"], started["job_name"]) == ("octo/app", "CI", "build")
    assert out[4].ts == at(10)
    done = out[5].payload
    assert done["duration_seconds"] == 32.0 and done["runner_jobs_completed"] == 1
    assert [e.payload["status"] for e in out if e.type == "RunnerStatusChanged"] == [
        "online",
        "busy",
        "online",
    ]


def test_the_workers_message_anywhere_starts_and_ends_the_job_once() -> None:
    # One file is read in order; the Worker's file may be read before or after any Listener line.
    listener, message = [JOB_LINES[0], JOB_LINES[1], JOB_LINES[3]], JOB_LINES[2]
    for i in range(4):
        out = run([scan(0), *listener[:i], message, *listener[i:]])
        jobs = [e for e in out if e.type.startswith("Job")]
        assert types(jobs) == ["JobStarted", "JobCompleted"], i
        done = next(e for e in jobs if e.type == "JobCompleted")
        assert done.payload["job"] == JOB
        # Read after the end, the message comes too late for the job's workflow; before, it is kept.
        assert (done.payload["workflow"] == "CI") == (i < 3)
    # Records of a job that has ended (a late line, a re-read) change nothing.
    out = run([scan(0), *JOB_LINES, log(43, "job_started", 9, job=JOB, job_name="build")])
    assert types(out).count("JobStarted") == 1


def test_redelivery_repeats_the_same_ids_and_counts_once() -> None:
    table = MemoryTable()
    envs = [scan(0), *JOB_LINES]
    first = run(envs, table)
    again = run(envs, table)
    assert [e.id for e in again] == [e.id for e in first]
    assert table.get("runner/vm/github/runner-01")["jobs_completed"] == 1
    # the same deterministic ids in a fresh run
    assert [e.id for e in run(envs)] == [e.id for e in first]


def test_a_failed_job_and_the_count() -> None:
    lines = [*JOB_LINES, log(50, "job_received", 4, job="j2"), log(50, "job_started", 5, job_name="test")]
    lines.append(log(60, "job_finished", 6, job="j2", result="failed"))
    out = run([scan(0), *lines])
    failed = next(e for e in out if e.type == "JobFailed")
    assert failed.payload["result"] == "failed" and failed.payload["runner_jobs_completed"] == 2
    assert failed.payload["duration_seconds"] == 10.0


def test_offline_while_the_service_runs_fires_the_alert_and_online_resolves_it() -> None:
    out = run([scan(0), scan(30, "changed", process=False), scan(60, "changed", process=True)])
    status = [e.payload for e in out if e.type == "RunnerStatusChanged"]
    assert [(p["status"], p["offline_while_service_runs"]) for p in status] == [
        ("online", False),
        ("offline", True),
        ("online", False),
    ]
    kind = next(a for a in ALERT_KINDS if a.name == "RunnerOfflineWhileServiceRuns")
    assert kind.fires_on == "RunnerStatusChanged" and dict(kind.when)["offline_while_service_runs"] is True


def test_a_stopped_service_is_no_alert() -> None:
    out = run([scan(0), scan(30, "changed", process=False, service_state="inactive")])
    last = [e.payload for e in out if e.type == "RunnerStatusChanged"][-1]
    assert (last["status"], last["offline_while_service_runs"]) == ("offline", False)


def test_the_provider_api_says_offline() -> None:
    api = RunnerApiObserved(ts=at(40), provider="github", runner="runner-01", runner_id=17, status="offline")
    out = run([scan(0), api_envelope("vm", api, at(40))])
    last = out[-1].payload
    assert (last["status"], last["offline_while_service_runs"], last["reason"]) == (
        "offline",
        True,
        "github API: offline",
    )


def test_the_api_speaks_only_of_runners_installed_here() -> None:
    api = RunnerApiObserved(ts=at(40), provider="github", runner="elsewhere", runner_id=99, status="online")
    assert run([scan(0), api_envelope("vm", api, at(40))])[-1].payload["runner"] == "runner-01"
    assert run([api_envelope("vm", api, at(40))]) == []


def test_removal_and_reregistration() -> None:
    out = run([scan(0), scan(10, "removed"), scan(20, "added", runner_id=18)])
    assert types(out) == [
        "RunnerDiscovered",
        "RunnerStatusChanged",
        "RunnerRemoved",
        "RunnerDiscovered",
        "RunnerStatusChanged",
    ]
    assert out[3].payload["runner_id"] == 18
    api = RunnerApiObserved(ts=at(15), provider="github", runner="runner-01", runner_id=17, status="online")
    gone = run([scan(0), scan(10, "removed"), api_envelope("vm", api, at(15))])
    assert types(gone) == ["RunnerDiscovered", "RunnerStatusChanged", "RunnerRemoved"]


def test_gitlab_job_with_its_own_duration() -> None:
    def gl(s: float, kind: str, pos: int, **kw: Any) -> Envelope:
        obs = RunnerLogObserved(ts=at(s), provider="gitlab", runner="gl-1", kind=kind, file="gl.log", **kw)  # type: ignore[arg-type]
        return log_envelope("vm", obs, str(pos), at(s))

    out = run(
        [
            gl(0, "job_started", 0, job="9911", repo="g/p"),
            gl(5, "job_finished", 1, job="9911", result="succeeded", duration_seconds=41.5),
        ]
    )
    assert types(out) == ["JobStarted", "RunnerStatusChanged", "JobCompleted", "RunnerStatusChanged"]
    assert out[2].payload["duration_seconds"] == 41.5


def test_scale_target_is_arcs_rule() -> None:
    assert runners.scale_target(1, 5, 0) == 1
    assert runners.scale_target(1, 5, 3) == 4
    assert runners.scale_target(1, 5, 9) == 5
    assert runners.scale_target(0, 0, 9) == 0


def test_scale_up_at_once_down_after_the_cool_down() -> None:
    cool = timedelta(minutes=10)
    assert runners.decide_scale(None, None, 1, at(0), cool) == 1
    assert runners.decide_scale(1, at(0), 3, at(1), cool) == 3
    assert runners.decide_scale(3, at(1), 1, at(60), cool) is None  # within the cool-down: hold
    assert runners.decide_scale(3, at(1), 1, at(601), cool) == 1
    assert runners.decide_scale(3, at(1), 3, at(700), cool) is None  # nothing to change


def test_queue_observations_issue_scale_commands() -> None:
    from producers.runners.envelopes import queue_envelope
    from schemas.events.runners import RunnerQueueObserved

    def q(s: float, queued: int, running: int = 0) -> Envelope:
        obs = RunnerQueueObserved(
            ts=at(s),
            provider="octo",
            queued_jobs=queued,
            running_jobs=running,
            min_runners=1,
            max_runners=4,
            cool_down_minutes=10,
        )
        return queue_envelope("vm", obs, at(s))

    table = MemoryTable()
    envs = [q(0, 0), q(30, 2), q(60, 5, 1), q(90, 0), q(700, 0), q(710, 0)]
    out = run(envs, table)
    assert [(e.type, e.payload["target"]) for e in out] == [
        ("ScaleRunners", 1),
        ("ScaleRunners", 3),
        ("ScaleRunners", 4),
        ("ScaleRunners", 1),  # after the cool-down, not at 90 s
    ]
    assert all(ROUTE.sink_for(e).name == "watchman.commands" for e in out)
    assert [e.id for e in run(envs, table)] == [e.id for e in out]  # redelivered: the same commands
