"""Comparing a graph after crashes (or a full disk) with a clean run's, ids included."""

from __future__ import annotations

from typing import Any


def assert_same_graph(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """The same graph, ids included: every event id is a function of the logs' content alone, wherever
    a crash or a full disk cut the reading (docs/architecture.md, "Event ids")."""
    assert got["counts"] == expected["counts"]
    assert got["software"] == expected["software"]
    assert got["hosts"] == expected["hosts"]
    assert got["events"] == expected["events"]
    assert got["rels"] == expected["rels"]
