"""The packages decide function: one event per real change, twins merged, re-reads dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processors.packages import decide
from processors.tables import MemoryTable
from producers.packages.envelopes import raw_envelope
from schemas.envelope import Envelope
from schemas.events import PackageChangeObserved, PackageUpgraded, decode_payload

T0 = datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)


def obs(source: str, **kw: Any) -> PackageChangeObserved:
    base: dict[str, Any] = {
        "ts": T0,
        "action": "upgrade",
        "source": source,
        "package": "bash",
        "arch": "amd64",
        "old_version": "5.2-1",
        "new_version": "5.2-2",
    }
    if source == "apt":
        base |= {
            "session_start": T0,
            "session_end": T0 + timedelta(minutes=1),
            "requested_by": "alice",
            "commandline": "apt upgrade",
            "automatic": None,
        }
    if source == "dpkg":
        base["ts"] = T0 + timedelta(seconds=20)
    base.update(kw)
    return PackageChangeObserved(**base)


def run(table: MemoryTable, *observations: PackageChangeObserved) -> list[Envelope]:
    events: list[Envelope] = []
    for o in observations:
        raw = raw_envelope("h1", o, T0 + timedelta(hours=1))
        events.extend(decide(raw, o, table))
    return events


def final(events: list[Envelope]) -> dict[str, Envelope]:
    """What a projection keeps: the last record per event id."""
    return {e.id: e for e in events}


def test_apt_then_dpkg_is_one_event_with_apt_fields_and_dpkg_time() -> None:
    events = run(MemoryTable(), obs("apt"), obs("dpkg"))
    (event,) = final(events).values()
    p = decode_payload(event.type, event.schema_version, event.payload)
    assert isinstance(p, PackageUpgraded)
    assert p.requested_by == "alice"
    assert p.commandline == "apt upgrade"
    assert p.sources == ("apt", "dpkg")
    assert event.ts == T0 + timedelta(seconds=20)


def test_dpkg_then_apt_gives_the_same_fields_and_id() -> None:
    a = final(run(MemoryTable(), obs("apt"), obs("dpkg")))
    b = final(run(MemoryTable(), obs("dpkg"), obs("apt")))
    assert len(a) == len(b) == 1
    (ea,), (eb,) = a.values(), b.values()
    assert ea.id == eb.id  # the id does not depend on which twin was read first
    assert ea.payload == eb.payload
    assert ea.ts == eb.ts
    assert ea.type == eb.type


def test_dpkg_first_is_emitted_at_once_then_amended_under_the_same_id() -> None:
    events = run(MemoryTable(), obs("dpkg"), obs("apt"))
    assert len(events) == 2
    assert events[0].id == events[1].id
    assert events[0].payload["requested_by"] is None
    assert events[1].payload["requested_by"] == "alice"


def test_reading_the_same_line_again_re_emits_the_change_as_it_stands() -> None:
    table = MemoryTable()
    (first,) = run(table, obs("dpkg"))
    (again,) = run(table, obs("dpkg"))
    assert again.id == first.id and again.payload == first.payload
    (merged,) = run(table, obs("apt"))
    replays = run(table, obs("apt"), obs("dpkg"))
    assert [e.id for e in replays] == [first.id, first.id]
    assert all(e.payload == merged.payload and e.ts == merged.ts for e in replays)
    assert [len(v["recent"]) for k, v in table.data.items() if not k.startswith("current/")] == [1]


def test_different_versions_are_different_changes() -> None:
    table = MemoryTable()
    events = run(
        table,
        obs("apt"),
        obs("dpkg", old_version="5.2-2", new_version="5.2-3", ts=T0 + timedelta(seconds=30)),
    )
    assert len(final(events)) == 2


def test_dpkg_outside_the_apt_session_is_not_a_twin() -> None:
    table = MemoryTable()
    events = run(table, obs("apt"), obs("dpkg", ts=T0 + timedelta(hours=2)))
    assert len(final(events)) == 2


def test_same_change_later_again_is_a_new_event() -> None:
    """Reinstalling the same version next week is a second change, not a duplicate."""
    table = MemoryTable()
    later = T0 + timedelta(days=7)
    events = run(
        table,
        obs("apt"),
        obs("dpkg"),
        obs("apt", session_start=later, session_end=later + timedelta(minutes=1), ts=later),
        obs("dpkg", ts=later + timedelta(seconds=5)),
    )
    assert len(final(events)) == 2


def test_arch_missing_in_old_apt_format_still_matches_and_fills_arch() -> None:
    events = run(MemoryTable(), obs("apt", arch=None), obs("dpkg"))
    (event,) = final(events).values()
    assert event.payload["arch"] == "amd64"


def test_dnf_and_rpm_log_are_twins_too() -> None:
    dnf = obs(
        "dnf",
        action="install",
        old_version=None,
        new_version="3.2.2-1.fc39",
        arch="x86_64",
        package="htop",
        release="1.fc39",
        session_start=T0,
        session_end=T0 + timedelta(seconds=40),
        commandline="dnf install htop",
        repo="updates",
    )
    rpm = obs(
        "dnf-rpm",
        action="install",
        old_version=None,
        new_version="3.2.2-1.fc39",
        arch="x86_64",
        package="htop",
        release="1.fc39",
        ts=T0 + timedelta(seconds=10),
    )
    (event,) = final(run(MemoryTable(), rpm, dnf)).values()
    assert event.payload["repo"] == "updates"
    assert event.payload["ecosystem"] == "rpm"
    assert event.type == "PackageInstalled"


def test_brew_changes_pass_through() -> None:
    b = obs("brew", action="install", old_version=None, new_version="1.7.1", arch=None, package="jq")
    (event,) = run(MemoryTable(), b)
    assert event.payload["ecosystem"] == "brew"
    assert event.subject == "jq"


def test_decisions_are_deterministic() -> None:
    a = run(MemoryTable(), obs("dpkg"), obs("apt"))
    b = run(MemoryTable(), obs("dpkg"), obs("apt"))
    assert [e.model_dump() for e in a] == [e.model_dump() for e in b]


def test_arch_all_in_dpkg_matches_native_arch_in_apt_in_either_order() -> None:
    a = final(run(MemoryTable(), obs("apt", arch="amd64"), obs("dpkg", arch="all")))
    b = final(run(MemoryTable(), obs("dpkg", arch="all"), obs("apt", arch="amd64")))
    assert [e.payload["arch"] for e in a.values()] == ["all"]
    assert [e.payload for e in a.values()] == [e.payload for e in b.values()]


def test_every_telling_of_an_arch_all_change_lands_on_one_software_node() -> None:
    """Found on a real Debian host: the event was emitted first as apt told it (needrestart:amd64),
    then again, merged, as dpkg told it (needrestart:all), and each emission was linked to its own
    Software node. With the host's native arch in the observations the key no longer depends on
    which log came first, nor on the old apt format that writes no arch."""
    from projections.graph_ops import UpsertNode
    from projections.packages import project
    from schemas.events import PackageChanged

    def software_of(*tellings: PackageChangeObserved) -> set[str]:
        keys = set()
        for e in run(MemoryTable(), *tellings):
            payload = decode_payload(e.type, e.schema_version, e.payload)
            assert isinstance(payload, PackageChanged)
            keys |= {
                op.key for op in project(e, payload) if isinstance(op, UpsertNode) and op.label == "Software"
            }
        return keys

    native = {"native_arch": "amd64"}
    apt, dpkg = obs("apt", arch="amd64", **native), obs("dpkg", arch="all", **native)
    assert software_of(apt, dpkg) == software_of(dpkg, apt) == {"h1/deb/bash"}
    old_apt = obs("apt", arch=None, **native)
    assert software_of(old_apt, dpkg) == {"h1/deb/bash"}
    # a foreign-arch package stays its own software, in either order
    i386 = {"arch": "i386", **native}
    assert software_of(obs("apt", **i386), obs("dpkg", **i386)) == {"h1/deb/bash:i386"}


def test_twin_with_identical_fields_still_records_both_sources() -> None:
    """apt's entry at the same second as dpkg's line: nothing but the sources differ."""
    same_second: dict[str, Any] = {"ts": T0, "session_start": T0, "session_end": T0}
    same_second |= {"requested_by": None, "commandline": None}
    events = run(MemoryTable(), obs("apt", **same_second), obs("dpkg", ts=T0))
    assert [e.payload["sources"] for e in final(events).values()] == [["apt", "dpkg"]]


def _purge_trio() -> tuple[PackageChangeObserved, PackageChangeObserved, PackageChangeObserved]:
    rm = {"old_version": "5.2-2", "new_version": None}
    apt = obs("apt", action="purge", **rm)
    dpkg_remove = obs("dpkg", action="remove", **rm)
    dpkg_purge = obs("dpkg", action="purge", ts=T0 + timedelta(seconds=25), **rm)
    return apt, dpkg_remove, dpkg_purge


def test_apt_purge_and_dpkg_remove_plus_purge_are_one_purge_in_any_order() -> None:
    import itertools

    apt, dpkg_remove, dpkg_purge = _purge_trio()
    outcomes = []
    for order in itertools.permutations([apt, dpkg_remove, dpkg_purge]):
        if order.index(dpkg_remove) > order.index(dpkg_purge):
            continue  # dpkg always logs remove before purge
        (event,) = final(run(MemoryTable(), *order)).values()
        outcomes.append((event.id, event.type, event.payload, event.ts))
    assert len(outcomes) == 3
    assert all(o == outcomes[0] for o in outcomes)
    assert outcomes[0][1] == "PackagePurged"
    assert outcomes[0][2]["requested_by"] == "alice"


def test_apt_purge_of_a_package_without_conffiles_matches_dpkg_remove_alone() -> None:
    apt, dpkg_remove, _ = _purge_trio()
    (event,) = final(run(MemoryTable(), dpkg_remove, apt)).values()
    assert event.type == "PackagePurged"
    assert event.payload["sources"] == ["apt", "dpkg"]


def test_dpkg_remove_then_purge_days_later_are_two_changes() -> None:
    _, dpkg_remove, dpkg_purge = _purge_trio()
    later = dpkg_purge.model_copy(update={"ts": T0 + timedelta(days=3)})
    events = final(run(MemoryTable(), dpkg_remove, later))
    assert sorted(e.type for e in events.values()) == ["PackagePurged", "PackageRemoved"]


def test_twins_match_however_far_apt_runs_ahead() -> None:
    """Backfill reads apt's history much faster than dpkg.log: hundreds of changes of one package
    may be decided before the first dpkg twin arrives."""
    table = MemoryTable()
    apts, dpkgs = [], []
    for i in range(300):
        t = T0 + timedelta(hours=i)
        versions = {"old_version": f"1.{i}", "new_version": f"1.{i + 1}"}
        apts.append(obs("apt", ts=t, session_start=t, session_end=t + timedelta(minutes=1), **versions))
        dpkgs.append(obs("dpkg", ts=t + timedelta(seconds=20), **versions))
    events = final(run(table, *apts, *dpkgs))
    assert len(events) == 300
    assert all(e.payload["sources"] == ["apt", "dpkg"] for e in events.values())


def test_the_graph_does_not_depend_on_which_telling_came_first() -> None:
    """Seen in the kill -9 test: after a restart apt's telling of an install came after dpkg's telling
    of a later upgrade. The install's `automatic` (only apt says it) was older than the Software's
    state and lost, and the Software's first_seen was apt's session start instead of dpkg's time.
    Projected and folded (the same as applying one by one), both orders give the same nodes."""
    from projections.graph_ops import fold
    from projections.packages import project
    from schemas.events import PackageChanged

    install: dict[str, Any] = {"action": "install", "old_version": None, "new_version": "5.2-1"}
    install_apt = obs("apt", automatic=True, native_arch="amd64", **install)
    install_dpkg = obs("dpkg", native_arch="amd64", **install)
    later = T0 + timedelta(days=3)
    session = {"session_start": later, "session_end": later + timedelta(minutes=1)}
    upgrade_apt = obs("apt", ts=later, native_arch="amd64", **session)
    upgrade_dpkg = obs("dpkg", ts=later + timedelta(seconds=20), native_arch="amd64")

    def nodes(*tellings: PackageChangeObserved) -> dict[str, dict[str, Any]]:
        ops = []
        for e in run(MemoryTable(), *tellings):
            payload = decode_payload(e.type, e.schema_version, e.payload)
            assert isinstance(payload, PackageChanged)
            ops.extend(project(e, payload))
        folded = fold(ops).nodes
        return {label: {k: n.props for k, n in folded[label].items()} for label in ("Software", "Host")}

    in_time_order = nodes(install_apt, install_dpkg, upgrade_apt, upgrade_dpkg)
    software = in_time_order["Software"]["h1/deb/bash"]
    assert software["automatic"] is True
    assert software["first_seen"] == T0  # apt's session start: the earliest telling
    assert software["last_seen"] == software["updated_at"] == later + timedelta(seconds=20)
    assert nodes(install_dpkg, upgrade_dpkg, upgrade_apt, install_apt) == in_time_order
    assert nodes(install_dpkg, upgrade_apt, install_apt, upgrade_dpkg) == in_time_order
    assert nodes(upgrade_dpkg, install_apt, upgrade_apt, install_dpkg) == in_time_order


def test_the_span_of_the_tellings_only_widens() -> None:
    (event,) = final(run(MemoryTable(), obs("dpkg"), obs("apt"))).values()
    payload = decode_payload(event.type, event.schema_version, event.payload)
    assert isinstance(payload, PackageUpgraded)
    assert payload.first_told == T0  # apt's session start
    assert payload.last_told == event.ts == T0 + timedelta(seconds=20)  # dpkg's time
    (alone,) = final(run(MemoryTable(), obs("apt"))).values()
    p = decode_payload(alone.type, alone.schema_version, alone.payload)
    assert isinstance(p, PackageUpgraded)
    assert p.first_told == p.last_told == alone.ts == T0


def test_ids_of_reinstalls_do_not_depend_on_the_arrival_order() -> None:
    """Three changes of one key (install, reinstall a day later, again a day later), each told by apt and
    dpkg: every order that reads each log in its own order gives the same ids to the same changes."""
    import itertools

    install: dict[str, Any] = {"action": "install", "old_version": None, "new_version": "5.2-1"}
    apt, dpkg = [], []
    for day in range(3):
        at = T0 + timedelta(days=day)
        session = {"session_start": at, "session_end": at + timedelta(minutes=1)}
        apt.append(obs("apt", ts=at, **session, **install))
        dpkg.append(obs("dpkg", ts=at + timedelta(seconds=20), **install))
    outcomes = set()
    for slots in itertools.combinations(range(6), 3):  # where apt's three tellings fall among the six
        a, d = iter(apt), iter(dpkg)
        order = [next(a) if i in slots else next(d) for i in range(6)]
        events = final(run(MemoryTable(), *order))
        outcomes.add(
            tuple(sorted((e.id, e.ts.isoformat(), e.payload["requested_by"]) for e in events.values()))
        )
    assert len(outcomes) == 1
    (outcome,) = outcomes
    assert len(outcome) == 3
