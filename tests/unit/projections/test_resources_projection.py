"""projections/resources.py: current values, ring-keyed points that overwrite themselves, alert events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from processors.resources import decide_sample
from processors.tables import MemoryTable
from producers.resources.sampler import raw_envelope
from projections.graph_ops import UpsertNode
from projections.registry import PROJECTORS
from projections.resources import hour_slot, minute_slot, project_sampled
from schemas.envelope import Envelope
from schemas.events import decode_payload
from schemas.events.resources import POINTS_PER_SERIES_YEAR, RING_HOURS, RING_MINUTES, ResourcesSampled
from tests.unit.processors.test_resources import T0, GiB, obs


def project(events: list[Envelope]) -> list[UpsertNode]:
    ops = []
    for e in events:
        ops += PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
    return [o for o in ops if isinstance(o, UpsertNode)]


def test_the_rings_bound_a_year_of_points() -> None:
    keys: set[str] = set()
    # A sample every 61 minutes for a year (61 and 1,440 share no factor: every minute slot is met).
    ts, end = T0, T0 + timedelta(days=365)
    while ts < end:
        hour = ts.replace(minute=0, second=0, microsecond=0)
        p = ResourcesSampled(
            ts=ts, values={"cpu": 1.0}, hour=hour, hourly={"cpu": (1.0, 1.0)}, daily={"cpu": (1.0, 1.0)}
        )
        env = Envelope.model_construct(id="x", type=p.TYPE, host="h", ts=ts)  # unvalidated: quick
        keys |= {
            o.key for o in project_sampled(env, p) if isinstance(o, UpsertNode) and o.label == "MetricPoint"
        }
        ts += timedelta(minutes=61)
    assert len([k for k in keys if "|m|" in k]) == RING_MINUTES
    assert len([k for k in keys if "|h|" in k]) == RING_HOURS
    assert len([k for k in keys if "|d|" in k]) == 366  # 365 days from 10:00 meet 366 dates
    assert len(keys) == POINTS_PER_SERIES_YEAR + 1


def test_slots() -> None:
    assert minute_slot(datetime(2026, 1, 1, 23, 59, tzinfo=UTC)) == 1439
    a = datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert hour_slot(a) == hour_slot(a + timedelta(days=90))
    assert hour_slot(a) != hour_slot(a + timedelta(days=89))


def test_current_values_and_alert_event_nodes() -> None:
    s = obs(T0, used=95 * GiB)
    nodes = project(decide_sample(raw_envelope("h", s, T0), s, MemoryTable()))
    fs = next(n for n in nodes if n.label == "Filesystem" and "used_percent" in n.props)
    assert fs.key == "h|/data" and fs.props["used_percent"] == 95.0
    events = [n for n in nodes if n.label == "Event"]
    assert [e.props["type"] for e in events] == ["DiskSpaceLow"]
    sm = next(n for n in nodes if n.label == "SystemMetrics" and n.props)
    assert sm.props["memory_used_percent"] == 50.0


def test_no_two_domains_declare_a_query_of_one_name() -> None:
    """The catalog is a dict: a second query of a name would silently replace the first."""
    from projections import catalog
    from projections.catalog import QUERIES

    declared = [q.name for m in vars(catalog).values() if hasattr(m, "QUERIES") and m is not catalog
                for q in m.QUERIES]  # fmt: skip
    assert len(declared) == len(set(declared)) == len(QUERIES)
