"""The purge graph operation (retention): remove or mark the records of one label that a rule names.

A PurgeNodes is a *rule*, not a one-off statement: the store applies it to the records it holds and
keeps it, so that a matching record written later (a late event, or a replay that reads the retention
topic before the topics of the purged records) is purged as it is written. The purged graph is thus
"every upsert, minus every rule", whatever the order the log is read in. `lift` ends a rule (an archive
restored). The stores' functions are in projections/stores/purging.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

Mode = Literal["soft_delete", "hard_delete", "archive"]
DELETED_AT = "deleted_at"  # the property a soft delete sets (queries exclude `deleted_at IS NOT NULL`)
BATCH = 10_000  # records per statement (and transaction) of a purge


@dataclass(frozen=True)
class PurgeNodes:
    """Purge records of `label`: those with `keys` (an archive: exactly what was archived), or else those
    whose `time_property` is before `cutoff`, except `exempt_keys` and records inside `exempt_ranges`.

    soft_delete sets `deleted_at` = `at` (the earliest rule wins); hard_delete and archive DETACH DELETE.
    """

    rule: str  # the RetentionEvent id
    label: str
    mode: Mode
    at: datetime
    time_property: str = "ts"
    cutoff: datetime | None = None
    keys: tuple[str, ...] = ()
    exempt_keys: tuple[str, ...] = ()
    exempt_ranges: tuple[tuple[datetime, datetime], ...] = ()
    lift: bool = False  # end the rule `rule` (nothing else is read)

    def __post_init__(self) -> None:
        if not self.lift and self.cutoff is None and not self.keys and self.mode != "archive":
            raise ValueError("a purge names a cutoff or the keys it removes")

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "rule": self.rule,
                "label": self.label,
                "mode": self.mode,
                "at": _iso(self.at),
                "time_property": self.time_property,
                "cutoff": None if self.cutoff is None else _iso(self.cutoff),
                "keys": list(self.keys),
                "exempt_keys": list(self.exempt_keys),
                "exempt_ranges": [[_iso(a), _iso(b)] for a, b in self.exempt_ranges],
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str) -> PurgeNodes:
        d: dict[str, Any] = orjson.loads(text)
        return cls(
            rule=d["rule"],
            label=d["label"],
            mode=d["mode"],
            at=_dt(d["at"]),
            time_property=d["time_property"],
            cutoff=None if d["cutoff"] is None else _dt(d["cutoff"]),
            keys=tuple(d["keys"]),
            exempt_keys=tuple(d["exempt_keys"]),
            exempt_ranges=tuple((_dt(a), _dt(b)) for a, b in d["exempt_ranges"]),
        )


def _iso(t: datetime) -> str:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
