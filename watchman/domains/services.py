"""The services and security domain in the shell: the journal, service metrics, health checks and the
auto-restart policy, and their sources."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas import journal

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore

log = logging.getLogger(__name__)


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


class AuthLogSettings(BaseModel):
    """Authentication logs a syslog daemon writes (Debian/Ubuntu auth.log, RHEL/CentOS secure), decided
    like the journal's sshd/sudo/su lines.

    A host with rsyslog writes each line twice, to the journal and to the file. So that a line is one
    event, ONE source tells authentication: `enabled = "auto"` follows the files only when the journal
    is not read (journald off, systemd-python or the journal missing); `true` follows them always and
    the journal then leaves out the auth/authpriv facility lines; `false` never.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: Literal["auto"] | bool = "auto"
    files: tuple[Path, ...] = (Path("/var/log/auth.log"), Path("/var/log/secure"))


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
    # The unit inventory: every loaded unit's state from systemd over D-Bus, at start and every
    # units_interval seconds. "auto": where the system bus is there to ask (units_bus: "SYSTEM" or an
    # address such as unix:path=/run/dbus/system_bus_socket).
    units_enabled: Literal["auto"] | bool = "auto"
    units_interval: float = Field(3600.0, gt=0, description="seconds between unit inventories")
    units_bus: str = "SYSTEM"


AUTH_FACILITIES = (4, 10)  # syslog auth and authpriv
SYSTEM_BUS_SOCKETS = (Path("/run/dbus/system_bus_socket"), Path("/var/run/dbus/system_bus_socket"))
JOURNAL_DIRS = (Path("/var/log/journal"), Path("/run/log/journal"))


def journal_readable(settings: Settings) -> bool:
    """Whether the journald source has a journal to read here."""
    j = settings.journald
    if not j.enabled:
        return False
    try:
        import systemd.journal  # noqa: F401
    except ImportError:
        return False
    return bool(j.files or j.directories) or any(d.is_dir() for d in JOURNAL_DIRS)


def authlog_followed(settings: Settings) -> bool:
    """`authlog.enabled`: true/false as set; "auto" follows the files only where no journal is read."""
    enabled = settings.authlog.enabled
    if enabled == "auto":
        return not journal_readable(settings)
    return bool(enabled)


def units_listed(settings: Settings) -> bool:
    """`services.units_enabled`: true/false as set; "auto" where a system bus is there to ask."""
    s = settings.services
    if s.units_enabled == "auto":
        if s.units_bus != "SYSTEM":
            return True
        import os

        if os.environ.get("DBUS_SYSTEM_BUS_ADDRESS"):
            return True
        return any(p.exists() for p in SYSTEM_BUS_SOCKETS)
    return bool(s.units_enabled)


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    # Imported here: systemd-python is only loaded on hosts that follow a journal.
    from datetime import timedelta

    from producers.services.health import CheckSpec, HealthChecker
    from producers.services.metrics import MetricsSampler

    out: list[Source] = []
    j = settings.journald
    authlog = authlog_followed(settings)
    if authlog:
        from zoneinfo import ZoneInfo

        from producers.authlog.source import AuthLogSource

        tz = ZoneInfo(settings.log_timezone) if settings.log_timezone else None
        for path in settings.authlog.files:
            out.append(AuthLogSource(path, settings.host, cursors.get(f"authlog:{path}"), tz=tz))
    if j.enabled:
        from producers.journald.source import JournaldSource

        where = ",".join(str(p) for p in (*j.files, *j.directories)) or "system"
        out.append(
            JournaldSource(
                settings.host,
                cursors.get(f"journald:{where}"),
                files=j.files,
                directories=j.directories,
                units=j.units,
                max_priority=j.max_priority,
                programs=j.programs,
                programs_max_priority=j.programs_max_priority,
                backfill=timedelta(hours=j.backfill_hours),
                # One source tells authentication: with the auth log files followed, not the journal.
                skip_facilities=AUTH_FACILITIES if authlog else (),
            )
        )
    s = settings.services
    if s.metrics_enabled:
        out.append(MetricsSampler(settings.host, interval=s.metrics_interval, units=s.metrics_units))
    if s.health_checks:
        policy = s.auto_restart
        specs = [
            CheckSpec(
                name=c.name,
                unit=c.unit,
                kind=c.kind,
                url=c.url,
                host=c.host,
                port=c.port,
                process=c.process,
                expect_status=c.expect_status,
                timeout=c.timeout,
                auto_restart=c.auto_restart,
                max_restarts=policy.max_restarts,
                window_minutes=policy.window_minutes,
                cooldown_seconds=policy.cooldown_seconds,
            )
            for c in s.health_checks
        ]
        out.append(HealthChecker(settings.host, specs, interval=s.health_interval))
    if units_listed(settings):
        from producers.services.units import UnitInventory

        out.append(
            UnitInventory(
                settings.host, cursors.get("services:units"), bus=s.units_bus, interval=s.units_interval
            )
        )
    return out


def executor_options(settings: Settings) -> dict[str, dict[str, object]]:
    """Per-executor options for the CommandRunner (ExecContext.options) from settings."""
    policy = settings.services.auto_restart
    return {
        "RestartService": {
            "allowed": policy.allowed,
            "max_restarts": policy.max_restarts,
            "window_minutes": policy.window_minutes,
        }
    }


def describe(settings: Settings) -> list[tuple[str, str]]:
    """(label, text) lines for `watchman config check`."""
    out: list[tuple[str, str]] = []
    j = settings.journald
    if not j.enabled:
        out.append(("journald", "off"))
    elif j.files or j.directories:
        out.extend(
            ("journald", f"{p}  {'found' if p.exists() else 'not present'}")
            for p in (*j.files, *j.directories)
        )
    else:
        system = [p for p in (Path("/var/log/journal"), Path("/run/log/journal")) if p.exists()]
        where = ", ".join(map(str, system)) if system else "no journal directory found"
        out.append(("journald", f"the system journal ({where})"))
    if authlog_followed(settings):
        for p in settings.authlog.files:
            out.append(("authlog", f"{p}  {'found' if p.exists() else 'not present (watched)'}"))
    s = settings.services
    metrics = "on" if s.metrics_enabled else "off"
    restart = "allowed" if s.auto_restart.allowed else "refused"
    out.append(
        ("services", f"metrics {metrics}; {len(s.health_checks)} health check(s); auto-restart {restart}")
    )
    if units_listed(settings):
        out.append(("units", f"systemd's unit list over D-Bus ({s.units_bus}) every {s.units_interval:g} s"))
    else:
        out.append(("units", "off (no system D-Bus here)" if s.units_enabled == "auto" else "off"))
    return out
