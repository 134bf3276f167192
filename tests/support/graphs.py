"""Comparing a graph after crashes (or a full disk) with a clean run's, ids included."""

from __future__ import annotations

from typing import Any

import orjson


def _family(action: str) -> str:
    return "removal" if action in ("remove", "purge") else action


def _key(e: dict[str, Any]) -> tuple[str, str, str, str]:
    return (e["package"], e["arch"] or "", _family(e["action"]), e["version"] or "")


def _content(e: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in e.items() if k != "id"}, option=orjson.OPT_SORT_KEYS)


def assert_same_graph(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """The same graph, ids included, but for one known case (docs/architecture.md, "Event ids"): when a
    package, action and version changed more than once and one of those changes was told by the plain
    log alone (dpkg without apt), a restart can let the rich log's telling of a later such change be
    read first, and the two swap ids. Those events must still be the same events, none lost or doubled.
    """
    assert got["counts"] == expected["counts"]
    assert got["software"] == expected["software"]
    assert got["hosts"] == expected["hosts"]
    keys_with_plain_only = {_key(e) for e in expected["events"] if e["source"] in ("dpkg", "dnf-rpm")}
    exact = [e for e in expected["events"] if _key(e) not in keys_with_plain_only]
    got_by_id = {e["id"]: e for e in got["events"]}
    assert len(got_by_id) == len(got["events"]) == len(expected["events"])
    assert [got_by_id.get(e["id"]) for e in exact] == exact
    assert sorted(map(_content, got["events"])) == sorted(map(_content, expected["events"]))
    # Each event linked to the same software and host as in the clean run (ids replaced by content).
    content = {e["id"]: _content(e) for e in got["events"]}
    content_expected = {e["id"]: _content(e) for e in expected["events"]}
    assert sorted((content[r["event"]], r["software"], r["host"]) for r in got["rels"]) == sorted(
        (content_expected[r["event"]], r["software"], r["host"]) for r in expected["rels"]
    )
