"""The provider API poller against the stand-in GitHub and GitLab APIs (tests/support/ci_apis.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from producers.runners.api import ProviderPoller
from tests.support.ci_apis import running_ci_api
from watchman.domains.runners import ProviderSettings

TOKEN = "poller-test-token-0001"
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def test_github_runners_queue_and_latest_release() -> None:
    with running_ci_api(TOKEN) as api:
        api.runners["runner-01"] = (17, "online", True)
        api.runners["runner-02"] = (18, "offline", False)
        api.queue[7] = [["self-hosted", "linux"], ["self-hosted", "gpu"]]
        provider = ProviderSettings(
            name="octo",
            kind="github",
            scope="octo-org/app",
            api_url=api.url,
            max_runners=3,
            labels=("linux",),
        )
        polled = ProviderPoller("vm", provider, TOKEN).observe(NOW)
        by_type: dict[str, list[dict[str, object]]] = {}
        for e in polled.observations:
            by_type.setdefault(e.type, []).append(e.payload)
        runners = {p["runner"]: p for p in by_type["RunnerApiObserved"]}
        assert (runners["runner-01"]["status"], runners["runner-01"]["busy"]) == ("online", True)
        assert runners["runner-02"]["status"] == "offline"
        assert runners["runner-01"]["latest_version"] == "2.337.0"
        (queue,) = by_type["RunnerQueueObserved"]
        # One queued job this provider's runners can take (the gpu one they cannot), one busy runner.
        assert (queue["queued_jobs"], queue["running_jobs"], queue["max_runners"]) == (1, 1, 3)
        assert api.violations == []


def test_gitlab_runner_status_and_queue() -> None:
    with running_ci_api(TOKEN) as api:
        api.gitlab_runners["gl-runner-01"] = (42, "online")
        api.gitlab_runners["gl-old"] = (43, "stale")
        api.gitlab_jobs = {
            1: ("pending", ["docker"]),
            2: ("pending", ["gpu"]),
            3: ("running", []),
            4: ("success", []),
        }
        provider = ProviderSettings(
            name="lab",
            kind="gitlab",
            scope="42",
            api_url=api.url,
            labels=("docker",),
            max_runners=5,
            min_runners=1,
        )
        polled = ProviderPoller("vm", provider, TOKEN).observe(NOW)
        status = [e.payload for e in polled.observations if e.type == "RunnerApiObserved"]
        got = sorted((p["runner"], p["runner_id"], p["status"]) for p in status)
        assert got == [("gl-old", 43, "stale"), ("gl-runner-01", 42, "online")]
        (queue,) = [e.payload for e in polled.observations if e.type == "RunnerQueueObserved"]
        # One pending job this provider's runners can take (the gpu one they cannot), one running.
        assert (queue["queued_jobs"], queue["running_jobs"]) == (1, 1)
        assert api.violations == [] and ("GET", "/api/v4/projects/42/jobs") in api.calls


def test_an_api_that_fails_is_asked_again_later() -> None:
    provider = ProviderSettings(name="octo", kind="github", scope="o/r", api_url="http://127.0.0.1:9")
    poller = ProviderPoller("vm", provider, TOKEN, interval=0)
    assert poller.poll(100).observations == []  # logged, not raised
