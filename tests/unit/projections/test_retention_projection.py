"""Retention's pure parts: the purge rule (JSON round trip, criteria as parameters), the projection of each
record, the processor's deterministic ids, and the settings' checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from processors.retention import decide
from projections.graph_ops import UpsertNode, UpsertRel, fold
from projections.purge import PurgeNodes
from projections.retention import project_applied, project_exempted, project_restored
from projections.stores.purging import criteria, split
from schemas.envelope import Envelope
from schemas.events.retention import ArchiveRestored, RetentionApplied, RetentionExempted
from watchman.domains.retention import DEFAULT_POLICIES, PolicySettings, RetentionSettings

T = datetime(2026, 1, 1, tzinfo=UTC)


def env(p: RetentionApplied | RetentionExempted | ArchiveRestored, i: int = 0) -> Envelope:
    return Envelope(
        id=f"e{i}",
        type=p.TYPE,
        schema_version=p.VERSION,
        host="h",
        source="t",
        ts=T,
        observed_at=T,
        subject="s",
        payload=p.model_dump(mode="json"),
    )


def applied(**kw: object) -> RetentionApplied:
    base: dict[str, object] = {
        "run_id": "r1",
        "policy": "logs",
        "label": "LogEvent",
        "action": "hard_delete",
        "ts": T,
        "cutoff": T - timedelta(days=30),
    }
    return RetentionApplied(**{**base, **kw})  # type: ignore[arg-type]


def test_rule_round_trips_through_json() -> None:
    rule = PurgeNodes(
        rule="r",
        label="LogEvent",
        mode="soft_delete",
        at=T,
        cutoff=T - timedelta(days=1),
        exempt_keys=("a", "b"),
        exempt_ranges=((T - timedelta(days=9), T - timedelta(days=8)),),
    )
    assert PurgeNodes.from_json(rule.to_json()) == rule
    with pytest.raises(ValueError, match="cutoff or the keys"):
        PurgeNodes(rule="r", label="LogEvent", mode="hard_delete", at=T)


def test_criteria_are_parameters_and_labels_are_checked() -> None:
    rule = PurgeNodes(
        rule="r",
        label="LogEvent",
        mode="soft_delete",
        at=T,
        cutoff=T,
        exempt_keys=("x'y",),
        exempt_ranges=((T, T),),
    )
    cond, params = criteria(rule, naive=True)
    assert "x'y" not in cond and params["exempt"] == ["x'y"] and params["cutoff"].tzinfo is None
    assert "deleted_at" in cond and set(params) == {"cutoff", "exempt", "rf0", "rt0", "at"}
    with pytest.raises(ValueError, match="unknown label"):
        criteria(
            PurgeNodes(rule="r", label="Nope) DETACH DELETE (m", mode="hard_delete", at=T, cutoff=T), True
        )
    with pytest.raises(ValueError, match="not a TIMESTAMP"):
        criteria(
            PurgeNodes(
                rule="r", label="LogEvent", mode="hard_delete", at=T, cutoff=T, time_property="message"
            ),
            True,
        )


def test_applied_projects_audit_nodes_and_the_rule_unless_dry_run() -> None:
    ops = project_applied(env(applied()), applied())
    purges, rest = split(ops)
    assert [p.rule for p in purges] == ["r1"] and purges[0].cutoff == T - timedelta(days=30)
    fold(rest)  # the rest is valid graph ops
    assert UpsertRel("APPLIED", "RetentionEvent", "r1", "RetentionPolicy", "h/logs") in rest
    nothing = applied(action="archive")  # an archive that archived nothing
    assert split(project_applied(env(nothing), nothing))[0] == []
    archived = applied(action="archive", keys=("k1",))
    assert [p.keys for p in split(project_applied(env(archived), archived))[0]] == [("k1",)]
    dry = project_applied(env(applied(dry_run=True)), applied(dry_run=True))
    assert split(dry)[0] == []
    with pytest.raises(TypeError, match="PurgeNodes"):
        fold(ops)


def test_exempted_and_restored() -> None:
    ex = RetentionExempted(exemption_id="x1", label="LogEvent", key="k", reason="hold", ts=T)
    [node] = project_exempted(env(ex), ex)
    assert isinstance(node, UpsertNode) and node.props["reason"] == "hold"
    rec = {"id": "k1", "ts": "2025-01-01T00:00:00+00:00", "message": "m", "unknown": 1}
    back = ArchiveRestored(run_id="r1", archive="a", label="LogEvent", part=0, parts=1, records=(rec,), ts=T)
    ops = project_restored(env(back), back)
    purges, rest = split(ops)
    assert purges[0].lift
    restored = [o for o in rest if isinstance(o, UpsertNode) and o.label == "LogEvent"]
    assert restored[0].key == "k1" and restored[0].props["ts"] == datetime(2025, 1, 1, tzinfo=UTC)
    assert "unknown" not in restored[0].props


def test_processor_ids_are_deterministic() -> None:
    e = env(applied())
    one, two = decide(e, applied(), None), decide(e, applied(), None)  # type: ignore[arg-type]
    assert one[0].id == two[0].id != e.id and one[0].causation_id == e.id


def test_settings_checks() -> None:
    s = RetentionSettings()
    assert s.policies == DEFAULT_POLICIES and s.days(s.policies["LogEvent"]) == 30
    with pytest.raises(ValidationError, match="archive_url"):
        RetentionSettings(policies={"x": PolicySettings(purge_strategy="archive")})
    with pytest.raises(ValidationError, match="cron"):
        RetentionSettings(enforcement_schedule="every night")
    with pytest.raises(ValidationError, match="record"):
        RetentionSettings(exemptions=({"reason": "r"},))  # type: ignore[arg-type]
