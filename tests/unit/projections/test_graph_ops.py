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


def test_fold_compares_a_clocked_property_with_its_own_time() -> None:
    # Software.automatic has its own clock (schemas.graph): an older op that tells it applies when no
    # op of the batch told it later, however new the node's other state is.
    ops = [
        UpsertNode("Software", "k", {"version": "2"}, ts=T + timedelta(days=2)),
        UpsertNode("Software", "k", {"automatic": True}, ts=T),
        UpsertNode("Software", "k", {"automatic": False}, ts=T - timedelta(days=1)),
    ]
    node = fold(ops).nodes["Software"]["k"]
    assert node.props["automatic"] is True
    assert node.latest_ts["automatic"] == T
    assert node.props["version"] == "2"
    assert node.ts == T + timedelta(days=2)


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
