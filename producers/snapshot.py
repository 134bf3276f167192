"""The shared snapshot differ: turn "the state now" of a state-based source into change records (pure).

Sources that can only be asked for their whole state (the nftables ruleset, resolv.conf, `docker ps`,
`wg show`) take a snapshot each interval, key every item (a rule, a server, a container), and diff it
against the previous snapshot. The previous snapshot is the source's saved cursor, so after a restart
only what changed while the producer was down is reported, and a snapshot equal to the last one
produces nothing. Items must be JSON values (dicts of str/int/float/bool/None/lists).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    key: str
    before: Any
    after: Any


def digest(items: Mapping[str, Any]) -> str:
    """A stable hash of a snapshot: the same items give the same digest in any order, in any process."""
    canonical = orjson.dumps(dict(items), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[Change]:
    """The changes that turn `before` into `after`, ordered by key; with no `before`, all are added."""
    old = before or {}
    out: list[Change] = []
    for key in sorted(old.keys() | after.keys()):
        if key not in old:
            out.append(Change("added", key, None, after[key]))
        elif key not in after:
            out.append(Change("removed", key, old[key], None))
        elif _canonical(old[key]) != _canonical(after[key]):
            out.append(Change("changed", key, old[key], after[key]))
    return out


def to_cursor(items: Mapping[str, Any]) -> dict[str, Any]:
    """The cursor a snapshot source saves: the snapshot itself, with its digest."""
    return {"digest": digest(items), "items": dict(items)}


def from_cursor(cursor: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The previous snapshot from a saved cursor (None before the first one)."""
    if not cursor or "items" not in cursor:
        return None
    items = cursor["items"]
    if not isinstance(items, dict):
        raise ValueError(f"snapshot cursor holds {type(items).__name__}, not a mapping")
    return items


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
