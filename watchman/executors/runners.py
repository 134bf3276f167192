"""RegisterRunner / RemoveRunner / ScaleRunners: act on this host's CI runners.

Registration (DESIGN §9 commands; the API token from watchman/secrets.py, named by the provider's
`token = "secret:NAME"`):
- GitHub, through githubkit (typed models generated from GitHub's own OpenAPI description, sync, a
  `base_url` for GitHub Enterprise Server): a registration token (`POST /repos/{owner}/{repo}/actions/runners
  /registration-token`, or `/orgs/{org}/...`), then the runner's `config.sh --unattended --url --name
  --work --replace [--labels] [--ephemeral]` in <runners_dir>/<name> (a copy of the release the provider's
  `runner_command` lives in). An ephemeral runner is a just-in-time one: `POST .../generate-jitconfig`, then
  `run.sh` started detached, which takes one job and exits. The tokens go to the runner's tools through
  their environment (`ACTIONS_RUNNER_INPUT_TOKEN`, `ACTIONS_RUNNER_INPUT_JITCONFIG`: actions/runner's
  CommandSettings reads every argument from ACTIONS_RUNNER_INPUT_<NAME> and masks the secret ones), never
  on a command line other users can read in /proc.
- GitLab, through python-gitlab: `POST /api/v4/user/runners` (a runner authentication token, glrt-...),
  then `gitlab-runner register --non-interactive --config --url --name --executor` with the token in
  `CI_SERVER_TOKEN` (the environment variable gitlab-runner reads for --token).
Removal: GitHub `config.sh remove` with a removal token; GitLab `gitlab-runner unregister --name`.

Idempotent: a runner already registered under that name succeeds without acting again; a removal of a
runner that is not here succeeds too. No token reaches an outcome, an event or a log line: the outcome's
detail names the runner and the tool's exit, with any token scrubbed from the tool's output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.envelope import Envelope
from schemas.events import CommandFailed, CommandPayload, CommandRejected, CommandSucceeded
from schemas.events.runners import RegisterRunner, RemoveRunner, ScaleRunners
from watchman.executors import ExecContext, Outcome, executor
from watchman.secrets import REDACTED, SecretError, Secrets

if TYPE_CHECKING:
    from watchman.domains.runners import ProviderSettings, RunnerSettings

GITHUB_API = "https://api.github.com"
GITLAB_URL = "https://gitlab.com"
# Files of a runner's directory that belong to one registration: never copied to a new runner.
_PER_RUNNER = shutil.ignore_patterns(
    ".runner", ".credentials*", ".service", "_diag", "_work", ".env", ".path"
)


class _Refused(Exception):
    """The command cannot be done as asked (settings, secrets): CommandRejected with this message."""


def _context(
    ctx: ExecContext, type_name: str, provider_name: str
) -> tuple[RunnerSettings, ProviderSettings, Secrets]:
    opts: dict[str, Any] = dict(ctx.options.get(type_name, {}))
    settings = opts.get("settings")
    if settings is None:
        raise _Refused("no git_runners settings on this host")
    provider = settings.provider(provider_name)
    if provider is None:
        known = ", ".join(p.name for p in settings.providers) or "none"
        raise _Refused(f"no provider {provider_name!r} in [[git_runners.providers]] (known: {known})")
    return settings, provider, Secrets(opts.get("secrets_dir"))


def _api_token(provider: ProviderSettings, secrets: Secrets) -> str:
    if not provider.token:
        raise _Refused(f'provider {provider.name} has no token (token = "secret:NAME")')
    try:
        return secrets.resolve(provider.token)
    except SecretError as exc:
        raise _Refused(str(exc)) from None


def _scrub(text: str, *values: str) -> str:
    for v in values:
        if v:
            text = text.replace(v, REDACTED)
    return text


def _run(
    argv: list[str], cwd: Path | None, env: dict[str, str], timeout: float, *secret: str
) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, _scrub(f"{type(exc).__name__}: {exc}", *secret)
    tail = (proc.stdout + proc.stderr).strip()[-400:]
    return proc.returncode, _scrub(tail, *secret)


# --- GitHub ---------------------------------------------------------------------------------------------


def _github(provider: ProviderSettings, token: str) -> Any:
    from githubkit import GitHub

    return GitHub(token, base_url=(provider.api_url or GITHUB_API).rstrip("/") + "/")


def _scope(provider: ProviderSettings) -> tuple[str, str | None]:
    """(owner or org, repo or None) of a GitHub scope."""
    owner, _, repo = provider.scope.partition("/")
    return owner, (repo or None)


def _runner_dir(provider: ProviderSettings, name: str) -> Path:
    if provider.runners_dir is None:
        raise _Refused(f"provider {provider.name} has no runners_dir (where new runners are put)")
    return provider.runners_dir / name


def _registered_name(directory: Path) -> str | None:
    from producers.runners.github import ParseError, parse_runner_file

    try:
        return parse_runner_file((directory / ".runner").read_bytes()).name
    except (OSError, ParseError):
        return None


def _prepare(provider: ProviderSettings, directory: Path) -> None:
    """A runner directory: a copy of the release that holds the provider's config.sh."""
    release = Path(provider.runner_command).parent
    if not (release / "config.sh").exists():
        raise _Refused(f"provider {provider.name}: no config.sh at {provider.runner_command!r}")
    if not directory.exists():
        shutil.copytree(release, directory, symlinks=True, ignore=_PER_RUNNER)


def _github_register(
    settings: RunnerSettings, provider: ProviderSettings, p: RegisterRunner, api_token: str
) -> Outcome:
    directory = _runner_dir(provider, p.name)
    if _registered_name(directory) == p.name:
        return CommandSucceeded, f"{p.name} is already registered in {directory}"
    _prepare(provider, directory)
    gh = _github(provider, api_token)
    owner, repo = _scope(provider)
    if p.ephemeral:
        data = {
            "name": p.name,
            "runner_group_id": 1,
            "labels": list(p.labels) or ["self-hosted"],
            "work_folder": "_work",
        }
        if repo is None:
            resp = gh.rest.actions.generate_runner_jitconfig_for_org(owner, data=data)
        else:
            resp = gh.rest.actions.generate_runner_jitconfig_for_repo(owner, repo, data=data)
        jit = resp.parsed_data.encoded_jit_config
        runner_id = resp.parsed_data.runner.id
        # run.sh takes one job and exits: started detached, in its own session, outliving this command.
        try:
            subprocess.Popen(
                [str(directory / "run.sh")],
                cwd=directory,
                env={**os.environ, "ACTIONS_RUNNER_INPUT_JITCONFIG": jit},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            return CommandFailed, f"run.sh of {p.name}: {type(exc).__name__}: {exc.strerror}"
        return CommandSucceeded, f"started just-in-time runner {p.name} (id {runner_id}) for {provider.scope}"
    if repo is None:
        reg = gh.rest.actions.create_registration_token_for_org(owner).parsed_data.token
    else:
        reg = gh.rest.actions.create_registration_token_for_repo(owner, repo).parsed_data.token
    argv = ["./config.sh", "--unattended", "--url", f"{provider.web_url.rstrip('/')}/{provider.scope}"]
    argv += ["--name", p.name, "--work", "_work", "--replace"]
    labels = [*provider.labels, *p.labels]
    if labels:
        argv += ["--labels", ",".join(labels)]
    code, out = _run(
        argv, directory, {"ACTIONS_RUNNER_INPUT_TOKEN": reg}, settings.register_timeout, reg, api_token
    )
    if code != 0:
        return CommandFailed, f"config.sh for {p.name} exited {code}: {out}"
    return CommandSucceeded, f"registered {p.name} with {provider.scope} in {directory}"


def _github_remove(
    settings: RunnerSettings, provider: ProviderSettings, p: RemoveRunner, api_token: str
) -> Outcome:
    directory = _runner_dir(provider, p.name)
    if _registered_name(directory) != p.name:
        return CommandSucceeded, f"{p.name} is not registered in {directory}: nothing to remove"
    gh = _github(provider, api_token)
    owner, repo = _scope(provider)
    if repo is None:
        tok = gh.rest.actions.create_remove_token_for_org(owner).parsed_data.token
    else:
        tok = gh.rest.actions.create_remove_token_for_repo(owner, repo).parsed_data.token
    env = {"ACTIONS_RUNNER_INPUT_TOKEN": tok}
    code, out = _run(["./config.sh", "remove"], directory, env, settings.register_timeout, tok, api_token)
    if code != 0:
        return CommandFailed, f"config.sh remove for {p.name} exited {code}: {out}"
    return CommandSucceeded, f"removed {p.name} from {provider.scope}"


# --- GitLab ---------------------------------------------------------------------------------------------


def _gitlab_names(config: Path | None) -> set[str]:
    from producers.runners.gitlab import ParseError, parse_config

    if config is None:
        return set()
    try:
        return {r.name for r in parse_config(config.read_text(encoding="utf-8"))[1]}
    except (OSError, UnicodeDecodeError, ParseError):
        return set()


def _gitlab_create_attrs(provider: ProviderSettings, p: RegisterRunner) -> dict[str, Any]:
    scope = provider.scope
    attrs: dict[str, Any]
    if scope.isdigit():
        attrs = {"runner_type": "project_type", "project_id": int(scope)}
    elif re.fullmatch(r"group:\d+", scope):
        attrs = {"runner_type": "group_type", "group_id": int(scope.split(":")[1])}
    elif scope == "instance":
        attrs = {"runner_type": "instance_type"}
    else:
        raise _Refused(f"GitLab scope {scope!r}: a project id (42), group:ID or instance")
    tags = [*provider.labels, *p.labels]
    attrs.update(description=p.name, run_untagged=not tags)
    if tags:
        attrs["tag_list"] = tags
    return attrs


def _gitlab_register(
    settings: RunnerSettings, provider: ProviderSettings, p: RegisterRunner, api_token: str
) -> Outcome:
    if p.name in _gitlab_names(settings.gitlab_config):
        return CommandSucceeded, f"{p.name} is already registered in {settings.gitlab_config}"
    if settings.gitlab_config is None:
        raise _Refused("git_runners.gitlab_config is not set: nowhere to register")
    import gitlab
    from gitlab.v4.objects import CurrentUserRunnerManager

    url = (provider.api_url or GITLAB_URL).rstrip("/")
    client = gitlab.Gitlab(url, private_token=api_token, timeout=30)
    try:
        created = CurrentUserRunnerManager(client).create(_gitlab_create_attrs(provider, p))
    except gitlab.exceptions.GitlabError as exc:
        return CommandFailed, _scrub(f"POST /api/v4/user/runners: {exc}", api_token)
    runner_token = str(created.token)
    argv = [provider.runner_command or "gitlab-runner", "register", "--non-interactive"]
    argv += [
        "--config",
        str(settings.gitlab_config),
        "--url",
        url,
        "--name",
        p.name,
        "--executor",
        provider.executor,
    ]
    code, out = _run(
        argv, None, {"CI_SERVER_TOKEN": runner_token}, settings.register_timeout, runner_token, api_token
    )
    if code != 0:
        return (
            CommandFailed,
            f"gitlab-runner register for {p.name} (runner id {created.id}) exited {code}: {out}",
        )
    return CommandSucceeded, f"registered {p.name} (runner id {created.id}) with {provider.scope}"


def _gitlab_remove(settings: RunnerSettings, provider: ProviderSettings, p: RemoveRunner) -> Outcome:
    if p.name not in _gitlab_names(settings.gitlab_config):
        return CommandSucceeded, f"{p.name} is not in {settings.gitlab_config}: nothing to remove"
    argv = [provider.runner_command or "gitlab-runner", "unregister", "--config", str(settings.gitlab_config)]
    argv += ["--name", p.name]
    code, out = _run(argv, None, {}, settings.register_timeout)
    if code != 0:
        return CommandFailed, f"gitlab-runner unregister {p.name} exited {code}: {out}"
    return CommandSucceeded, f"unregistered {p.name}"


# --- executors ------------------------------------------------------------------------------------------


@executor(RegisterRunner.TYPE)
def register_runner(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, RegisterRunner)
    try:
        settings, provider, secrets = _context(ctx, RegisterRunner.TYPE, payload.provider)
        api_token = _api_token(provider, secrets)
        if provider.kind == "github":
            return _github_register(settings, provider, payload, api_token)
        return _gitlab_register(settings, provider, payload, api_token)
    except _Refused as exc:
        return CommandRejected, str(exc)


@executor(RemoveRunner.TYPE)
def remove_runner(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, RemoveRunner)
    if not payload.confirm:
        return CommandRejected, "removing a runner unregisters it: the command needs confirm=true"
    try:
        settings, provider, secrets = _context(ctx, RemoveRunner.TYPE, payload.provider)
        if provider.kind == "github":
            return _github_remove(settings, provider, payload, _api_token(provider, secrets))
        return _gitlab_remove(settings, provider, payload)
    except _Refused as exc:
        return CommandRejected, str(exc)


@executor(ScaleRunners.TYPE)
def scale_runners(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, ScaleRunners)
    try:
        _, provider, _ = _context(ctx, ScaleRunners.TYPE, payload.provider)
    except _Refused as exc:
        return CommandRejected, str(exc)
    if not provider.image:
        return CommandRejected, f"provider {provider.name} has no runner image to scale with"
    return _scale(provider, payload.target)


LABEL = "watchman.runners.provider"


def _scale(provider: ProviderSettings, target: int) -> Outcome:
    """Start or stop this provider's runner containers (label watchman.runners.provider) until `target`
    run: stopped ones are started again first, then new ones created; the newest go first when scaling down.
    Idempotent: it counts what runs, so running it twice changes nothing the second time."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.DockerClient(base_url=provider.docker_url, timeout=30)
        mine = client.containers.list(all=True, filters={"label": f"{LABEL}={provider.name}"})
        index = {c.name: c for c in mine}
        running = sorted((c for c in mine if c.status == "running"), key=lambda c: c.name)
        started: list[str] = []
        stopped: list[str] = []
        for i in range(1, provider.max_runners + 1):
            if len(running) + len(started) >= target:
                break
            name = f"watchman-runner-{provider.name}-{i}"
            c = index.get(name)
            if c is not None and c.status == "running":
                continue
            if c is not None:
                c.start()
            else:
                client.containers.run(
                    provider.image,
                    list(provider.container_command) or None,
                    name=name,
                    detach=True,
                    labels={LABEL: provider.name},
                    network_mode=provider.container_network,
                )
            started.append(name)
        for c in reversed(running[target:]):
            c.stop(timeout=10)
            c.remove()
            stopped.append(c.name)
        client.close()
    except DockerException as exc:
        return CommandFailed, f"docker at {provider.docker_url}: {type(exc).__name__}: {exc}"
    now = len(running) + len(started) - len(stopped)
    return CommandSucceeded, (
        f"{provider.name}: {now} runner container(s) (target {target}); started {started or 'none'}, "
        f"stopped {stopped or 'none'}"
    )
