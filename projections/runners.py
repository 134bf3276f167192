"""Project runner and job events into graph operations (pure).

(:GitRunner {key host/provider/name})-[:INSTALLED_ON]->(:Host); (:CIJob {key host/provider/job})-[:RAN_ON]->
(:GitRunner); an (:Event) node per event, ACTED_ON the runner or the job and HAPPENED_ON the host.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project
from schemas.envelope import Envelope
from schemas.events.base import EventPayload
from schemas.events.runners import (
    JOB_EVENTS,
    RUNNER_EVENTS,
    JobEvent,
    JobStarted,
    RunnerEvent,
    RunnerStatusChanged,
    RunnerVersionObserved,
)

ACTION: dict[str, str] = {
    "RunnerDiscovered": "discover",
    "RunnerRemoved": "remove",
    "RunnerStatusChanged": "status",
    "RunnerVersionObserved": "version",
    "JobStarted": "start",
    "JobCompleted": "complete",
    "JobFailed": "fail",
}


def runner_key(host: str, provider: str, runner: str) -> str:
    return f"{host}/{provider}/{runner}"


def job_key(host: str, provider: str, job: str) -> str:
    return f"{host}/{provider}/{job}"


def summary(event_type: str, payload: EventPayload) -> str:
    """One line for cross-domain change lists, e.g. "fail build (octo/app) on runner-01: failed"."""
    action = ACTION.get(event_type, event_type)
    if isinstance(payload, JobEvent):
        line = f"{action} {payload.job_name or payload.job}"
        if payload.repo:
            line += f" ({payload.repo})"
        line += f" on {payload.runner}"
        if payload.result:
            line += f": {payload.result}"
        return line
    if isinstance(payload, RunnerStatusChanged):
        before = payload.previous_status or "new"
        return f"{payload.provider} runner {payload.runner}: {before} -> {payload.status}"
    if isinstance(payload, RunnerEvent):
        line = f"{action} {payload.provider} runner {payload.runner}"
        if payload.repo:
            line += f" ({payload.repo})"
        if isinstance(payload, RunnerVersionObserved) and payload.version:
            line += f" {payload.version}"
        return line
    return action


def _event(event: Envelope, payload: EventPayload, label: str, key: str, **props: Any) -> list[GraphOp]:
    ts = event.ts
    return [
        UpsertNode("Host", event.host, {"name": event.host, "first_seen": ts, "last_seen": ts}),
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": event.host,
                "action": ACTION.get(event.type, event.type),
                "subject": key,
                "summary": summary(event.type, payload),
                **props,
            },
        ),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", event.host),
        UpsertRel("ACTED_ON", "Event", event.id, label, key),
    ]


def _order(event: Envelope) -> datetime:
    """The clock that orders a runner's node updates: when the fact was observed, not the time it tells.

    A runner is told of by a scan (its process: microseconds) and by its own log (whole seconds): a
    "Listening for Jobs" line written in the same second as a scan that saw no process carries a time
    *before* that scan's, and compared by its told time the later fact (online) lost to the earlier
    (offline) for good. Observation times come from one clock per producer, in the order the processor
    decides, and are stored in the log: replay orders the same way."""
    return max(event.ts, event.observed_at)


def _runner(
    host: str, provider: str, name: str, ts: datetime, order: datetime, **props: Any
) -> list[GraphOp]:
    key = runner_key(host, provider, name)
    node = {"host": host, "name": name, "provider": provider, **props}
    node.update(first_seen=ts, last_seen=ts, updated_at=order)
    return [
        UpsertNode("GitRunner", key, node, ts=order),
        UpsertRel("INSTALLED_ON", "GitRunner", key, "Host", host),
    ]


def project_runner(event: Envelope, payload: RunnerEvent) -> list[GraphOp]:
    props: dict[str, Any] = {
        "id": payload.runner_id,
        "repo": payload.repo,
        "status": payload.status,
        "version": payload.version,
        "service": payload.service,
        "registered_at": payload.registered_at,
        "labels": ",".join(payload.labels) if payload.labels else None,
    }
    if isinstance(payload, RunnerVersionObserved):
        props["latest_version"] = payload.latest_version
    key = runner_key(event.host, payload.provider, payload.runner)
    ops = _event(event, payload, "GitRunner", key, version=payload.version, repo=payload.repo)
    ops[1:1] = _runner(event.host, payload.provider, payload.runner, event.ts, _order(event), **props)
    return ops


def project_job(event: Envelope, payload: JobEvent) -> list[GraphOp]:
    ts, host = event.ts, event.host
    rkey = runner_key(host, payload.provider, payload.runner)
    jkey = job_key(host, payload.provider, payload.job)
    finished = not isinstance(payload, JobStarted)
    job: dict[str, Any] = {
        "host": host,
        "id": payload.job,
        "provider": payload.provider,
        "runner": rkey,
        "name": payload.job_name,
        "repo": payload.repo,
        "workflow": payload.workflow,
        "status": (payload.result or "unknown") if finished else "running",
        "started_at": payload.started_at,
        "started_minute": payload.started_at.replace(second=0, microsecond=0) if payload.started_at else None,
        "finished_at": ts if finished else None,
        "duration_seconds": payload.duration_seconds,
        "updated_at": ts,
    }
    runner: dict[str, Any] = {"last_job": payload.job}
    if finished:
        runner.update(last_job_at=ts, jobs_completed=payload.runner_jobs_completed)
    ops = _event(event, payload, "CIJob", jkey, repo=payload.repo)
    ops[1:1] = [
        UpsertNode("CIJob", jkey, job, ts=ts),
        *_runner(host, payload.provider, payload.runner, ts, _order(event), **runner),
    ]
    ops.append(UpsertRel("RAN_ON", "CIJob", jkey, "GitRunner", rkey))
    return ops


def project(event: Envelope, payload: EventPayload) -> list[GraphOp]:
    if isinstance(payload, JobEvent):
        return project_job(event, payload)
    if isinstance(payload, RunnerEvent):
        return project_runner(event, payload)
    raise TypeError(f"runners projection got {type(payload).__name__}")


# Which domain event types this projection handles (projections/registry.py collects it).
PROJECTORS: dict[str, Project] = {cls.TYPE: project for cls in (*RUNNER_EVENTS, *JOB_EVENTS)}
