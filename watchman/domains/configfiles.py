"""The configfiles domain in the shell: which config files to track, the applications declared with their
checker, reload and health check, the desired state, and the source built from them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from producers.configfiles.checkers import AppSpec
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore

log = logging.getLogger(__name__)


class ConfigAppSettings(BaseModel):
    """One application whose config files are checked, reloaded and health-checked as a whole.

    `check` and `reload` are argument lists where `{path}` stands for the file checked (the main file
    when the changed file is a part of it). The health check after a rollback or apply is one of
    `health_url` (an HTTP GET answering 2xx/3xx), `health_tcp` ("host:port" accepting a connection) or
    `health_command` (exit 0)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    paths: list[str] = Field(default_factory=list, description="shell patterns of the app's files")
    main: str | None = None
    check: list[str] = Field(default_factory=list)
    reload: list[str] = Field(default_factory=list)
    health_url: str | None = None
    health_tcp: str | None = None
    health_command: list[str] = Field(default_factory=list)

    def spec(self) -> AppSpec:
        from producers.configfiles.checkers import AppSpec

        return AppSpec(
            name=self.name,
            paths=tuple(self.paths),
            main=self.main,
            check=tuple(self.check),
            reload=tuple(self.reload),
            health_url=self.health_url,
            health_tcp=self.health_tcp,
            health_command=tuple(self.health_command),
        )


class ConfigFilesSettings(BaseModel):
    """[configfiles]: config files tracked live (inotify) and by rescans, versioned in git under the data
    directory; secrets (by path pattern and content) only by hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    paths: list[str] = Field(default_factory=lambda: ["/etc", "~/.config"])
    # Browsers and editors keep caches and databases under ~/.config: state, not configuration.
    exclude: list[str] = Field(
        default_factory=lambda: [
            "~/.config/chromium",
            "~/.config/google-chrome",
            "~/.config/BraveSoftware",
            "~/.config/Code",
            "~/.config/pulse",
            "*/Cache",
            "*/cache",
            "*.sqlite",
            "*.sqlite-*",
            "/etc/ld.so.cache",
            "*.swp",
            "*~",
            "*.dpkg-tmp",
            ".#*",
            "/etc/.git",
            "*.watchman-*",
        ]
    )
    # Where host paths are read (a chroot or an image mounted elsewhere; tests use a temporary root).
    root: Path = Path("/")
    rescan_interval: float = Field(300.0, gt=0, description="seconds between full rescans")
    inotify: bool = True
    max_file_bytes: int = Field(1 << 20, ge=1, description="larger files are tracked by hash only")
    secret_paths: list[str] = Field(default_factory=list, description="more patterns of secret files")
    # Secret files are tracked by hash only, unless age recipients are named: then each version is also
    # kept encrypted to them (Debian's `age -d` reads it without us), and a rollback decrypts it with
    # `secret_identity`, a `secret:NAME` reference to the age identity (watchman/secrets.py).
    secret_recipients: list[str] = Field(default_factory=list)
    secret_identity: str = ""
    validate_on_change: bool = True
    apps: list[ConfigAppSettings] = Field(default_factory=list)
    # dpkg's database, as a host path under root.
    dpkg_status: str = "/var/lib/dpkg/status"
    dpkg_info: str = "/var/lib/dpkg/info"
    # RPM databases (host paths under root): the first that exists is read (`rpm -qa --dbpath`).
    rpmdb: list[str] = Field(default_factory=lambda: ["/var/lib/rpm", "/usr/lib/sysimage/rpm"])
    # Desired state: a directory mirroring host paths, and Jinja2 templates (PATH.j2) rendered with facts.
    desired_dir: Path | None = None
    templates_dir: Path | None = None
    facts: dict[str, Any] = Field(default_factory=dict, description="extra facts for templates")
    # The rollback/apply executor: may it write files at all, and how long a reload may take to be healthy.
    allow_writes: bool = True
    health_timeout: float = Field(10.0, gt=0)
    health_settle: float = Field(
        1.0, ge=0, description="seconds after a reload before the first health check"
    )
    health_passes: int = Field(3, ge=1, description="consecutive passing checks that mean healthy")

    @model_validator(mode="after")
    def _recipients(self) -> ConfigFilesSettings:
        for r in self.secret_recipients:
            if not r.startswith("age1"):
                raise ValueError(
                    f"configfiles.secret_recipients wants age public keys (age1...), not {r[:12]!r}"
                )
        if self.secret_identity and not self.secret_identity.startswith("secret:"):
            raise ValueError(
                "configfiles.secret_identity must be a secret:NAME reference, never the key itself"
            )
        return self

    @model_validator(mode="after")
    def _abs(self) -> ConfigFilesSettings:
        for p in self.paths:
            if not (p.startswith(("/", "~"))):
                raise ValueError(f"configfiles.paths wants absolute paths (or ~/...), not {p!r}")
        return self


def versions_dir(settings: Settings) -> Path:
    return settings.data_dir / "config-versions"


def tracking(settings: Settings) -> Any:
    from producers.configfiles.source import ConfigTracking

    c = settings.configfiles
    return ConfigTracking(
        paths=tuple(c.paths),
        exclude=tuple(c.exclude),
        root=c.root,
        versions_dir=versions_dir(settings),
        rescan_interval=c.rescan_interval,
        inotify=c.inotify,
        max_file_bytes=c.max_file_bytes,
        secret_paths=tuple(c.secret_paths),
        secret_recipients=tuple(c.secret_recipients),
        apps=tuple(a.spec() for a in c.apps),
        validate=c.validate_on_change,
        dpkg_status=c.dpkg_status,
        dpkg_info=c.dpkg_info,
        rpmdb=tuple(c.rpmdb),
        desired_dir=c.desired_dir,
        templates_dir=c.templates_dir,
        facts=dict(c.facts),
    )


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    if not settings.configfiles.enabled:
        return []
    # Imported here: git and watchdog are loaded only by processes that track config files.
    from producers.configfiles.source import ConfigSource

    return [ConfigSource(settings.host, cursors.get("configfiles"), tracking(settings))]


def executor_options(settings: Settings) -> dict[str, dict[str, object]]:
    c = settings.configfiles
    opts: dict[str, object] = {
        "allow_writes": c.allow_writes,
        "health_timeout": c.health_timeout,
        "health_settle": c.health_settle,
        "health_passes": c.health_passes,
        "secret_identity": c.secret_identity,
        "secrets_dir": str(settings.data_dir / "secrets"),
    }
    return {
        t: dict(opts) for t in ("RollbackConfig", "ApplyDesiredConfig", "ValidateConfig", "PinConfigBaseline")
    }


def describe(settings: Settings) -> list[tuple[str, str]]:
    c = settings.configfiles
    if not c.enabled:
        return [("config", "off")]
    where = ", ".join(c.paths) + ("" if str(c.root) == "/" else f" under {c.root}")
    apps = f"; apps {', '.join(a.name for a in c.apps)}" if c.apps else ""
    return [("config", f"tracking {where}; versions in {versions_dir(settings)}{apps}")]


class DiffUnavailable(LookupError):
    """No such file or revision in the versions repository, or a version kept by hash only."""


def file_diff(settings: Settings, path: str, rev: str | None) -> tuple[str | None, str, str]:
    """(from, to, unified diff) of one file: from `rev` to the file as it is now, or, without `rev`, the
    change its last recorded version made. A secret file has no diff (its content was never kept)."""
    from producers.configfiles.classify import unified_diff
    from producers.configfiles.versions import VersionsError, VersionsRepo, is_placeholder

    vdir = versions_dir(settings)
    if not (vdir / ".git").exists():
        raise DiffUnavailable(f"no versions repository in {vdir} yet")
    repo = VersionsRepo(vdir)
    try:
        if rev is None:
            versions = repo.history(path, limit=2)
            if not versions:
                raise DiffUnavailable(f"{path} has no recorded version")
            new = repo.content(path, versions[0].rev)
            old = repo.content(path, versions[1].rev) if len(versions) > 1 else b""
            from_rev, to = (versions[1].rev if len(versions) > 1 else None), versions[0].rev
        else:
            from_rev = repo.resolve(rev)
            old = repo.content(path, from_rev)
            real = settings.configfiles.root / path.lstrip("/")
            try:
                new = real.read_bytes()
            except OSError:
                new = b""
            to = "now"
    except VersionsError as exc:
        raise DiffUnavailable(str(exc)) from None
    if is_placeholder(old) or is_placeholder(new):
        raise DiffUnavailable(f"{path} is tracked by hash only (secret, binary or too large): no diff")
    from producers.configfiles.classify import has_secret_content, is_secret_path

    secret_paths = tuple(settings.configfiles.secret_paths)
    if is_secret_path(path, secret_paths) or has_secret_content(new):
        raise DiffUnavailable(f"{path} holds secrets: no diff")
    text = unified_diff(old, new, f"{path}@{(from_rev or 'empty')[:12]}", f"{path}@{to[:12]}", limit=1 << 20)
    return from_rev, to, text


def history(settings: Settings, path: str, limit: int = 50) -> list[tuple[str, str, str]]:
    """(commit, time, message) of each recorded version of `path`, newest first."""
    from producers.configfiles.versions import VersionsRepo

    vdir = versions_dir(settings)
    if not (vdir / ".git").exists():
        return []
    return [(v.rev, v.ts.isoformat(), v.message) for v in VersionsRepo(vdir).history(path, limit)]
