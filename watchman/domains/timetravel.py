"""The timetravel domain in the shell: where the time-travel cache lives and how often it snapshots.
It observes nothing itself (no sources): it reads the log every other domain writes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore


class TimeTravelSettings(BaseModel):
    """`query --at`: the cache of the event-time index and the snapshots (docs/domains/timetravel.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Default <data_dir>/timetravel. Disposable: everything in it is rebuilt from the log.
    cache_dir: Path | None = None
    # A scratch store that applied at least this many records past its snapshot is kept as a snapshot.
    snapshot_every: int = Field(10_000, ge=1)
    keep_snapshots: int = Field(40, ge=1, description="snapshots kept (the oldest are dropped)")

    def cache(self, data_dir: Path) -> Path:
        return self.cache_dir or data_dir / "timetravel"


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    return []


def describe(settings: Settings) -> list[tuple[str, str]]:
    t = settings.timetravel
    return [
        (
            "timetravel",
            f"cache {t.cache(settings.data_dir)}, a snapshot every {t.snapshot_every:,} records, "
            f"{t.keep_snapshots} kept",
        )
    ]
