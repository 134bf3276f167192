"""Decide runner and job events from what the runner producer observed (pure: no I/O, no clock).

The state table keeps, per runner (host/provider/name): its status (online, busy, offline, removed), what
the service manager last said of its unit, its version, how many jobs it has finished, and the jobs in
flight. So:

- status is decided from three witnesses, whichever speaks: the discovery scan (is a runner process
  running?), the runner's own log (`Listening for Jobs` -> online, a job start -> busy, its end -> online)
  and the provider's API (online/offline, busy). A runner offline while its service unit is `active` sets
  `offline_while_service_runs`, which fires the RunnerOfflineWhileServiceRuns alert (schemas ALERTS);
- a GitHub job is known in three records of two files: the Listener's `Job request ... job <id> received`
  and `Running job: <name>` (Runner_*.log), the Worker's job message (Worker_*.log: repository, workflow),
  and the Listener's `finish job request for job <id> with result: R`. JobStarted waits for the worker's
  message (written within a second of the start), or is decided at the finish if it never came; the
  runner turns busy at the start all the same;
- a GitLab job starts at `Checking for jobs... received` and ends at `Job succeeded` / `Job failed`;
- JobCompleted is a success; JobFailed any other result (`result` says which). The runner's finished-job
  count travels in the event, so the graph never adds (replay gives the same count);
- a raw record decided before (at-least-once redelivery) re-emits what it decided (processors/memo.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from processors.memo import recall, remember
from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.base import EventPayload
from schemas.events.commands import command_envelope
from schemas.events.runners import (
    EVENTS_RUNNERS,
    RAW_RUNNERS,
    JobCompleted,
    JobEvent,
    JobFailed,
    JobStarted,
    RunnerApiObserved,
    RunnerDiscovered,
    RunnerLogObserved,
    RunnerObserved,
    RunnerQueueObserved,
    RunnerRemoved,
    RunnerStatusChanged,
    RunnerVersionObserved,
    ScaleRunners,
)

SOURCE = "processors.runners"
# Jobs in flight kept per runner (a runner runs one job at a time; GitLab's `concurrent` a few).
MAX_JOBS = 64


def runner_key(host: str, provider: str, runner: str) -> str:
    return f"{host}/{provider}/{runner}"


class _Out:
    def __init__(self, raw: Envelope) -> None:
        self.raw = raw
        self.events: list[Envelope] = []

    def add(self, payload: EventPayload, subject: str, ts: datetime, *extra: object) -> None:
        self.events.append(
            Envelope(
                id=event_id("runners", self.raw.id, payload.TYPE, *extra),
                type=payload.TYPE,
                schema_version=payload.VERSION,
                host=self.raw.host,
                source=SOURCE,
                ts=ts,
                observed_at=self.raw.observed_at,
                subject=subject,
                causation_id=self.raw.id,
                payload=payload.model_dump(mode="json"),
            )
        )


def _runner_fields(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "provider": rec["provider"],
        "runner": rec["runner"],
        "runner_id": rec.get("runner_id"),
        "repo": rec.get("repo"),
        "status": rec.get("status"),
        "version": rec.get("version"),
        "service": rec.get("service"),
        "registered_at": rec.get("registered_at"),
        "labels": tuple(rec.get("labels") or ()),
    }


def _status(out: _Out, rec: dict[str, Any], status: str, ts: datetime, reason: str) -> None:
    """Record a status; emit RunnerStatusChanged when it changed (or the alert flag did)."""
    previous = rec.get("status")
    alert = status == "offline" and rec.get("service_state") == "active"
    if previous == status and bool(rec.get("alerting")) == alert:
        return
    rec["status"], rec["alerting"] = status, alert
    payload = RunnerStatusChanged(
        **_runner_fields(rec),
        previous_status=previous,
        reason=reason,
        service_state=rec.get("service_state"),
        offline_while_service_runs=alert,
    )
    out.add(payload, out.raw.subject, ts, status, reason)


def _new_runner(provider: str, runner: str) -> dict[str, Any]:
    return {"provider": provider, "runner": runner, "status": None, "jobs_completed": 0, "jobs": {}}


# --- discovery ------------------------------------------------------------------------------------------


def _scan(out: _Out, rec: dict[str, Any], obs: RunnerObserved) -> None:
    ts = obs.ts
    if obs.change == "removed":
        rec["status"] = "removed"
        rec["alerting"] = False
        rec["registration"] = None  # the provider's API no longer speaks for it here
        out.add(RunnerRemoved(**{**_runner_fields(rec), "status": "removed"}), out.raw.subject, ts)
        return
    registration = [obs.runner_id, obs.repo, obs.registered_at.isoformat() if obs.registered_at else None]
    known = rec.get("registration")
    rec.update(
        runner_id=obs.runner_id,
        repo=obs.repo,
        service=obs.service,
        registered_at=obs.registered_at.isoformat() if obs.registered_at else None,
        labels=list(obs.labels),
        service_state=obs.service_state,
        ephemeral=obs.ephemeral,
    )
    if known != registration or rec.get("status") == "removed":
        rec["registration"] = registration
        if rec.get("status") == "removed":
            rec["status"] = None
        out.add(RunnerDiscovered(**_runner_fields(rec)), out.raw.subject, ts)
    if obs.process is False:
        _status(out, rec, "offline", ts, "no runner process")
    elif obs.process is True and rec.get("status") in (None, "offline"):
        _status(out, rec, "online", ts, "runner process running")
    elif rec.get("status") == "offline":
        _status(out, rec, "offline", ts, "no runner process")  # the service state may have changed


# --- jobs -----------------------------------------------------------------------------------------------


def _job_payload(cls: type[JobEvent], rec: dict[str, Any], job_id: str, job: dict[str, Any]) -> JobEvent:
    return cls(
        provider=rec["provider"],
        runner=rec["runner"],
        job=job_id,
        job_name=job.get("name"),
        repo=job.get("repo") or rec.get("repo"),
        workflow=job.get("workflow"),
        started_at=job.get("started_at"),
        result=job.get("result"),
        detail=job.get("detail"),
        duration_seconds=job.get("duration_seconds"),
        runner_jobs_completed=rec.get("jobs_completed") if job.get("result") else None,
    )


def _announce(out: _Out, rec: dict[str, Any], job_id: str, job: dict[str, Any], ts: datetime) -> None:
    if job.get("announced") or job.get("started_at") is None:
        return
    job["announced"] = True
    # The event's time is the start's, whenever it is decided (at the worker's message, or at the end).
    started = min(ts, datetime.fromisoformat(job["started_at"]))
    out.add(_job_payload(JobStarted, rec, job_id, job), out.raw.subject, started, job_id)


def _jobs(rec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = rec.setdefault("jobs", {})
    while len(jobs) > MAX_JOBS:
        jobs.pop(next(iter(jobs)))
    return jobs


def _log(out: _Out, rec: dict[str, Any], obs: RunnerLogObserved) -> None:
    ts, kind = obs.ts, obs.kind
    jobs = _jobs(rec)
    if kind == "version":
        if obs.version and obs.version != rec.get("version"):
            rec["version"] = obs.version
            payload = RunnerVersionObserved(**_runner_fields(rec), latest_version=rec.get("latest_version"))
            out.add(payload, out.raw.subject, ts, obs.version)
        return
    if kind == "listening":
        _status(out, rec, "online", ts, "runner log: listening for jobs")
        return
    if obs.job and obs.job in rec.get("finished", []):
        return  # the job has ended: a late or repeated record of it changes nothing
    if kind == "job_received" and obs.job:
        # GitHub: the job's id comes here, its name with the "Running job" line that follows.
        jobs.setdefault(obs.job, {})
        rec["pending"] = obs.job
        return
    if kind == "job_message" and obs.job:
        job = jobs.setdefault(obs.job, {})
        job.update({k: v for k, v in (("repo", obs.repo), ("workflow", obs.workflow)) if v})
        if obs.job_name and not job.get("name"):
            job["name"] = obs.job_name
        job["detailed"] = True
        if not job.get("result"):
            _announce(out, rec, obs.job, job, ts)
        return
    if kind == "job_started":
        job_id = obs.job or rec.get("pending")
        if not job_id or job_id in rec.get("finished", []):
            return
        rec["pending"] = None
        job = jobs.setdefault(job_id, {})
        if job.get("started_at") is None:
            job["started_at"] = ts.isoformat()
        if obs.job_name:
            job["name"] = obs.job_name
        if obs.repo:
            job["repo"] = obs.repo
        # GitHub waits for the worker's job message (repository, workflow); GitLab knows it all now.
        if rec["provider"] != "github" or job.get("detailed"):
            _announce(out, rec, job_id, job, ts)
        _status(out, rec, "busy", ts, "runner log: job started")
        return
    if kind == "job_finished" and obs.job:
        job = jobs.setdefault(obs.job, {})
        if job.get("result"):
            return  # told twice (a re-read log): decided already
        if obs.repo and not job.get("repo"):
            job["repo"] = obs.repo
        _announce(out, rec, obs.job, job, ts)
        job["result"] = obs.result or "unknown"
        job["detail"] = obs.detail
        if obs.duration_seconds is not None:
            job["duration_seconds"] = obs.duration_seconds
        elif job.get("started_at"):
            job["duration_seconds"] = (ts - datetime.fromisoformat(job["started_at"])).total_seconds()
        if job.get("started_at") is None and job.get("duration_seconds") is not None:
            started = ts.timestamp() - float(job["duration_seconds"])
            job["started_at"] = datetime.fromtimestamp(started, ts.tzinfo).isoformat()
        rec["jobs_completed"] = int(rec.get("jobs_completed", 0)) + 1
        rec["last_job"] = obs.job
        cls = JobCompleted if job["result"] == "succeeded" else JobFailed
        out.add(_job_payload(cls, rec, obs.job, job), out.raw.subject, ts, obs.job)
        jobs.pop(obs.job, None)
        rec.setdefault("finished", [])
        rec["finished"] = [*rec["finished"], obs.job][-MAX_JOBS:]
        if not any(j.get("started_at") and not j.get("result") for j in jobs.values()):
            _status(out, rec, "online", ts, "runner log: job finished")


def _api(out: _Out, rec: dict[str, Any], obs: RunnerApiObserved) -> None:
    if obs.runner_id is not None:
        rec["runner_id"] = obs.runner_id
    if obs.latest_version and obs.latest_version != rec.get("latest_version"):
        rec["latest_version"] = obs.latest_version
        payload = RunnerVersionObserved(**_runner_fields(rec), latest_version=obs.latest_version)
        out.add(payload, out.raw.subject, obs.ts, "latest", obs.latest_version)
    status = "offline" if obs.status != "online" else ("busy" if obs.busy else "online")
    _status(out, rec, status, obs.ts, f"{obs.provider} API: {obs.status}")


# --- autoscaling ----------------------------------------------------------------------------------------


def scale_target(min_runners: int, max_runners: int, assigned_jobs: int) -> int:
    """actions-runner-controller's rule for a scale set: min(min_runners + assigned jobs, max_runners)."""
    return max(0, min(min_runners + assigned_jobs, max_runners))


def decide_scale(
    last_target: int | None, last_up: datetime | None, desired: int, now: datetime, cool_down: timedelta
) -> int | None:
    """The target to ask for now, or None to leave things as they are: up at once; down only once the
    cool-down since the last scale-up has passed (a burst's runners are kept for the next burst)."""
    if last_target is None or desired > last_target:
        return desired
    if desired < last_target and (last_up is None or now - last_up >= cool_down):
        return desired
    return None


def decide_queue(raw: Envelope, obs: RunnerQueueObserved, table: Table) -> list[Envelope]:
    key = f"scale/{raw.host}/{obs.provider}"
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    state: dict[str, Any] = table.get(key) or {}
    desired = scale_target(obs.min_runners, obs.max_runners, obs.queued_jobs + obs.running_jobs)
    last_up = datetime.fromisoformat(state["up_at"]) if state.get("up_at") else None
    target = decide_scale(
        state.get("target"), last_up, desired, obs.ts, timedelta(minutes=obs.cool_down_minutes)
    )
    out: list[Envelope] = []
    if target is not None:
        if state.get("target") is None or target > state["target"]:
            state["up_at"] = obs.ts.isoformat()
        state["target"] = target
        bounds = f"{obs.min_runners}..{obs.max_runners}"
        reason = f"{obs.queued_jobs} queued + {obs.running_jobs} running jobs, bounds {bounds}"
        command = ScaleRunners(
            issued_by="policy:runners.autoscale", reason=reason, provider=obs.provider, target=target
        )
        out.append(
            command_envelope(
                command, host=raw.host, source=SOURCE, issued_at=obs.ts, dedup_key=raw.id, causation_id=raw.id
            )
        )
    table.set(key, state)
    return remember(table, key, raw.id, out)


# --- entry points ---------------------------------------------------------------------------------------


def _decide(raw: Envelope, provider: str, runner: str, table: Table, fn: Any, obs: Any) -> list[Envelope]:
    key = f"runner/{runner_key(raw.host, provider, runner)}"
    again = recall(table, key, raw.id)
    if again is not None:
        return again
    rec: dict[str, Any] = table.get(key) or _new_runner(provider, runner)
    if (
        isinstance(obs, RunnerLogObserved)
        and obs.kind == "job_finished"
        and obs.job in rec.get("finished", [])
    ):
        return remember(table, key, raw.id, [])
    out = _Out(raw)
    fn(out, rec, obs)
    table.set(key, rec)
    return remember(table, key, raw.id, out.events)


def decide_scan(raw: Envelope, obs: RunnerObserved, table: Table) -> list[Envelope]:
    return _decide(raw, obs.provider, obs.runner, table, _scan, obs)


def decide_log(raw: Envelope, obs: RunnerLogObserved, table: Table) -> list[Envelope]:
    return _decide(raw, obs.provider, obs.runner, table, _log, obs)


def decide_api(raw: Envelope, obs: RunnerApiObserved, table: Table) -> list[Envelope]:
    # The provider lists its runners wherever they run: only those installed on this host are ours.
    known = table.get(f"runner/{runner_key(raw.host, obs.provider, obs.runner)}")
    if not known or not known.get("registration"):
        return []
    return _decide(raw, obs.provider, obs.runner, table, _api, obs)


# Which raw event types this domain decides, and where the decisions go (processors/registry.py collects it).
ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_RUNNERS,
        sink=EVENTS_RUNNERS,
        table="runners",
        decide={
            RunnerObserved.TYPE: typed(RunnerObserved, decide_scan),
            RunnerLogObserved.TYPE: typed(RunnerLogObserved, decide_log),
            RunnerApiObserved.TYPE: typed(RunnerApiObserved, decide_api),
            RunnerQueueObserved.TYPE: typed(RunnerQueueObserved, decide_queue),
        },
    ),
)
