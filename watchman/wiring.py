"""The one place where adapters are chosen: bus and graph by URL, sources from settings."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import urlparse

from producers.source import Source
from projections.stores.base import GraphStore
from watchman.bus.base import Bus
from watchman.bus.sqlite_log import SqliteLog
from watchman.domains import (
    DOMAINS,
    backups,
    configfiles,
    fido2,
    retention,
    runners,
    services,
)
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
    """Every source of every domain the settings turn on, as each domain's shell module builds them."""
    return [source for domain in DOMAINS for source in domain.sources(settings, cursors)]


def executor_options(settings: Settings) -> dict[str, dict[str, object]]:
    """Per-executor options for the CommandRunner (ExecContext.options), from the acting domains' settings."""
    return {
        **services.executor_options(settings),
        **configfiles.executor_options(settings),
        **backups.executor_options(settings),
        **fido2.executor_options(settings),
        **retention.executor_options(settings),
        **runners.executor_options(settings),
    }
