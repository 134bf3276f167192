"""A local stand-in for the GitHub REST API and the GitLab REST API (neither can be reached from here).

`running_ci_api()` serves, on 127.0.0.1, exactly the endpoints the product calls, and checks every request
and every response it gives:

- GitHub: each request and response against GitHub's published OpenAPI description of api.github.com,
  the `@octokit/openapi` npm package (pinned below, fetched with `npm pack` at test set-up into
  ${WATCHMAN_TEST_CACHE:-~/.cache/watchman-tests}, its integrity checked against the pinned sha512, the way
  infra/ caches jars). The path must match one of the description's path templates with that method, the
  JSON body must validate against its requestBody schema, the answer against the schema of the status
  it gives (OpenAPI 3.0 schemas: openapi-schema-validator's OAS30 validator).
    POST /repos/{owner}/{repo}/actions/runners/registration-token    (and /orgs/{org}/...)
    POST /repos/{owner}/{repo}/actions/runners/remove-token          (and /orgs/{org}/...)
    POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig
    GET  /repos/{owner}/{repo}/actions/runners, GET .../actions/runners/downloads
    GET  /repos/{owner}/{repo}/actions/runs?status=queued, GET .../runs/{run_id}/jobs (answers built from
         the description's own examples, with the test's queue in them)
- GitLab: `GET /api/v4/runners` and `GET /api/v4/projects/:id/jobs?scope[]=` (the documented fields), and
  `POST /api/v4/user/runners` against its
  documentation (docs.gitlab.com, "Users API: create a
  runner linked to a user", GitLab 15.10+): `runner_type` required (instance_type, group_type,
  project_type), `group_id` with group_type, `project_id` with project_type, optional description, paused,
  locked, run_untagged, tag_list, access_level, maximum_timeout, maintenance_note; answer 201 with id,
  token (glrt-...) and token_expires_at. GitLab publishes no machine-readable description of that endpoint.

Every violation is kept in `violations` (the test asserts there is none) and answered 400 / 500, so a
client that strays fails loudly. Tokens: the caller's must be the one the test gave (`api_token`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

OCTOKIT_OPENAPI = "@octokit/openapi@23.0.2"
OCTOKIT_SHA512 = "pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg=="
SPEC_MEMBER = "package/generated/api.github.com.json"


def cache_dir() -> Path:
    return Path(os.environ.get("WATCHMAN_TEST_CACHE", str(Path.home() / ".cache" / "watchman-tests")))


def github_openapi() -> Path:
    """GitHub's OpenAPI description (api.github.com.json of @octokit/openapi), fetched once with npm."""
    where = cache_dir() / "octokit-openapi-23.0.2"
    spec = where / "api.github.com.json"
    if spec.exists():
        return spec
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "pack", OCTOKIT_OPENAPI, "--pack-destination", str(where)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    tgz = next(where.glob("octokit-openapi-*.tgz"))
    digest = base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    if digest != OCTOKIT_SHA512:
        tgz.unlink()
        raise RuntimeError(f"{OCTOKIT_OPENAPI}: integrity sha512-{digest} is not the pinned one")
    with tarfile.open(tgz) as tar:
        member = tar.extractfile(SPEC_MEMBER)
        assert member is not None
        tmp = spec.with_suffix(".tmp")
        tmp.write_bytes(member.read())
    tmp.replace(spec)
    tgz.unlink()
    return spec


class OpenApi:
    """The operations of an OpenAPI 3.0 description, and validation of bodies against their schemas."""

    def __init__(self, path: Path) -> None:
        from jsonschema import validators
        from jsonschema._keywords import enum as _enum
        from openapi_schema_validator import OAS30Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4

        self.doc = json.loads(path.read_text())

        def enum(validator: Any, enums: Any, instance: Any, schema: dict[str, Any]) -> Any:
            # GitHub's description marks such fields `nullable: true` with an enum of the non-null values
            # (a queued job's conclusion is null): null is what nullable means there.
            if instance is None and schema.get("nullable") is True:
                return
            yield from _enum(validator, enums, instance, schema)

        self._validator = validators.extend(OAS30Validator, {"enum": enum})
        resource = Resource.from_contents(self.doc, default_specification=DRAFT4)
        self._registry = Registry().with_resource("spec", resource)
        self._templates = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$"), p)
            for p in self.doc["paths"]
        ]

    def example(self, path: str, name: str) -> Any:
        """A named example of the description (components/examples/NAME) of PATH's answers."""
        assert path in self.doc["paths"], path
        return self.doc["components"]["examples"][name]["value"]

    def operation(self, method: str, path: str) -> list[str] | None:
        """The JSON pointer (as parts) of the operation serving METHOD PATH, or None."""
        for pattern, template in self._templates:
            if pattern.match(path) and method.lower() in self.doc["paths"][template]:
                return ["paths", template, method.lower()]
        return None

    def _walk(self, parts: list[str]) -> tuple[list[str], Any] | None:
        """Follow `parts` from the root, through any $ref on the way: (the pointer reached, its node)."""
        node: Any = self.doc
        where: list[str] = []
        for part in parts:
            while isinstance(node, dict) and "$ref" in node and part not in node:
                where = node["$ref"].lstrip("#/").split("/")
                node = self._at(where)
            if not isinstance(node, dict) or part not in node:
                return None
            node, where = node[part], [*where, part]
        return where, node

    def _at(self, parts: list[str]) -> Any:
        node: Any = self.doc
        for part in parts:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _errors(self, pointer: list[str], value: Any) -> list[str]:
        # Validate against the schema where it sits, so that its local $refs resolve in the description.
        escaped = "/".join(p.replace("~", "~0").replace("/", "~1") for p in pointer)
        validator = self._validator({"$ref": f"spec#/{escaped}"}, registry=self._registry)
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]

    def request_errors(self, op: list[str], body: Any) -> list[str]:
        rb = self._walk([*op, "requestBody"])
        if rb is None:
            return [] if body is None else ["the operation takes no body"]
        if body is None:
            required = self._walk([*op, "requestBody", "required"])
            return ["a request body is required"] if required and required[1] else []
        schema = self._walk([*op, "requestBody", "content", "application/json", "schema"])
        return [] if schema is None else self._errors(schema[0], body)

    def response_errors(self, op: list[str], status: int, body: Any) -> list[str]:
        if self._walk([*op, "responses", str(status)]) is None:
            documented = self._walk([*op, "responses"])
            known = ", ".join(documented[1] if documented else ())
            return [f"status {status} is not a documented answer ({known})"]
        schema = self._walk([*op, "responses", str(status), "content", "application/json", "schema"])
        return [] if schema is None else self._errors(schema[0], body)


@dataclass
class CiApi:
    """What the stand-in API knows and saw; tests read it."""

    api_token: str
    github: OpenApi
    url: str = ""
    violations: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    # Tokens handed out (registration, removal, JIT configs, GitLab runner tokens): tests search for them.
    issued: list[str] = field(default_factory=list)
    # GitHub runners the API reports (GET .../actions/runners): name -> (id, status, busy).
    runners: dict[str, tuple[int, str, bool]] = field(default_factory=dict)
    latest_version: str = "2.337.0"
    # GitLab project jobs (GET /api/v4/projects/:id/jobs): id -> (status, tag_list).
    gitlab_jobs: dict[int, tuple[str, list[str]]] = field(default_factory=dict)
    # The query string of the request being answered (parameter -> values).
    query: dict[str, list[str]] = field(default_factory=dict)
    # GitLab runners the API lists (GET /api/v4/runners): description -> (id, status).
    gitlab_runners: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Queued workflow runs: run id -> the labels of each of its queued jobs.
    queue: dict[int, list[list[str]]] = field(default_factory=dict)
    next_id: int = 100
    lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self, prefix: str) -> str:
        value = prefix + base64.b32encode(os.urandom(20)).decode().rstrip("=")
        self.issued.append(value)
        return value


def _expires() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0).isoformat()


def _github(api: CiApi, method: str, path: str, body: Any) -> tuple[int, Any]:
    if m := re.fullmatch(
        r"/(?:repos/[^/]+/[^/]+|orgs/[^/]+)/actions/runners/(registration|remove)-token", path
    ):
        return 201, {
            "token": api.token("A" if m.group(1) == "registration" else "R"),
            "expires_at": _expires(),
        }
    if re.fullmatch(r"/repos/[^/]+/[^/]+/actions/runners/generate-jitconfig", path):
        with api.lock:
            rid, api.next_id = api.next_id, api.next_id + 1
        runner = _runner_json(rid, body["name"], "offline", False, body.get("labels", []))
        files = {
            ".runner": json.dumps(
                {
                    "agentId": rid,
                    "agentName": body["name"],
                    "poolId": 1,
                    "poolName": "Default",
                    "gitHubUrl": "https://github.com/" + "/".join(path.split("/")[2:4]),
                    "workFolder": body.get("work_folder", "_work"),
                    "ephemeral": True,
                }
            ),
            ".credentials": json.dumps({"scheme": "OAuthAccessToken", "data": {"token": api.token("J")}}),
        }
        encoded = base64.b64encode(
            json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in files.items()}).encode()
        ).decode()
        api.issued.append(encoded)
        return 201, {"runner": runner, "encoded_jit_config": encoded}
    if re.fullmatch(r"/repos/[^/]+/[^/]+/actions/runners/downloads", path):
        v = api.latest_version
        return 200, [
            {
                "os": "linux",
                "architecture": arch,
                "download_url": f"https://github.com/actions/runner/releases/download/v{v}/actions-runner-linux-{arch}-{v}.tar.gz",
                "filename": f"actions-runner-linux-{arch}-{v}.tar.gz",
            }
            for arch in ("x64", "arm64")
        ]
    if re.fullmatch(r"/repos/[^/]+/[^/]+/actions/runs", path) and method == "GET":
        # Built from the description's own example of this answer, with the test's queue in it.
        example = api.github.example("/repos/{owner}/{repo}/actions/runs", "workflow-run-paginated")
        runs = []
        for run_id in sorted(api.queue):
            run = json.loads(json.dumps(example["workflow_runs"][0]))
            run.update(id=run_id, status="queued", conclusion=None)
            runs.append(run)
        return 200, {"total_count": len(runs), "workflow_runs": runs}
    if m := re.fullmatch(r"/repos/[^/]+/[^/]+/actions/runs/(\d+)/jobs", path):
        example = api.github.example("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "job-paginated")
        jobs = []
        for i, labels in enumerate(api.queue.get(int(m.group(1)), [])):
            job = json.loads(json.dumps(example["jobs"][0]))
            job.update(id=int(m.group(1)) * 100 + i, run_id=int(m.group(1)), status="queued", conclusion=None)
            job.update(labels=labels, runner_id=None, runner_name=None, completed_at=None, steps=[])
            job.setdefault("created_at", job["started_at"])  # required since the example was written
            jobs.append(job)
        return 200, {"total_count": len(jobs), "jobs": jobs}
    if re.fullmatch(r"/repos/[^/]+/[^/]+/actions/runners", path) and method == "GET":
        listed = [
            _runner_json(rid, name, status, busy, [])
            for name, (rid, status, busy) in sorted(api.runners.items())
        ]
        return 200, {"total_count": len(listed), "runners": listed}
    return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}


def _runner_json(rid: int, name: str, status: str, busy: bool, labels: list[str]) -> dict[str, Any]:
    names = ["self-hosted", "Linux", "X64", *labels]
    return {
        "id": rid,
        "name": name,
        "os": "Linux",
        "status": status,
        "busy": busy,
        "labels": [
            {"id": i + 1, "name": n, "type": "read-only" if i < 3 else "custom"} for i, n in enumerate(names)
        ],
    }


GITLAB_CREATE = {
    "runner_type",
    "group_id",
    "project_id",
    "description",
    "paused",
    "locked",
    "run_untagged",
    "tag_list",
    "access_level",
    "maximum_timeout",
    "maintenance_note",
}


def _gitlab(api: CiApi, method: str, path: str, body: Any) -> tuple[int, Any]:
    if path == "/api/v4/runners" and method == "GET":
        # docs.gitlab.com "Runners API: list owned runners": id, description, ip_address, active, paused,
        # is_shared, runner_type, name, online, status (online, offline, stale, never_contacted).
        rows = [
            {
                "id": rid,
                "description": name,
                "ip_address": None,
                "active": True,
                "paused": False,
                "is_shared": False,
                "runner_type": "project_type",
                "name": "gitlab-runner",
                "online": status == "online",
                "status": status,
            }
            for name, (rid, status) in sorted(api.gitlab_runners.items())
        ]
        return 200, rows
    if re.fullmatch(r"/api/v4/projects/\d+/jobs", path):
        # docs.gitlab.com "Jobs API: list project jobs": scope[] filters by status; fields used here:
        # id, status, name, stage, tag_list, created_at, runner.
        scopes = api.query.get("scope[]", [])
        rows = [
            {
                "id": jid,
                "status": status,
                "name": f"job-{jid}",
                "stage": "test",
                "tag_list": tags,
                "created_at": "2026-12-04T10:00:00.000Z",
                "runner": None,
            }
            for jid, (status, tags) in sorted(api.gitlab_jobs.items())
            if not scopes or status in scopes
        ]
        return 200, rows
    if path != "/api/v4/user/runners" or method != "POST":
        return 404, {"message": "404 Not Found"}
    problems = []
    if not isinstance(body, dict):
        problems.append("body is not a JSON object")
        body = {}
    if set(body) - GITLAB_CREATE:
        problems.append(f"undocumented attributes {sorted(set(body) - GITLAB_CREATE)}")
    kind = body.get("runner_type")
    if kind not in ("instance_type", "group_type", "project_type"):
        problems.append(f"runner_type {kind!r}")
    if kind == "project_type" and not isinstance(body.get("project_id"), int):
        problems.append("project_type needs an integer project_id")
    if kind == "group_type" and not isinstance(body.get("group_id"), int):
        problems.append("group_type needs an integer group_id")
    if "tag_list" in body and not isinstance(body["tag_list"], (str, list)):
        problems.append("tag_list is an array of strings (or comma-separated)")
    if problems:
        api.violations += [f"POST {path}: {p}" for p in problems]
        return 400, {"message": "; ".join(problems)}
    with api.lock:
        rid, api.next_id = api.next_id, api.next_id + 1
    return 201, {"id": rid, "token": api.token("glrt-"), "token_expires_at": None}


def running_ci_api(api_token: str) -> contextlib.AbstractContextManager[CiApi]:
    return _serve(api_token)


@contextlib.contextmanager
def _serve(api_token: str) -> Iterator[CiApi]:
    api = CiApi(api_token=api_token, github=OpenApi(github_openapi()))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            path, _, query = self.path.partition("?")
            api.query = parse_qs(query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                api.violations.append(f"{method} {path}: body is not JSON")
                return self._answer(400, {"message": "Problems parsing JSON"})
            api.calls.append((method, path))
            if path.startswith("/api/v4/"):
                if self.headers.get("PRIVATE-TOKEN") != api.api_token:
                    api.violations.append(f"{method} {path}: no PRIVATE-TOKEN of the test")
                    return self._answer(401, {"message": "401 Unauthorized"})
                status, answer = _gitlab(api, method, path, body)
                return self._answer(status, answer)
            auth = self.headers.get("Authorization", "")
            if auth not in (f"Bearer {api.api_token}", f"token {api.api_token}"):
                api.violations.append(f"{method} {path}: Authorization is not the test's token")
                return self._answer(401, {"message": "Bad credentials"})
            op = api.github.operation(method, path)
            if op is None:
                api.violations.append(f"{method} {path}: no such operation in api.github.com's description")
                return self._answer(404, {"message": "Not Found"})
            errors = api.github.request_errors(op, body)
            if errors:
                api.violations += [f"{method} {path} request: {e}" for e in errors]
                return self._answer(422, {"message": "Validation Failed", "errors": errors[:5]})
            status, answer = _github(api, method, path, body)
            errors = api.github.response_errors(op, status, answer)
            if errors:
                api.violations += [f"{method} {path} response {status}: {e}" for e in errors]
                return self._answer(500, {"message": "the stand-in's answer broke the description"})
            return self._answer(status, answer)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
