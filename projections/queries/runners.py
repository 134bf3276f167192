"""The runners domain's questions (CI runners and their jobs); "today": since 00:00 UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.named import NamedQuery, Param, since, since_hours

# Finished without success: what JobFailed records (schemas/events/runners.py JobResult).
FAILED = ["failed", "cancelled", "abandoned", "unknown"]


def _failed(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {**since(p, now), "failed": FAILED}


QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "runners-running-jobs",
        "Which runners are currently running jobs?",
        "MATCH (r:GitRunner) WHERE r.status = $busy "
        "OPTIONAL MATCH (j:CIJob)-[:RAN_ON]->(r) WHERE j.status = $running "
        "RETURN r.host AS host, r.name AS runner, r.provider AS provider, coalesce(j.name, j.id) AS job, "
        "j.repo AS repo, j.workflow AS workflow, j.started_at AS started_at "
        "ORDER BY host, runner, started_at",
        (),
        lambda p, now: {"busy": "busy", "running": "running"},
    ),
    NamedQuery(
        "ci-jobs-failed",
        "Show me failed CI jobs from last week (failed, cancelled or abandoned; the last N days)",
        "MATCH (j:CIJob)-[:RAN_ON]->(r:GitRunner) WHERE j.status IN $failed AND j.finished_at >= $since "
        "RETURN j.finished_at AS finished_at, r.host AS host, r.name AS runner, j.repo AS repo, "
        "j.workflow AS workflow, coalesce(j.name, j.id) AS job, j.id AS job_id, j.status AS result, "
        "j.duration_seconds AS duration_seconds ORDER BY finished_at DESC, runner",
        (Param("days", int, 7, "look back this many days"),),
        _failed,
    ),
    NamedQuery(
        "runner-jobs-today",
        "How many jobs did runner-01 complete today? (--param runner=NAME; hours=N looks back N hours)",
        "MATCH (r:GitRunner) WHERE r.name = $runner "
        "OPTIONAL MATCH (j:CIJob)-[:RAN_ON]->(r) WHERE j.finished_at >= $since "
        "RETURN r.host AS host, r.name AS runner, r.provider AS provider, count(j) AS jobs, "
        "sum(CASE WHEN j.status = $ok THEN 1 ELSE 0 END) AS succeeded ORDER BY host",
        (
            Param("runner", str, None, "the runner's name"),
            Param("hours", int, 0, "look back this many hours (0: today)"),
        ),
        lambda p, now: {**since_hours(p, now), "ok": "succeeded"},
    ),
    NamedQuery(
        "ci-job-duration",
        "What's the average CI job duration? (finished jobs of the last N days, per repository)",
        "MATCH (j:CIJob) WHERE j.finished_at >= $since AND j.duration_seconds IS NOT NULL "
        "RETURN j.repo AS repo, count(j) AS jobs, avg(j.duration_seconds) AS average_seconds, "
        "min(j.duration_seconds) AS min_seconds, max(j.duration_seconds) AS max_seconds "
        "ORDER BY jobs DESC, repo",
        (Param("days", int, 7, "look back this many days"),),
        since,
    ),
    NamedQuery(
        "runners",
        "Which CI runners are installed, and how are they? (GET /admin/runners)",
        "MATCH (r:GitRunner) RETURN r.host AS host, r.provider AS provider, r.name AS runner, r.id AS id, "
        "r.repo AS repo, r.status AS status, r.version AS version, r.latest_version AS latest_version, "
        "r.registered_at AS registered_at, r.last_job AS last_job, r.jobs_completed AS jobs_completed, "
        "r.service AS service, r.labels AS labels ORDER BY host, provider, runner",
    ),
    NamedQuery(
        "ci-jobs",
        "Which CI jobs ran in the last N days? (GET /admin/runners/jobs?days=7)",
        "MATCH (j:CIJob)-[:RAN_ON]->(r:GitRunner) WHERE j.started_at >= $since OR j.finished_at >= $since "
        "RETURN j.started_at AS started_at, j.finished_at AS finished_at, r.host AS host, r.name AS runner, "
        "j.provider AS provider, j.id AS job_id, coalesce(j.name, j.id) AS job, j.repo AS repo, "
        "j.workflow AS workflow, j.status AS status, j.duration_seconds AS duration_seconds "
        "ORDER BY started_at DESC, runner LIMIT $limit",
        (
            Param("days", int, 7, "look back this many days"),
            Param("limit", int, 1000, "at most this many rows"),
        ),
        since,
    ),
    NamedQuery(
        "runners-outdated",
        "Which runners run an older version than the newest their provider offers?",
        "MATCH (r:GitRunner) WHERE r.version IS NOT NULL AND r.latest_version IS NOT NULL "
        "AND r.version <> r.latest_version AND r.status <> $removed "
        "RETURN r.host AS host, r.provider AS provider, r.name AS runner, r.version AS version, "
        "r.latest_version AS latest_version ORDER BY host, runner",
        (),
        lambda p, now: {"removed": "removed"},
    ),
    NamedQuery(
        "ci-job-resources",
        "How much CPU and memory did each CI job use? (its runner service's per-minute samples)",
        "MATCH (j:CIJob)-[:RAN_ON]->(r:GitRunner) WHERE j.finished_at >= $since "
        "MATCH (m:ServiceMetrics) WHERE m.host = r.host AND m.service = r.service "
        "AND m.ts >= j.started_minute AND m.ts <= j.finished_at "
        "RETURN j.finished_at AS finished_at, r.name AS runner, coalesce(j.name, j.id) AS job, "
        "j.repo AS repo, j.status AS status, max(m.cpu_percent) AS max_cpu_percent, "
        "max(m.rss_bytes) AS max_rss_bytes, count(m) AS minutes ORDER BY finished_at DESC, runner",
        (Param("days", int, 7, "look back this many days"),),
        since,
    ),
)
