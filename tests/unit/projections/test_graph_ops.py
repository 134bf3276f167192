"""Folding graph operations within a batch follows the schema's merge rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from projections.graph_ops import UpsertNode, UpsertRel, fold, validate

T = datetime(2024, 1, 1, tzinfo=UTC)


def test_fold_applies_min_max_latest_set() -> None:
    ops = [
        UpsertNode(
            "Software", "k", {"version": "2", "first_seen": T, "last_seen": T, "state": "installed"}, ts=T
        ),
        UpsertNode(
            "Software",
            "k",
            {"version": "1", "first_seen": T - timedelta(days=1), "last_seen": T - timedelta(days=1)},
            ts=T - timedelta(days=1),
        ),
        UpsertNode("Software", "k", {"name": "bash", "state": None}, ts=T + timedelta(days=1)),
    ]
    node = fold(ops).nodes["Software"]["k"]
    assert node.props["version"] == "2", "an older event must not roll current state back"
    assert node.props["first_seen"] == T - timedelta(days=1)
    assert node.props["last_seen"] == T
    assert node.props["state"] == "installed", "null keeps the old value"
    assert node.props["name"] == "bash"
    assert node.props["key"] == "k"
    assert node.ts == T + timedelta(days=1)


def test_fold_dedupes_relationships_in_order() -> None:
    r1 = UpsertRel("ACTED_ON", "Event", "e1", "Software", "s")
    r2 = UpsertRel("ACTED_ON", "Event", "e2", "Software", "s")
    assert fold([r1, r2, r1]).rels == {"ACTED_ON": [r1, r2]}


@pytest.mark.parametrize(
    "op",
    [
        UpsertNode("NoSuchLabel", "k", {}),
        UpsertNode("Software", "k", {"no_such_prop": 1}, ts=T),
        UpsertNode("Software", "k", {"version": "1"}),  # latest props need ts
        UpsertRel("NO_SUCH", "Event", "e", "Software", "s"),
        UpsertRel("ACTED_ON", "Host", "h", "Software", "s"),
    ],
)
def test_invalid_ops_fail_loudly(op: UpsertNode | UpsertRel) -> None:
    with pytest.raises((ValueError, KeyError)):
        validate(op)
