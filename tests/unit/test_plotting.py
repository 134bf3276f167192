"""watchman/plotting.py and the time-series convention of projections/queries/resources.py (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from projections.catalog import CatalogError, resolve
from projections.queries.resources import since_minutes
from watchman.plotting import NotASeries, check_series_query, series_of, time_series_queries

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_since_and_the_resolution_it_picks() -> None:
    assert [since_minutes(x) for x in ("90m", "24h", "30d", "2w", "1y")] == [90, 1440, 43200, 20160, 525600]
    for bad in ("soon", "24", "-1h", "0m", "200y"):
        with pytest.raises(CatalogError):
            since_minutes(bad)
    for since, res in (("24h", "m"), ("25h", "h"), ("90d", "h"), ("91d", "d")):
        _, p = resolve("metric-series", {"series": "cpu", "since": since}, NOW)
        assert p["resolution"] == res and p["since"] == NOW - timedelta(minutes=since_minutes(since))
    _, p = resolve("disk-use", {"mount": "/var"}, NOW)
    assert p["series"] == "fs./var.used_percent"


def test_which_queries_are_series() -> None:
    names = time_series_queries()
    assert {"metric-series", "disk-use", "cpu-per-core", "service-memory-series"} <= set(names)
    with pytest.raises(NotASeries):
        check_series_query("disk-usage")


def test_rows_become_lines() -> None:
    t = NOW.replace(tzinfo=None)  # LadybugDB answers naive UTC
    rows = [[t + timedelta(minutes=1), 2.0, "cpu.core1"], [t, 1.0, "cpu.core1"], [t, 5.0, "cpu.core0"]]
    lines = series_of(["ts", "value", "series"], rows)
    assert lines == {
        "cpu.core0": [(NOW, 5.0)],
        "cpu.core1": [(NOW, 1.0), (NOW + timedelta(minutes=1), 2.0)],
    }
    two_hosts = series_of(
        ["ts", "value", "host"], [[t, 1.0, "a"], [t, 2.0, "b"], ["2026-12-04T12:00:00+00:00", None, "a"]]
    )
    assert two_hosts == {"a": [(NOW, 1.0)], "b": [(NOW, 2.0)]}
    with pytest.raises(NotASeries):
        series_of(["host", "mount"], [])
