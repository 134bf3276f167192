"""The one place where adapters are chosen: bus and graph by URL, sources from settings."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from producers.packages.arch import native_arch
from producers.packages.sources import BrewSource, LogSource
from producers.source import Source
from projections.stores.base import GraphStore
from schemas.events import ecosystem_of
from watchman.bus.base import Bus
from watchman.bus.sqlite_log import SqliteLog
from watchman.settings import Settings
from watchman.state import CursorStore

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A setting names something this build cannot provide; the message says what would work."""


def _path_of(url: str, scheme: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme != scheme or not parsed.path:
        raise ConfigError(f"expected {scheme}:///absolute/path, got {url!r}")
    return Path(parsed.path)


def open_log(url: str, *, read_only: bool = False) -> SqliteLog:
    """The embedded log (the bus of the embedded deployment, or a producer's spool)."""
    scheme = urlparse(url).scheme
    if scheme != "sqlite":
        raise ConfigError(f"expected an embedded log sqlite:///PATH, got {url!r}")
    return SqliteLog(_path_of(url, "sqlite"), read_only=read_only)


def open_bus(url: str) -> Bus:
    """The bus by URL: sqlite:///PATH (embedded) or kafka://HOST:PORT[,HOST:PORT] (distributed)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return open_log(url)
    if parsed.scheme == "kafka":
        from watchman.bus.kafka import KafkaBus

        if not parsed.netloc:
            raise ConfigError(f"expected kafka://HOST:PORT, got {url!r}")
        return KafkaBus(parsed.netloc)
    raise ConfigError(f"unknown bus {url!r}: use sqlite:///PATH or kafka://HOST:PORT")


def graph_path(url: str) -> Path:
    return _path_of(url, "ladybug")


def open_graph(url: str, auth: tuple[str, str] | None = None, *, recover: bool = False) -> GraphStore:
    """The graph store by URL: ladybug:///DIRECTORY (embedded) or neo4j://HOST:PORT (needs auth).

    With `recover`, an embedded graph that LadybugDB can no longer open (a WAL torn by a crash fails
    its checksum) is moved aside and replaced by an empty one: it holds no positions, so the
    projection rebuilds it from the event log, which is the truth.
    """
    scheme = urlparse(url).scheme
    if scheme == "ladybug":
        from projections.stores.ladybug import GraphCorrupted, LadybugStore

        path = graph_path(url)
        try:
            return LadybugStore(path)
        except GraphCorrupted as exc:
            if not recover:
                raise
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            log.warning("%s; moved it to %s and rebuilding the graph from the event log", exc, aside)
            path.rename(aside)
            return LadybugStore(path)
    if scheme in ("neo4j", "bolt"):
        from projections.stores.neo4j import Neo4jStore

        if auth is None:
            raise ConfigError("a Neo4j graph needs credentials (neo4j_user, WATCHMAN_NEO4J_PASSWORD)")
        return Neo4jStore(url, auth[0], auth[1])
    raise ConfigError(f"unknown graph {url!r}: use ladybug:///DIRECTORY or neo4j://HOST:PORT")


def open_settings_graph(settings: Settings) -> GraphStore:
    auth = settings.neo4j_auth() if urlparse(settings.graph_url).scheme in ("neo4j", "bolt") else None
    return open_graph(settings.graph_url, auth)


def check_urls(bus_url: str, graph_url: str) -> None:
    """Raise ConfigError when a URL names an adapter this build does not have, without opening it."""
    for url, schemes in ((bus_url, ("sqlite", "kafka")), (graph_url, ("ladybug", "neo4j", "bolt"))):
        parsed = urlparse(url)
        if parsed.scheme not in schemes:
            raise ConfigError(f"unsupported adapter {url!r}: use one of {', '.join(schemes)}")
        if parsed.scheme in ("sqlite", "ladybug"):
            _path_of(url, parsed.scheme)
        elif not parsed.netloc:
            raise ConfigError(f"{url!r} names no HOST:PORT")


def build_sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    tz = ZoneInfo(settings.log_timezone) if settings.log_timezone else None
    sources: list[Source] = []
    for kind, path in settings.packages.logs():
        name = f"{kind}:{path}"
        arch = native_arch(ecosystem_of(kind))
        sources.append(LogSource(kind, path, settings.host, cursors.get(name), tz=tz, native_arch=arch))
    for prefix in settings.packages.brew:
        name = f"brew:{prefix}"
        sources.append(BrewSource(prefix, settings.host, cursors.get(name), interval=settings.brew_interval))
    sources.extend(_docker_sources(settings, cursors))
    sources.extend(_network_sources(settings, cursors))
    sources.extend(_journal_and_service_sources(settings, cursors))
    return sources


def _journal_and_service_sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    # Imported here: systemd-python is only loaded on hosts that follow a journal.
    from datetime import timedelta

    from producers.services.health import CheckSpec, HealthChecker
    from producers.services.metrics import MetricsSampler

    out: list[Source] = []
    j = settings.journald
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


def _network_sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    n = settings.network
    if not n.enabled:
        return []
    from producers.network.sources import ExternalIpSource, NetlinkSource, NetworkScanSource, Tools

    netns = n.netns or None
    where = netns or "host"
    out: list[Source] = []
    if n.netlink:
        out.append(NetlinkSource(settings.host, cursors.get(f"netlink:{where}"), netns=netns))
    tools = Tools(
        resolved=n.resolved,
        nftables=n.nftables,
        iptables=n.iptables,
        ufw=n.ufw,
        firewalld=n.firewalld,
        wireguard=n.wireguard,
        tailscale=n.tailscale,
        tun=n.tun,
    )
    out.append(
        NetworkScanSource(
            settings.host,
            cursors.get(f"network-scan:{where}"),
            netns=netns,
            interval=n.scan_interval,
            resolv_conf=n.resolv_conf,
            tools=tools,
        )
    )
    if n.external_ip_url:
        out.append(
            ExternalIpSource(
                settings.host,
                n.external_ip_url,
                cursors.get("external-ip"),
                interval=n.external_ip_interval,
                timeout=n.external_ip_timeout,
            )
        )
    return out


def _docker_sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    d = settings.docker
    if not d.active():
        if d.enabled is None:
            log.info("no Docker socket at %s: not observing Docker (docker.enabled waits for it)", d.socket())
        return []
    # Imported here: the docker SDK is only loaded on hosts that observe an engine.
    from producers.docker.source import DockerSource

    return [
        DockerSource(
            d.base_url,
            settings.host,
            cursors.get(f"docker:{d.base_url}"),
            timeout=d.timeout,
            reconnect_initial=d.reconnect_initial,
            reconnect_max=d.reconnect_max,
            first_wait=d.first_snapshot_wait,
        )
    ]
