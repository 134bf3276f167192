"""watchman.keep against restic's documented `forget` behaviour: the examples of doc/060_forget.rst and
two golden results of restic's own policy tests (internal/data/snapshot_policy_test.go, the snapshot list
of TestApplyPolicy transcribed below; expected kept snapshots and reasons from its testdata
policy_keep_snapshots_15 and _30)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchman.keep import Duration, KeepPolicy, Snapshot, apply

NOW = datetime(2030, 1, 1, tzinfo=UTC)

# restic's TestApplyPolicy snapshot list (times in UTC; tags as given there).
RESTIC_TIMES = """
2014-09-01 10:20:30|2014-09-02 10:20:30|2014-09-05 10:20:30|2014-09-06 10:20:30|2014-09-08 10:20:30
2014-09-09 10:20:30|2014-09-10 10:20:30|2014-09-11 10:20:30|2014-09-20 10:20:30|2014-09-22 10:20:30
2014-08-08 10:20:30|2014-08-10 10:20:30|2014-08-12 10:20:30|2014-08-13 10:20:30|2014-08-13 10:20:30.1
2014-08-15 10:20:30|2014-08-18 10:20:30|2014-08-20 10:20:30|2014-08-21 10:20:30|2014-08-22 10:20:30
2014-10-01 10:20:30 foo|2014-10-02 10:20:30 foo|2014-10-05 10:20:30 foo|2014-10-06 10:20:30 foo
2014-10-08 10:20:30 foo|2014-10-09 10:20:30 foo|2014-10-10 10:20:30 foo|2014-10-11 10:20:30 foo
2014-10-20 10:20:30 foo|2014-10-22 10:20:30 foo|2014-11-08 10:20:30 foo|2014-11-10 10:20:30 foo
2014-11-12 10:20:30 foo|2014-11-13 10:20:30 foo|2014-11-13 10:20:30.1 bar|2014-11-15 10:20:30 foo,bar
2014-11-18 10:20:30|2014-11-20 10:20:30|2014-11-21 10:20:30|2014-11-22 10:20:30
2015-09-01 10:20:30|2015-09-02 10:20:30|2015-09-05 10:20:30|2015-09-06 10:20:30|2015-09-08 10:20:30
2015-09-09 10:20:30|2015-09-10 10:20:30|2015-09-11 10:20:30|2015-09-20 10:20:30|2015-09-22 10:20:30
2015-08-08 10:20:30|2015-08-10 10:20:30|2015-08-12 10:20:30|2015-08-13 10:20:30|2015-08-13 10:20:30.1
2015-08-15 10:20:30|2015-08-18 10:20:30|2015-08-20 10:20:30|2015-08-21 10:20:30|2015-08-22 10:20:30
2015-10-01 10:20:30|2015-10-02 10:20:30|2015-10-05 10:20:30|2015-10-06 10:20:30|2015-10-08 10:20:30
2015-10-09 10:20:30|2015-10-10 10:20:30|2015-10-11 10:20:30|2015-10-20 10:20:30|2015-10-22 10:20:30
2015-10-22 10:20:30|2015-10-22 10:20:30 foo,bar|2015-10-22 10:20:30 foo,bar|2015-10-22 10:20:30 foo,bar
2015-11-08 10:20:30|2015-11-10 10:20:30|2015-11-12 10:20:30|2015-11-13 10:20:30|2015-11-13 10:20:30.1
2015-11-15 10:20:30|2015-11-18 10:20:30|2015-11-20 10:20:30|2015-11-21 10:20:30|2015-11-22 10:20:30
2016-01-01 01:02:03|2016-01-01 01:03:03|2016-01-01 07:08:03|2016-01-03 07:02:03|2016-01-04 10:23:03
2016-01-04 11:23:03|2016-01-04 12:23:03|2016-01-04 12:24:03|2016-01-04 12:28:03|2016-01-04 12:30:03
2016-01-04 16:23:03|2016-01-05 09:02:03|2016-01-06 08:02:03|2016-01-07 10:02:03|2016-01-08 20:02:03
2016-01-09 21:02:03|2016-01-12 21:02:03|2016-01-12 21:08:03|2016-01-18 12:02:03
"""


def restic_snapshots() -> list[Snapshot]:
    out = []
    for i, cell in enumerate(c.strip() for c in RESTIC_TIMES.replace("\n", "|").split("|") if c.strip()):
        date, clock, *tags = cell.split(" ")
        fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in clock else "%Y-%m-%d %H:%M:%S"
        t = datetime.strptime(f"{date} {clock}", fmt).replace(tzinfo=UTC)
        out.append(Snapshot(f"s{i}", t, frozenset(tags[0].split(",")) if tags else frozenset()))
    return out


def kept(policy: KeepPolicy, snaps: list[Snapshot] | None = None) -> list[tuple[str, tuple[str, ...]]]:
    return [
        (d.snapshot.time.strftime("%Y-%m-%d %H:%M:%S"), d.reasons)
        for d in apply(snaps if snaps is not None else restic_snapshots(), policy, NOW)
        if d.keep
    ]


def test_the_transcribed_list_is_restics() -> None:
    assert len(restic_snapshots()) == 103


def test_restic_golden_15_daily2_weekly2_monthly6() -> None:
    assert kept(KeepPolicy(daily=2, weekly=2, monthly=6)) == [
        ("2016-01-18 12:02:03", ("daily snapshot", "weekly snapshot", "monthly snapshot")),
        ("2016-01-12 21:08:03", ("daily snapshot", "weekly snapshot")),
        ("2015-11-22 10:20:30", ("monthly snapshot",)),
        ("2015-10-22 10:20:30", ("monthly snapshot",)),
        ("2015-09-22 10:20:30", ("monthly snapshot",)),
        ("2015-08-22 10:20:30", ("monthly snapshot",)),
        ("2014-11-22 10:20:30", ("monthly snapshot",)),
    ]


def test_restic_golden_30_within_hourly() -> None:
    result = kept(KeepPolicy(within_hourly=Duration.parse("1y2m3d3h")))
    times = [t for t, _ in result]
    assert all(r == ("hourly within 1y2m3d3h",) for _, r in result)
    assert len(times) == 57
    assert times[:14] == [
        "2016-01-18 12:02:03", "2016-01-12 21:08:03", "2016-01-09 21:02:03", "2016-01-08 20:02:03",
        "2016-01-07 10:02:03", "2016-01-06 08:02:03", "2016-01-05 09:02:03", "2016-01-04 16:23:03",
        "2016-01-04 12:30:03", "2016-01-04 11:23:03", "2016-01-04 10:23:03", "2016-01-03 07:02:03",
        "2016-01-01 07:08:03", "2016-01-01 01:03:03",
    ]  # fmt: skip
    assert times[-5:] == [
        "2014-11-22 10:20:30", "2014-11-21 10:20:30", "2014-11-20 10:20:30", "2014-11-18 10:20:30",
        "2014-11-15 10:20:30",
    ]  # fmt: skip


def sundays() -> list[Snapshot]:
    """doc/060_forget.rst: one backup every Sunday for 12 weeks."""
    first = datetime(2019, 9, 1, 11, 0, tzinfo=UTC)
    return [Snapshot(f"w{i}", first + timedelta(weeks=i)) for i in range(12)]


def test_doc_example_keep_daily_4_of_12_sundays() -> None:
    result = apply(sundays(), KeepPolicy(daily=4), NOW)
    keep = [d.snapshot.time.date().isoformat() for d in result if d.keep]
    assert keep == ["2019-11-17", "2019-11-10", "2019-11-03", "2019-10-27"]
    assert all(d.reasons == ("daily snapshot",) for d in result if d.keep)
    assert sum(1 for d in result if not d.keep) == 8


def test_doc_example_a_daily_backup_for_100_years() -> None:
    """'keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 75': 7 dailies, 4 more weeklies,
    12 or 11 monthlies, 75 or 74 yearlies."""
    newest = datetime(2029, 12, 30, 3, tzinfo=UTC)  # a Sunday, as the doc's reasoning assumes
    assert newest.isoweekday() == 7
    snaps = [Snapshot(str(i), newest - timedelta(days=i)) for i in range(36525)]
    result = apply(snaps, KeepPolicy(daily=7, weekly=5, monthly=12, yearly=75), NOW)
    by = {r: sum(1 for d in result if d.keep and r in d.reasons) for r in
          ("daily snapshot", "weekly snapshot", "monthly snapshot", "yearly snapshot")}  # fmt: skip

    def only(r: str) -> int:
        return sum(1 for d in result if d.keep and d.reasons[0] == r)

    assert by["daily snapshot"] == 7 and by["weekly snapshot"] == 5
    assert only("weekly snapshot") == 4
    assert only("monthly snapshot") in (11, 12)
    assert only("yearly snapshot") in (74, 75)


def test_the_oldest_snapshot_is_kept_while_a_bucket_has_count_left() -> None:
    day = datetime(2026, 12, 1, tzinfo=UTC)
    snaps = [Snapshot(str(h), day + timedelta(hours=h)) for h in (1, 5, 9)]
    result = apply(snaps, KeepPolicy(daily=5), NOW)
    assert [(d.snapshot.id, d.keep, d.reasons) for d in result] == [
        ("9", True, ("daily snapshot",)),
        ("5", False, ()),
        ("1", True, ("oldest daily snapshot",)),
    ]


def test_keep_within_counts_from_the_newest_not_from_now() -> None:
    base = datetime(2020, 3, 31, 12, tzinfo=UTC)
    snaps = [Snapshot(str(i), base - timedelta(days=i)) for i in range(40)]
    result = apply(snaps, KeepPolicy(within=Duration.parse("1m")), NOW)
    # 2020-03-31 minus one month is "2020-02-31", which Go's AddDate normalises to 2020-03-02
    assert [d.snapshot.id for d in result if d.keep] == [str(i) for i in range(29)]
    assert result[0].reasons == ("within 1m",)


def test_future_snapshots_do_not_move_the_window() -> None:
    snaps = [Snapshot("future", NOW + timedelta(days=400)), Snapshot("a", NOW - timedelta(days=1)),
             Snapshot("b", NOW - timedelta(days=3))]  # fmt: skip
    result = {d.snapshot.id: d.keep for d in apply(snaps, KeepPolicy(within=Duration.parse("2d")), NOW)}
    assert result == {"future": True, "a": True, "b": False}


def test_tags_last_and_unlimited() -> None:
    snaps = restic_snapshots()
    tagged = [d for d in apply(snaps, KeepPolicy(tags=(frozenset({"foo", "bar"}),)), NOW) if d.keep]
    assert len(tagged) == 4 and all(d.reasons == ("has tags [bar foo]",) for d in tagged)
    assert len(kept(KeepPolicy(last=10))) == 10
    assert len(kept(KeepPolicy(last=-1))) == 103


def test_empty_policy_and_bad_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="empty policy"):
        apply(restic_snapshots(), KeepPolicy(), NOW)
    for bad in ("", "1w", "2x", "d1"):
        with pytest.raises(ValueError):
            Duration.parse(bad)
    assert str(Duration.parse("1y2m3d4h")) == "1y2m3d4h"
    assert str(KeepPolicy(daily=7, monthly=-1)) == "keep 7 daily, all monthly snapshots"
