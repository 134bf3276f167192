"""One frozen settings object, read from watchman.toml and WATCHMAN_* environment variables."""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from watchman.domains.alerts import AlertSettings
from watchman.domains.backups import BackupSettings
from watchman.domains.configfiles import ConfigFilesSettings
from watchman.domains.containers import DockerSettings
from watchman.domains.exposure import ExposureSettings
from watchman.domains.fido2 import Fido2Settings
from watchman.domains.mcp import MCPSettings
from watchman.domains.network import NetworkSettings
from watchman.domains.obsidian import ObsidianSettings
from watchman.domains.packages import PackageSources
from watchman.domains.permissions import PermissionSettings
from watchman.domains.resources import ResourceSettings
from watchman.domains.retention import RetentionSettings
from watchman.domains.runners import RunnerSettings
from watchman.domains.services import AuthLogSettings, JournaldSettings, ServicesSettings
from watchman.domains.timetravel import TimeTravelSettings
from watchman.domains.vulnerabilities import VulnerabilitySettings

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
    # The longest log line parsed (bytes); a longer one becomes a dead letter holding its length and
    # first 256 bytes, and is never held whole in memory.
    max_line_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Free space (MiB) the embedded graph's filesystem must keep: below it the daemon degrades (stops
    # and retries) instead of writing, because LadybugDB aborts the process on a full disk. 0 = off.
    graph_min_free_mb: int = Field(64, ge=0)
    # The admin REST API of `watchman run` (HOST:PORT; port 0 = any free port; "" = off). Keep it on
    # 127.0.0.1 unless something in front of it (a compose network, a reverse proxy) needs more.
    api_listen: str = "127.0.0.1:9650"
    # A non-loopback api_listen is refused unless this is true (plain HTTP: put TLS in front).
    api_allow_remote: bool = False
    # Request bodies above this many bytes are answered 413 before they are read.
    api_max_body_bytes: int = Field(1 << 20, ge=1024, le=1 << 30)
    # The API's bearer token file (0600, created on first start); default <data_dir>/api.token
    api_token_file: Path | None = None
    # A second token that reads /admin/metrics and nothing else (what Prometheus should hold);
    # default <data_dir>/metrics.token
    api_metrics_token_file: Path | None = None
    # Each domain's section (its model lives in watchman/domains/<domain>.py): one line per domain.
    packages: PackageSources = PackageSources()
    docker: DockerSettings = DockerSettings()
    network: NetworkSettings = NetworkSettings()
    journald: JournaldSettings = JournaldSettings()
    authlog: AuthLogSettings = AuthLogSettings()
    services: ServicesSettings = ServicesSettings()
    mcp: MCPSettings = MCPSettings()
    obsidian: ObsidianSettings = ObsidianSettings()
    alerts: AlertSettings = AlertSettings()
    resources: ResourceSettings = ResourceSettings()
    configfiles: ConfigFilesSettings = ConfigFilesSettings()
    backups: BackupSettings = BackupSettings()
    retention: RetentionSettings = RetentionSettings()
    git_runners: RunnerSettings = RunnerSettings()
    vulnerabilities: VulnerabilitySettings = VulnerabilitySettings()
    permissions: PermissionSettings = PermissionSettings()
    exposure: ExposureSettings = ExposureSettings()
    fido2: Fido2Settings = Fido2Settings()
    timetravel: TimeTravelSettings = TimeTravelSettings()

    @field_validator("api_listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        if v:
            host, _, port = v.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError(f"api_listen wants HOST:PORT (e.g. 127.0.0.1:9650) or '' (off), not {v!r}")
        return v

    @model_validator(mode="after")
    def _remote_listen(self) -> Settings:
        from watchman.private_files import check_listen

        if self.api_listen:
            check_listen(self.api_listen, allow_remote=self.api_allow_remote)
        return self

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
