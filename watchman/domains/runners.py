"""The runners domain in the shell: where CI runners live on this host, the providers they register with,
the autoscaling bounds, and the source that observes them.

```toml
[git_runners]
github_dirs = ["/opt/actions-runner"]          # runner directories (each holds .runner once configured)
gitlab_config = "/etc/gitlab-runner/config.toml"

[[git_runners.providers]]
name = "octo"
kind = "github"                                # or "gitlab"
scope = "octo-org/app"                         # owner/repo or an organisation; GitLab: a project id
token = "secret:github-token"                  # a reference to watchman/secrets.py, never the token
runner_command = "/opt/actions-runner/config.sh"
```
"""

from __future__ import annotations

import glob
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore

log = logging.getLogger(__name__)

# Where `config.sh` puts a runner when the docs are followed (actions/runner's README: ~/actions-runner).
GITHUB_SEARCH = ("/home/*/actions-runner*", "/opt/actions-runner*", "/srv/actions-runner*")


class ProviderSettings(BaseModel):
    """One place runners register with: a GitHub repository or organisation, or a GitLab project/group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kind: Literal["github", "gitlab"]
    # GitHub: "owner/repo" or "org"; GitLab: a project id ("42") or a group ("group:7").
    scope: str = Field(min_length=1, max_length=200)
    api_url: str = ""  # default https://api.github.com or https://gitlab.com
    # A `secret:NAME` reference: a GitHub token with administration rights, a GitLab one with create_runner.
    token: str = ""
    # GitHub: the web address runners register with (`config.sh --url`); GHES: https://HOST.
    web_url: str = "https://github.com"
    # The runner's own tool: GitHub `config.sh` of an unpacked runner release (its directory is copied to
    # <runners_dir>/<name> for each new runner), GitLab `gitlab-runner`.
    runner_command: str = ""
    # GitLab: the executor `gitlab-runner register` configures.
    executor: str = "shell"
    # Where a new GitHub runner is configured: <runners_dir>/<name> (a copy of the runner's files).
    runners_dir: Path | None = None
    labels: tuple[str, ...] = ()
    # Autoscaling (actions-runner-controller's rule): target = min(min_runners + assigned jobs, max_runners).
    min_runners: int = Field(0, ge=0, le=1000)
    max_runners: int = Field(0, ge=0, le=1000)
    cool_down_minutes: float = Field(10.0, ge=0, description="no scale-down this soon after a scale-up")
    image: str = ""  # the runner container image the autoscaler starts
    container_command: tuple[str, ...] = ()  # its command (empty: the image's own)
    container_network: str = "bridge"
    docker_url: str = "unix:///var/run/docker.sock"

    @field_validator("token")
    @classmethod
    def _reference(cls, v: str) -> str:
        if v and not v.startswith("secret:"):
            raise ValueError("token must be a secret reference (secret:NAME), never the token itself")
        return v


class RunnerSettings(BaseModel):
    """Which runners to observe and manage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # None: on when a runner directory or config.toml is found at start; true/false: on/off.
    enabled: bool | None = None
    github_dirs: tuple[Path, ...] = ()
    # Globs searched for runner directories besides github_dirs (each match holding .runner or config.sh).
    github_search: tuple[str, ...] = GITHUB_SEARCH
    gitlab_config: Path | None = Path("/etc/gitlab-runner/config.toml")
    # The GitLab Runner's log when it is written to a file; else its lines are read from the journal
    # (gitlab_journal: None = when gitlab_config exists; journal files instead of the local journal).
    gitlab_log: Path | None = None
    gitlab_journal: bool | None = None
    gitlab_journal_files: tuple[Path, ...] = ()
    gitlab_service: str = "gitlab-runner.service"
    scan_interval: float = Field(30.0, gt=0, description="seconds between discovery scans")
    # Seconds between polls of each GitHub provider's API (runner status, queue); 0: never.
    api_interval: float = Field(60.0, ge=0)
    # The program asked `is-active UNIT`; "" does not ask (the service state is then unknown).
    systemctl: str = "systemctl"
    systemd_dir: Path = Path("/run/systemd/system")
    providers: tuple[ProviderSettings, ...] = ()
    # Where the registration executor may run the runners' tools (config.sh, gitlab-runner); tests point
    # these at stand-ins, since neither exists on the machines the tests run on.
    register_timeout: float = Field(300.0, gt=0)

    def github_directories(self) -> tuple[Path, ...]:
        found: dict[str, Path] = {str(p): p for p in self.github_dirs}
        for pattern in self.github_search:
            for match in sorted(glob.glob(pattern)):
                p = Path(match)
                if p.is_dir() and ((p / ".runner").exists() or (p / "config.sh").exists()):
                    found.setdefault(str(p), p)
        return tuple(found.values())

    def active(self) -> bool:
        if self.enabled is not None:
            return self.enabled
        return bool(self.github_directories()) or bool(self.gitlab_config and self.gitlab_config.exists())

    def read_gitlab_journal(self) -> bool:
        if self.gitlab_journal is not None:
            return self.gitlab_journal
        return self.gitlab_log is None and bool(self.gitlab_config and self.gitlab_config.exists())

    def provider(self, name: str) -> ProviderSettings | None:
        return next((p for p in self.providers if p.name == name), None)


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    r = settings.git_runners
    if not r.active():
        return _pollers(settings) if r.providers else []
    from producers.runners.source import RunnerSource, SourceOptions

    options = SourceOptions(
        github_dirs=r.github_dirs,
        github_search=r.github_search,
        gitlab_config=r.gitlab_config,
        gitlab_log=r.gitlab_log,
        gitlab_journal=r.read_gitlab_journal(),
        gitlab_journal_files=r.gitlab_journal_files,
        gitlab_service=r.gitlab_service,
        scan_interval=r.scan_interval,
        systemctl=r.systemctl or None,
        systemd_dir=r.systemd_dir,
    )
    out: list[Source] = [RunnerSource(settings.host, options, cursors.get("runners"))]
    out += _pollers(settings)
    return out


def _pollers(settings: Settings) -> list[Source]:
    """A poller of each provider's API: runner health; GitHub also the queue and the newest release."""
    from producers.runners.api import ProviderPoller
    from watchman.secrets import SecretError, Secrets

    r = settings.git_runners
    out: list[Source] = []
    secrets = Secrets(settings.data_dir / "secrets")
    for p in r.providers:
        if not p.token or r.api_interval <= 0:
            continue
        try:
            token = secrets.resolve(p.token)
        except SecretError as exc:
            log.warning("runner provider %s: not polling its API: %s", p.name, exc)
            continue
        out.append(ProviderPoller(settings.host, p, token, interval=r.api_interval))
    return out


def executor_options(settings: Settings) -> dict[str, dict[str, object]]:
    """The runner executors' options: the settings section and where secrets are looked up."""
    opts: dict[str, object] = {"settings": settings.git_runners, "secrets_dir": settings.data_dir / "secrets"}
    return dict.fromkeys(("RegisterRunner", "RemoveRunner", "ScaleRunners"), opts)


def describe(settings: Settings) -> list[tuple[str, str]]:
    r = settings.git_runners
    dirs = ", ".join(str(p) for p in r.github_directories()) or "none found"
    gl = r.gitlab_config if r.gitlab_config and r.gitlab_config.exists() else "none"
    providers = ", ".join(f"{p.name} ({p.kind} {p.scope})" for p in r.providers) or "none"
    return [
        ("runners", f"{'on' if r.active() else 'off'}: GitHub {dirs}; GitLab {gl}"),
        ("runner providers", providers),
    ]
