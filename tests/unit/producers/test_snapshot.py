"""The shared snapshot differ: every change once, none for an equal snapshot, restart-safe cursors."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from producers.snapshot import Change, diff, digest, from_cursor, to_cursor

items = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5) | st.none()
    ),
    max_size=12,
)


def test_first_snapshot_is_all_added_in_key_order() -> None:
    assert diff(None, {"b": 1, "a": {"x": 1}}) == [
        Change("added", "a", None, {"x": 1}),
        Change("added", "b", None, 1),
    ]


def test_added_removed_changed() -> None:
    before = {"keep": {"p": 1}, "gone": {"p": 2}, "edit": {"p": 3, "q": [1, 2]}}
    after = {"keep": {"p": 1}, "edit": {"p": 3, "q": [1, 3]}, "new": {"p": 4}}
    assert diff(before, after) == [
        Change("changed", "edit", {"p": 3, "q": [1, 2]}, {"p": 3, "q": [1, 3]}),
        Change("removed", "gone", {"p": 2}, None),
        Change("added", "new", None, {"p": 4}),
    ]


def test_key_order_inside_items_is_not_a_change() -> None:
    assert diff({"k": {"a": 1, "b": 2}}, {"k": {"b": 2, "a": 1}}) == []
    assert digest({"x": {"a": 1, "b": 2}, "y": 1}) == digest({"y": 1, "x": {"b": 2, "a": 1}})


@given(items, items)
def test_applying_the_diff_to_before_gives_after(before: dict[str, Any], after: dict[str, Any]) -> None:
    state = dict(before)
    for c in diff(before, after):
        if c.kind == "removed":
            del state[c.key]
        else:
            assert c.before == (before.get(c.key) if c.kind == "changed" else None)
            state[c.key] = c.after
    assert state == after
    assert diff(after, after) == []


@given(items)
def test_cursor_round_trips_through_json(snapshot: dict[str, Any]) -> None:
    cursor = orjson.loads(orjson.dumps(to_cursor(snapshot)))
    assert from_cursor(cursor) == snapshot
    assert cursor["digest"] == digest(snapshot)
    assert from_cursor(None) is None
