"""ProviderPoller (I/O): what a GitHub provider's API says of its runners and of its queue, on an interval.

Per provider (`[[git_runners.providers]]`), every `interval` seconds. GitLab: `GET /api/v4/runners`, each
runner's status (online, offline, stale, never_contacted) -> RunnerApiObserved; for a project provider that
autoscales, `GET /api/v4/projects/:id/jobs?scope[]=pending` (jobs whose tags the provider's runners carry)
and `?scope[]=running` -> RunnerQueueObserved. GitHub:
- `GET /repos/{owner}/{repo}/actions/runners` (or `/orgs/{org}/...`): each runner's status (online,
  offline) and busy flag, with the newest runner release the provider offers (`GET .../runners/downloads`)
  -> RunnerApiObserved (health from the provider's side, and whether a runner is out of date);
- for a provider that autoscales (max_runners > 0) and names a repository: the queue, as
  actions-runner-controller counts it, `GET .../actions/runs?status=queued` and each run's
  `GET .../runs/{run_id}/jobs`: the queued jobs whose labels this provider's runners all carry, plus the
  runners busy now (jobs assigned) -> RunnerQueueObserved with the provider's bounds.
An API error is logged and the next interval tries again; the API token is never logged (watchman/secrets.py
redacts it) nor put in an observation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from producers.runners.envelopes import api_envelope, queue_envelope
from producers.source import Poll
from schemas.events.runners import RAW_RUNNERS, RunnerApiObserved, RunnerQueueObserved

if TYPE_CHECKING:
    from githubkit import GitHub

log = logging.getLogger(__name__)

# The labels every self-hosted runner carries besides its own (actions/runner's defaults on Linux x64).
DEFAULT_LABELS = frozenset({"self-hosted", "linux", "x64"})
# actions-runner-linux-x64-2.336.0.tar.gz
VERSION = re.compile(r"-(\d+\.\d+\.\d+)\.(?:tar\.gz|zip)$")


def _now() -> datetime:
    return datetime.now(UTC)


class ProviderPoller:
    def __init__(
        self,
        host: str,
        provider: Any,  # watchman.domains.runners.ProviderSettings (the shell's type: no import here)
        token: str,
        *,
        interval: float = 60.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.host = host
        self.provider = provider
        self.topic = RAW_RUNNERS
        self.name = f"runners:api:{provider.name}"
        self.interval = interval
        self._token = token
        self._clock = clock
        self._next: datetime | None = None
        self._gh: GitHub[Any] | None = None

    def scan_now(self) -> None:
        self._next = None

    def _client(self) -> GitHub[Any]:
        if self._gh is None:
            from githubkit import GitHub

            base = (self.provider.api_url or "https://api.github.com").rstrip("/") + "/"
            # No HTTP cache: every poll must see the runners as they are now.
            self._gh = GitHub(self._token, base_url=base, timeout=30, http_cache=False)
        return self._gh

    def _runners(self, gh: GitHub[Any], owner: str, repo: str | None) -> list[Any]:
        if repo is None:
            return list(
                gh.rest.actions.list_self_hosted_runners_for_org(owner, per_page=100).parsed_data.runners
            )
        return list(
            gh.rest.actions.list_self_hosted_runners_for_repo(owner, repo, per_page=100).parsed_data.runners
        )

    @staticmethod
    def _latest(gh: GitHub[Any], owner: str, repo: str | None) -> str | None:
        """The runner release the provider offers now (its downloads name the version)."""
        if repo is None:
            apps = gh.rest.actions.list_runner_applications_for_org(owner).parsed_data
        else:
            apps = gh.rest.actions.list_runner_applications_for_repo(owner, repo).parsed_data
        versions = {m.group(1) for a in apps if (m := VERSION.search(a.filename))}
        return max(versions, key=lambda v: tuple(int(x) for x in v.split("."))) if versions else None

    def _queued(self, gh: GitHub[Any], owner: str, repo: str) -> int:
        ours = DEFAULT_LABELS | {label.lower() for label in self.provider.labels}
        runs = gh.rest.actions.list_workflow_runs_for_repo(owner, repo, status="queued", per_page=100)
        count = 0
        for run in runs.parsed_data.workflow_runs:
            jobs = gh.rest.actions.list_jobs_for_workflow_run(
                owner, repo, run.id, filter_="latest", per_page=100
            )
            for job in jobs.parsed_data.jobs:
                if job.status == "queued" and {label.lower() for label in job.labels} <= ours:
                    count += 1
        return count

    def _gitlab(self, now: datetime) -> Poll:
        """GitLab: `GET /api/v4/runners` (the runners the token's user owns): each one's status."""
        import gitlab

        url = (self.provider.api_url or "https://gitlab.com").rstrip("/")
        client = gitlab.Gitlab(url, private_token=self._token, timeout=30)
        polled = Poll()
        for r in client.runners.list(iterator=True, per_page=100):
            attrs = r.attributes
            name = attrs.get("description") or attrs.get("name")
            if not name:
                continue
            obs = RunnerApiObserved(
                ts=now,
                provider="gitlab",
                runner=str(name),
                runner_id=attrs.get("id"),
                status=str(attrs["status"]),
            )
            polled.observations.append(api_envelope(self.host, obs, now))
        if self.provider.max_runners > 0 and self.provider.scope.isdigit():
            # The queue of a project: pending jobs whose tags this provider's runners carry, and running ones.
            project = client.projects.get(int(self.provider.scope), lazy=True)
            ours = {t.lower() for t in self.provider.labels}
            pending = [
                j
                for j in project.jobs.list(scope=["pending"], iterator=True, per_page=100)
                if {t.lower() for t in j.attributes.get("tag_list") or []} <= ours
            ]
            running = list(project.jobs.list(scope=["running"], iterator=True, per_page=100))
            queue = RunnerQueueObserved(
                ts=now,
                provider=self.provider.name,
                queued_jobs=len(pending),
                running_jobs=len(running),
                min_runners=self.provider.min_runners,
                max_runners=self.provider.max_runners,
                cool_down_minutes=self.provider.cool_down_minutes,
            )
            polled.observations.append(queue_envelope(self.host, queue, now))
        return polled

    def observe(self, now: datetime) -> Poll:
        if self.provider.kind == "gitlab":
            return self._gitlab(now)
        polled = Poll()
        owner, _, repo_part = self.provider.scope.partition("/")
        repo = repo_part or None
        gh = self._client()
        runners = self._runners(gh, owner, repo)
        latest = self._latest(gh, owner, repo)
        for r in runners:
            obs = RunnerApiObserved(
                ts=now,
                provider="github",
                runner=r.name,
                runner_id=r.id,
                status=r.status,
                busy=r.busy,
                labels=tuple(label.name for label in r.labels),
                latest_version=latest,
            )
            polled.observations.append(api_envelope(self.host, obs, now))
        if self.provider.max_runners > 0 and repo is not None:
            queue = RunnerQueueObserved(
                ts=now,
                provider=self.provider.name,
                queued_jobs=self._queued(gh, owner, repo),
                running_jobs=sum(1 for r in runners if r.busy),
                min_runners=self.provider.min_runners,
                max_runners=self.provider.max_runners,
                cool_down_minutes=self.provider.cool_down_minutes,
            )
            polled.observations.append(queue_envelope(self.host, queue, now))
        return polled

    def poll(self, max_lines: int) -> Poll:
        now = self._clock()
        if self._next is not None and now < self._next:
            return Poll()
        self._next = now + timedelta(seconds=self.interval)
        try:
            return self.observe(now)
        except Exception as exc:  # an API that fails is told and asked again next interval
            log.warning("%s: %s: %s", self.name, type(exc).__name__, exc)
            return Poll()

    def close(self) -> None:
        if self._gh is not None:
            self._gh = None
