"""The timetravel domain's pure parts: times, tail filters and topics, the `why` ranking."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.catalog import QUERIES, resolve
from watchman.timetravel.cut import _runs, event_ts_ms
from watchman.timetravel.tail import TailFilter, select_topics
from watchman.timetravel.times import BadTime, parse_duration, parse_time
from watchman.timetravel.why import Change, Context, bare_name, rank

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_times_and_durations() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_time("now", NOW) == NOW
    assert parse_time("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_time("-2h", NOW) == NOW - timedelta(hours=2)
    assert parse_time("2026-12-01T10:00:00", NOW) == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert parse_time("2026-12-01T11:00:00+01:00", NOW) == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert parse_time("1764583200", NOW) == datetime(2025, 12, 1, 10, tzinfo=UTC)
    for bad in ("yesterday", "10x", "", "2026-13-01"):
        with pytest.raises(BadTime):
            parse_time(bad, NOW)


@given(st.text(max_size=30))
def test_parse_time_never_crashes(text: str) -> None:
    with contextlib.suppress(BadTime):
        parse_time(text, NOW)


def test_tail_filter() -> None:
    doc = {"type": "ServiceFailed", "host": "web1", "subject": "nginx.service"}
    assert TailFilter().matches(doc, {})
    assert TailFilter(types=frozenset({"ServiceFailed"}), hosts=frozenset({"web1"})).matches(doc, {})
    assert not TailFilter(types=frozenset({"ServiceStarted"})).matches(doc, {})
    assert not TailFilter(hosts=frozenset({"db1"})).matches(doc, {})
    assert TailFilter(subjects=("nginx*",)).matches(doc, {})
    assert not TailFilter(subjects=("apache*",)).matches(doc, {})
    # A record that is no envelope (a dead letter) still matches by its header type.
    assert TailFilter(types=frozenset({"DeadLetter"})).matches({}, {"type": "DeadLetter"})


def test_select_topics() -> None:
    assert select_topics(["packages"]) == ["watchman.events.packages"]
    assert "watchman.raw.packages" in select_topics(["packages"], raw=True)
    assert "watchman.events.services" in select_topics()
    assert not any(t.startswith("watchman.raw.") for t in select_topics())
    assert select_topics(topics=["watchman.dlq"]) == ["watchman.dlq"]
    with pytest.raises(KeyError, match="known"):
        select_topics(["nope"])
    with pytest.raises(KeyError, match="known"):
        select_topics(topics=["nope"])


def test_runs_and_event_time() -> None:
    assert list(_runs([1, 2, 3, 7, 9, 10])) == [(1, 3), (7, 1), (9, 2)]
    assert list(_runs([])) == []
    assert event_ts_ms(b'{"ts": "2020-01-01T00:00:01Z"}') == 1577836801000
    assert event_ts_ms(b'{"ts": "2020-01-01T00:00:01"}') == 1577836801000  # naive is UTC
    assert event_ts_ms(b"not json") is None
    assert event_ts_ms(b'{"no": "ts"}') is None


def test_bare_name() -> None:
    assert bare_name("web1/nginx.service") == "nginx"
    assert bare_name("h/deb/nginx:amd64") == "nginx"
    assert bare_name("nginx") == "nginx"


FAILED_AT = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
CTX = Context("web1", "web1/nginx.service", "nginx", frozenset({"nginx-core"}), frozenset({80, 443}))


def _c(i: str, minutes_before: float, **kw: object) -> Change:
    return Change(i, FAILED_AT - timedelta(minutes=minutes_before), "Changed", f"web1/{i}", **kw)  # type: ignore[arg-type]


def test_rank_prefers_linked_changes_then_the_nearest() -> None:
    changes = [
        _c("unrelated-near", 1, package="curl"),
        _c("pkg", 20, package="nginx-core"),
        _c("cfg", 25, config_path="/etc/nginx/nginx.conf"),
        _c("rule", 15, ports=frozenset({443})),
        _c("rule-range", 12, port_range=(1000, 2000)),  # no port of nginx in it
        _c("too-old", 31, package="nginx-core"),
        _c("after", -1, package="nginx-core"),
    ]
    ranked = rank(FAILED_AT, changes, CTX, timedelta(minutes=30))
    ids = [c.change.id for c in ranked]
    assert ids[:3] == ["pkg", "cfg", "rule"]  # 2 + proximity, 2 + less proximity, 1.5 + more
    assert ids[3] == "unrelated-near"  # nearest of the unlinked
    assert "too-old" not in ids and "after" not in ids
    pkg = ranked[0]
    assert any("package nginx-core" in e for e in pkg.evidence)
    assert any("port 443" in e for e in ranked[2].evidence)
    assert ranked[0].to_json()["evidence"][0] == "1200 s before"


def test_rank_config_by_package_or_app() -> None:
    by_pkg = _c("a", 5, config_path="/etc/default/x", config_package="nginx-core")
    by_app = _c("b", 5, config_path="/srv/site.conf", config_app="nginx")
    other = _c("c", 5, config_path="/etc/ssh/sshd_config", config_package="openssh-server")
    ranked = {
        c.change.id: c.score for c in rank(FAILED_AT, [by_pkg, by_app, other], CTX, timedelta(minutes=30))
    }
    assert ranked["a"] > ranked["c"] + 1.9
    assert ranked["b"] > ranked["c"] + 1.9


def test_named_queries_resolve() -> None:
    cypher, params = resolve("changed-before-failure", {"service": "nginx"}, NOW)
    assert params["unit"] == "/nginx.service" and params["since"] == NOW - timedelta(days=1)
    assert "$unit" in cypher
    assert resolve("upgrade-affected", {"package": "nginx"}, NOW)[1]["package"] == "nginx"
    assert resolve("timeline", {"hours": 2}, NOW)[1]["since"] == NOW - timedelta(hours=2)
    assert {"changed-before-failure", "upgrade-affected", "timeline"} <= set(QUERIES)
