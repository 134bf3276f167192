"""One frozen settings object, read from watchman.toml and WATCHMAN_* environment variables."""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from schemas import journal

CONFIG_ENV = "WATCHMAN_CONFIG"


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/watchman")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "watchman"


def default_config_file() -> Path | None:
    """$WATCHMAN_CONFIG, else ./watchman.toml, else /etc/watchman/watchman.toml (first that exists)."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    for candidate in (Path("watchman.toml"), Path("/etc/watchman/watchman.toml")):
        if candidate.exists():
            return candidate
    return None


class PackageSources(BaseModel):
    """Package-manager logs to follow. Paths that do not exist are watched and read once they appear."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    apt: tuple[Path, ...] = (Path("/var/log/apt/history.log"),)
    dpkg: tuple[Path, ...] = (Path("/var/log/dpkg.log"),)
    dnf_rpm: tuple[Path, ...] = (Path("/var/log/dnf.rpm.log"),)
    dnf: tuple[Path, ...] = (Path("/var/log/dnf.log"),)
    dnf5: tuple[Path, ...] = (Path("/var/log/dnf5.log"),)
    brew: tuple[Path, ...] = (
        Path("/home/linuxbrew/.linuxbrew"),
        Path("/opt/homebrew"),
        Path("/usr/local/Homebrew"),
    )

    def logs(self) -> list[tuple[str, Path]]:
        """(kind, path) of every log, kinds named as `watchman parse` names them."""
        kinds = (("apt", self.apt), ("dpkg", self.dpkg), ("dnf-rpm", self.dnf_rpm), ("dnf", self.dnf))
        out = [(kind, p) for kind, paths in kinds for p in paths]
        return out + [("dnf5", p) for p in self.dnf5]


class DockerSettings(BaseModel):
    """The Docker engine to observe. Reading its socket is root-equivalent: see the README."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # None: on when the socket exists at start (a host without Docker is told once, at info level);
    # true: on, waiting for the engine with backoff; false: off.
    enabled: bool | None = None
    base_url: str = "unix:///var/run/docker.sock"
    timeout: float = Field(10.0, gt=0, description="seconds an API call may take")
    reconnect_initial: float = Field(1.0, gt=0, description="first wait before reconnecting")
    reconnect_max: float = Field(30.0, gt=0, description="longest wait between reconnects")
    first_snapshot_wait: float = Field(5.0, ge=0, description="first poll's wait for the snapshot")

    def socket(self) -> Path | None:
        """The socket path of a unix:// base_url; None for tcp:// and other transports."""
        for prefix in ("unix://", "http+unix://"):
            if self.base_url.startswith(prefix):
                return Path(self.base_url[len(prefix) :])
        return None

    def active(self) -> bool:
        if self.enabled is not None:
            return self.enabled
        sock = self.socket()
        return sock is None or sock.exists()


class NetworkSettings(BaseModel):
    """Network observation: netlink (interfaces, addresses, routes) and periodic DNS/firewall/VPN scans.

    Tools that are not installed (ufw, firewall-cmd, wg, tailscale, resolvectl) are reported once and
    skipped. The external-IP lookup is off unless `external_ip_url` is set (it tells a third party
    that this host is up): e.g. "https://api.ipify.org".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    # A namespace under /run/netns (`ip netns add NAME`, a container's); empty: the host's own.
    netns: str = ""
    netlink: bool = True
    scan_interval: float = Field(30.0, gt=0, description="seconds between DNS/firewall/VPN snapshots")
    resolv_conf: Path = Path("/etc/resolv.conf")
    resolved: bool = True
    nftables: bool = True
    iptables: bool = True
    ufw: bool = True
    firewalld: bool = True
    wireguard: bool = True
    tailscale: bool = True
    tun: bool = True
    external_ip_url: str | None = None
    external_ip_interval: float = Field(600.0, gt=0, description="seconds between external-IP lookups")
    external_ip_timeout: float = Field(5.0, gt=0, description="seconds an external-IP lookup may take")


class JournaldSettings(BaseModel):
    """The journal to follow: the local system journal, or the journal files/directories named here.

    `units` keeps only entries written by or about those units. Of those, the lines the processors read
    (schemas.journal): ordinary lines up to `max_priority` (0 emerg .. 7 debug; default 4, warning),
    the `programs`' lines up to `programs_max_priority` (default 6, info), and always the service
    manager's messages about units, OOM kills, PAM failures and lines with an error/warning word.
    `max_priority = 7` keeps every line in the raw topic (about 4x the volume on a busy host).
    On first start, entries of the last `backfill_hours` are read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    files: tuple[Path, ...] = ()
    directories: tuple[Path, ...] = ()
    units: tuple[str, ...] = ()
    max_priority: int = Field(journal.MAX_PRIORITY, ge=0, le=7)
    programs: tuple[str, ...] = journal.PROGRAMS
    programs_max_priority: int = Field(journal.PROGRAMS_MAX_PRIORITY, ge=0, le=7)
    backfill_hours: float = Field(24.0, ge=0)


class HealthCheckSettings(BaseModel):
    """One health check of a unit: http (url, expect_status), tcp (host, port) or process (name or a
    substring of its command line). With auto_restart, an unhealthy unit is restarted (systemctl)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    kind: Literal["http", "tcp", "process"]
    url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    process: str = ""
    expect_status: int | None = None
    timeout: float = Field(2.0, gt=0)
    auto_restart: bool = False

    @model_validator(mode="after")
    def _target(self) -> HealthCheckSettings:
        needed = {"http": ("url", self.url), "tcp": ("port", self.port), "process": ("process", self.process)}
        name, value = needed[self.kind]
        if not value:
            raise ValueError(f"health check {self.name!r} of kind {self.kind} needs {name}")
        return self


class AutoRestartSettings(BaseModel):
    """Limits of the auto-restart policy (per unit) and of the RestartService executor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_restarts: int = Field(3, ge=0, description="restarts issued per unit within window_minutes")
    window_minutes: int = Field(30, ge=1)
    cooldown_seconds: int = Field(60, ge=0, description="no new restart this soon after the last")
    # The executor refuses RestartService when false (the policy still audits what it would do).
    allowed: bool = True


class ServicesSettings(BaseModel):
    """Per-service metrics from /proc (grouped by systemd unit) and declared health checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metrics_enabled: bool = True
    metrics_interval: float = Field(15.0, gt=0, description="seconds between metrics samples")
    metrics_units: tuple[str, ...] = ()  # empty: every service
    health_interval: float = Field(30.0, gt=0, description="seconds between health-check rounds")
    health_checks: tuple[HealthCheckSettings, ...] = ()
    auto_restart: AutoRestartSettings = AutoRestartSettings()


class Settings(BaseSettings):
    """Everything The Watchman reads at start. `watchman config show` prints the effective values."""

    model_config = SettingsConfigDict(
        env_prefix="WATCHMAN_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = Field(default_factory=socket.gethostname)
    # Adapters by URL: sqlite:///PATH (embedded log) | kafka://HOST:PORT (distributed)
    bus: str = ""
    # ladybug:///DIRECTORY (embedded graph) | neo4j://HOST:PORT (distributed)
    graph: str = ""
    # Neo4j credentials (distributed): the password only by environment or by a file reference,
    # never in watchman.toml: WATCHMAN_NEO4J_PASSWORD=… or neo4j_password_file = "/etc/watchman/neo4j.pass"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_password_file: Path | None = None
    # IANA zone of logs that write local time without an offset (apt, dpkg); empty = this machine's zone
    log_timezone: str = ""
    poll_interval: float = Field(1.0, gt=0, description="seconds between polls of the sources when idle")
    brew_interval: float = Field(60.0, gt=0, description="seconds between brew snapshots")
    batch_size: int = Field(2000, ge=1, le=100_000)
    # The admin REST API of `watchman run` (HOST:PORT; port 0 = any free port; "" = off). Keep it on
    # 127.0.0.1 unless something in front of it (a compose network, a reverse proxy) needs more.
    api_listen: str = "127.0.0.1:9650"
    # The API's bearer token file (0600, created on first start); default <data_dir>/api.token
    api_token_file: Path | None = None
    # A second token that reads /admin/metrics and nothing else (what Prometheus should hold);
    # default <data_dir>/metrics.token
    api_metrics_token_file: Path | None = None
    packages: PackageSources = PackageSources()
    docker: DockerSettings = DockerSettings()
    network: NetworkSettings = NetworkSettings()
    journald: JournaldSettings = JournaldSettings()
    services: ServicesSettings = ServicesSettings()

    @field_validator("api_listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        if v:
            host, _, port = v.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError(f"api_listen wants HOST:PORT (e.g. 127.0.0.1:9650) or '' (off), not {v!r}")
        return v

    @field_validator("log_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if v:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {v!r} (use an IANA name such as Europe/Berlin)"
                ) from None
        return v

    @property
    def bus_url(self) -> str:
        return self.bus or f"sqlite://{self.data_dir / 'log.sqlite'}"

    @property
    def graph_url(self) -> str:
        return self.graph or f"ladybug://{self.data_dir / 'graph'}"

    def neo4j_auth(self) -> tuple[str, str]:
        """(user, password) for Neo4j; the password from the environment or the referenced file."""
        if self.neo4j_password is not None:
            return self.neo4j_user, self.neo4j_password.get_secret_value()
        if self.neo4j_password_file is not None:
            return self.neo4j_user, self.neo4j_password_file.read_text().strip()
        raise ValueError("graph is Neo4j but no password: set WATCHMAN_NEO4J_PASSWORD or neo4j_password_file")

    @property
    def deployment(self) -> str:
        return "distributed" if self.bus_url.startswith("kafka://") else "embedded"

    @property
    def api_token_path(self) -> Path:
        return self.api_token_file or self.data_dir / "api.token"

    @property
    def api_metrics_token_path(self) -> Path:
        return self.api_metrics_token_file or self.data_dir / "metrics.token"

    @property
    def api_url_path(self) -> Path:
        """Where a running process writes the URL its admin API listens on (for `watchman query`)."""
        return self.data_dir / "api.url"

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "watchman.sock"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML source reads model_config["toml_file"], which load() sets per call.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def load(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings: explicit overrides > environment > TOML file > defaults."""
    path = config_file or default_config_file()
    if path is not None and not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist")
    if path is not None and "neo4j_password" in tomllib.loads(path.read_text()):
        raise ValueError(
            f"{path}: secrets do not belong in the config file; "
            "use WATCHMAN_NEO4J_PASSWORD or neo4j_password_file = PATH"
        )

    class FromFile(Settings):
        model_config = SettingsConfigDict(**{**Settings.model_config, "toml_file": path})

    return FromFile(**overrides)
