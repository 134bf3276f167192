"""The one place where adapters are chosen: bus and graph by URL, sources from settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from producers.packages.sources import BrewSource, LogSource, Source
from projections.stores.base import GraphStore
from watchman.bus.sqlite_log import SqliteLog
from watchman.settings import Settings
from watchman.state import CursorStore


class ConfigError(ValueError):
    """A setting names something this build cannot provide; the message says what would work."""


def _path_of(url: str, scheme: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme != scheme or not parsed.path:
        raise ConfigError(f"expected {scheme}:///absolute/path, got {url!r}")
    return Path(parsed.path)


def open_log(url: str, *, read_only: bool = False) -> SqliteLog:
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        return SqliteLog(_path_of(url, "sqlite"), read_only=read_only)
    if scheme == "kafka":
        raise ConfigError("bus = kafka://… is the distributed deployment, not available in this build yet")
    raise ConfigError(f"unknown bus {url!r}: use sqlite:///PATH")


def graph_path(url: str) -> Path:
    return _path_of(url, "ladybug")


def open_graph(url: str) -> GraphStore:
    scheme = urlparse(url).scheme
    if scheme == "ladybug":
        from projections.stores.ladybug import LadybugStore

        return LadybugStore(graph_path(url))
    if scheme in ("neo4j", "bolt"):
        raise ConfigError("graph = neo4j://… is the distributed deployment, not available in this build yet")
    raise ConfigError(f"unknown graph {url!r}: use ladybug:///PATH")


def check_urls(bus_url: str, graph_url: str) -> None:
    """Raise ConfigError when a URL names an adapter this build does not have, without opening it."""
    for url, schemes in ((bus_url, ("sqlite",)), (graph_url, ("ladybug",))):
        scheme = urlparse(url).scheme
        if scheme not in schemes:
            later = scheme in ("kafka", "neo4j")
            hint = " (the distributed deployment arrives with a later release)" if later else ""
            raise ConfigError(f"unsupported adapter {url!r}: use {schemes[0]}:///PATH{hint}")
        _path_of(url, scheme)


def build_sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    tz = ZoneInfo(settings.log_timezone) if settings.log_timezone else None
    sources: list[Source] = []
    for kind, path in settings.packages.logs():
        name = f"{kind}:{path}"
        sources.append(LogSource(kind, path, settings.host, cursors.get(name), tz=tz))
    for prefix in settings.packages.brew:
        name = f"brew:{prefix}"
        sources.append(BrewSource(prefix, settings.host, cursors.get(name), interval=settings.brew_interval))
    return sources
