"""The stand-in GitHub/GitLab API of the runner tests checks what it is sent and what it answers: a
request or an answer that strays from GitHub's OpenAPI description (or GitLab's documented attributes)
is a violation, so the runner tests' `violations == []` can fail."""

from __future__ import annotations

import httpx

from tests.support.ci_apis import running_ci_api

TOKEN = "test-token-123456"


def test_violations_are_caught() -> None:
    with running_ci_api(TOKEN) as api:
        h = {"Authorization": f"Bearer {TOKEN}"}
        ok = httpx.post(f"{api.url}/repos/o/r/actions/runners/registration-token", headers=h)
        assert ok.status_code == 201 and set(ok.json()) == {"token", "expires_at"}
        assert api.violations == []
        # A body the description does not allow (generate-jitconfig requires runner_group_id and labels).
        bad = httpx.post(
            f"{api.url}/repos/o/r/actions/runners/generate-jitconfig", headers=h, json={"name": "x"}
        )
        assert bad.status_code == 422
        # A path the description does not have, and a wrong token.
        assert (
            httpx.post(f"{api.url}/repos/o/r/actions/runner/registration-token", headers=h).status_code == 404
        )
        assert (
            httpx.get(
                f"{api.url}/repos/o/r/actions/runners", headers={"Authorization": "Bearer x"}
            ).status_code
            == 401
        )
        # GitLab: an attribute the documentation does not list, and a project runner without its project.
        gl = {"PRIVATE-TOKEN": TOKEN}
        assert (
            httpx.post(
                f"{api.url}/api/v4/user/runners", headers=gl, json={"runner_type": "project_type"}
            ).status_code
            == 400
        )
        assert (
            httpx.post(
                f"{api.url}/api/v4/user/runners",
                headers=gl,
                json={"runner_type": "instance_type", "name": "x"},
            ).status_code
            == 400
        )
        kinds = [v.split(":")[0] for v in api.violations]
        assert len(api.violations) >= 6, api.violations
        assert any("runner_group_id" in v for v in api.violations)
        assert any("no such operation" in v for v in api.violations)
        assert any("undocumented attributes ['name']" in v for v in api.violations)
        assert kinds


def test_answers_match_the_description() -> None:
    with running_ci_api(TOKEN) as api:
        api.queue[5] = [["self-hosted"]]
        h = {"Authorization": f"Bearer {TOKEN}"}
        for path in ("runners", "runners/downloads", "runs?status=queued", "runs/5/jobs"):
            assert httpx.get(f"{api.url}/repos/o/r/actions/{path}", headers=h).status_code == 200, path
        assert api.violations == []
        # The checker judges the answers too: an answer the description does not allow is a violation.
        op = api.github.operation("GET", "/repos/o/r/actions/runners")
        assert op is not None
        assert api.github.response_errors(op, 200, {"total_count": "one"}) != []
        assert api.github.response_errors(op, 418, {}) != []
