"""`watchman why` on a scenario of real components: a package built with dpkg-deb and installed and
upgraded with dpkg (its real dpkg.log), a real config file changed under the config scanner (inotify),
firewall rules changed with nft in a network namespace, and the service failing in a real journal file
(systemd-journal-remote). Everything goes through the real sources, processors and projections into a
real LadybugDB; the ranking must put the three linked changes above the unrelated ones.

One observation is written as its source writes it instead of by the source: the listening socket's
systemd unit comes from the process's cgroup, and this test's processes run in no systemd unit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from systemd import journal

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.configfiles.source import ConfigSource, ConfigTracking
from producers.exposure.source import ListeningScanner
from producers.journald.entries import observe
from producers.journald.entries import raw_envelope as journal_envelope
from producers.network.sources import NetworkScanSource, Tools
from producers.packages.sources import LogSource
from projections.catalog import resolve
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events.exposure import Listener
from schemas.events.services import RAW_JOURNAL
from schemas.topics import DOMAIN_TOPICS, TOPICS
from tests.support import journal as j
from tests.support.journal import Entries, build_journal
from tests.support.netns import NetNS, netns
from watchman.bus.sqlite_log import SqliteLog
from watchman.pipeline import envelope_record
from watchman.projecting import project_topics
from watchman.timetravel.cut import TimeMachine
from watchman.timetravel.service import rows_query
from watchman.timetravel.why import explain

HOST = "h"
UNIT_FAILED = "be02cf6855d2428ba40df7e9d022f03d"  # sd-messages.h SD_MESSAGE_UNIT_FAILED
NFT = """
table inet filter {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 22 accept
  }
}
"""


def _deb(work: Path, name: str, version: str, conf: str) -> Path:
    pkg = work / f"{name}-{version}"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        f"Description: a tiny package built by the test\n"
    )
    (pkg / f"etc/{name}").mkdir(parents=True)
    (pkg / f"etc/{name}/{name}.conf").write_text(conf)
    (pkg / "DEBIAN/conffiles").write_text(f"/etc/{name}/{name}.conf\n")
    (pkg / "usr/sbin").mkdir(parents=True)
    (pkg / f"usr/sbin/{name}").write_text("#!/bin/sh\n")
    (pkg / f"usr/sbin/{name}").chmod(0o755)
    out = work / f"{name}_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(pkg), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def _dpkg_install(root: Path, log: Path, deb: Path) -> None:
    subprocess.run(
        ["dpkg", f"--root={root}", f"--log={log}", "--force-not-root", "--force-confold", "-i", str(deb)],
        check=True,
        capture_output=True,
        env={**os.environ, "TZ": "UTC"},
    )


def _poll(src: Any, until: int = 1, timeout: float = 15.0) -> list[Envelope]:
    got: list[Envelope] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got += src.poll(1000).observations
        if len(got) >= until:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{src.name}: {len(got)} observations within {timeout}s, wanted {until}")


@pytest.fixture(scope="module")
def ns() -> Iterator[NetNS]:
    with netns() as n:
        yield n


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, ns: NetNS
) -> Iterator[tuple[SqliteLog, LadybugStore, Path]]:
    work = tmp_path_factory.mktemp("why")
    root = work / "root"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc/other"):
        (root / d).mkdir(parents=True)
    for f in ("var/lib/dpkg/status", "var/lib/dpkg/available"):
        (root / f).touch()
    (root / "etc/other/other.conf").write_text("a = 1\n")
    dpkg_log = work / "dpkg.log"
    raws: list[tuple[str, Envelope]] = []

    # Before: tinyweb 1.0 installed, its config and the firewall as they were, its socket on 8080.
    _dpkg_install(root, dpkg_log, _deb(work, "tinyweb", "1.0", "port 8080\n"))
    configs = ConfigSource(
        HOST,
        None,
        ConfigTracking(paths=("/etc",), root=root, versions_dir=work / "versions", rescan_interval=3600.0),
    )
    raws += [(configs.topic.name, e) for e in _poll(configs)]
    ns.run("nft", "-f", "-", stdin=NFT)
    tools = Tools(resolved=False, ufw=False, firewalld=False, wireguard=False, tailscale=False, tun=False)
    resolv = work / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\n")
    fw = NetworkScanSource(HOST, netns=ns.name, interval=0.01, resolv_conf=resolv, tools=tools)
    raws += [(fw.topic.name, e) for e in _poll(fw)]
    sockets = ListeningScanner(HOST, dpkg_info=root / "var/lib/dpkg/info", interval=0.0)
    sockets.scan = lambda: [  # type: ignore[method-assign]
        Listener(
            protocol="tcp",
            address="0.0.0.0",
            port=8080,
            pid=4242,
            process="tinyweb",
            exe="/usr/sbin/tinyweb",
            unit="tinyweb.service",
            package="tinyweb",
        )
    ]
    raws += [(sockets.topic.name, e) for e in _poll(sockets)]
    time.sleep(1.1)  # dpkg.log has whole seconds: the changes come after the state above

    # The changes, oldest first: linked ones mixed with unrelated ones.
    _dpkg_install(root, dpkg_log, _deb(work, "tinyweb", "1.1", "port 8080\n"))  # the upgrade
    ns.run("nft", "add", "rule", "inet", "filter", "input", "tcp", "dport", "8080", "drop")  # its port
    (root / "etc/tinyweb/tinyweb.conf").write_text("port 8080\nworkers 0\n")  # its config
    raws += [(configs.topic.name, e) for e in _poll(configs)]
    raws += [(fw.topic.name, e) for e in _poll(fw)]
    time.sleep(1.1)
    _dpkg_install(root, dpkg_log, _deb(work, "otherpkg", "2.0", "x\n"))  # unrelated, and nearer
    ns.run("nft", "add", "rule", "inet", "filter", "input", "tcp", "dport", "2222", "accept")
    (root / "etc/other/other.conf").write_text("a = 2\n")
    raws += [(configs.topic.name, e) for e in _poll(configs)]
    raws += [(fw.topic.name, e) for e in _poll(fw)]
    configs.close()
    dpkg = LogSource("dpkg", dpkg_log, HOST, None, tz=ZoneInfo("UTC"))
    raws += [(dpkg.topic.name, e) for e in dpkg.poll(100_000).observations]
    dpkg.close()

    # Then tinyweb fails, in a real journal file.
    failed_at = datetime.now(UTC) + timedelta(seconds=1)
    e = Entries()
    e.systemd(
        failed_at - timedelta(minutes=5),
        "Started tinyweb.service - tiny.",
        "tinyweb.service",
        j.UNIT_STARTED,
        JOB_TYPE="start",
        JOB_RESULT="done",
    )
    e.systemd(
        failed_at,
        "tinyweb.service: Failed with result 'exit-code'.",
        "tinyweb.service",
        UNIT_FAILED,
        JOB_TYPE="start",
        JOB_RESULT="failed",
    )
    reader = journal.Reader(files=[str(build_journal(work / "system.journal", e))])
    try:
        raws += [(RAW_JOURNAL.name, journal_envelope(HOST, observe(entry), failed_at)) for entry in reader]
    finally:
        reader.close()

    # The real processors and projections.
    log = SqliteLog(work / "log.sqlite")
    log.ensure_topics(TOPICS.values())
    tables: dict[str, MemoryTable] = {}
    for topic, raw in raws:
        for route in (r for r in ROUTES if r.source.name == topic):
            out = route.handle(raw.to_json(), tables.setdefault(route.name, MemoryTable()))
            log.append(route.sink.name, [envelope_record(x) for x in out])
    graph = LadybugStore(work / "graph")
    graph.ensure_schema()

    def dead(*args: Any) -> None:
        raise AssertionError(f"dead letter in the scenario: {args[:3]}")

    while project_topics(log, graph, DOMAIN_TOPICS, 5000, on_dead=dead):
        pass
    yield log, graph, work
    graph.close()
    log.close()
    shutil.rmtree(work, ignore_errors=True)


def _live(graph: LadybugStore) -> Any:
    def run(cypher: str, params: Any) -> tuple[list[str], list[list[Any]]]:
        r = graph.query(cypher, params, read_only=True)
        return r.columns, r.rows

    return rows_query(run)


def test_why_ranks_the_linked_changes_first(scenario: tuple[SqliteLog, LadybugStore, Path]) -> None:
    _, graph, _ = scenario
    result = explain(_live(graph), "tinyweb", datetime.now(UTC) + timedelta(minutes=1), timedelta(minutes=30))
    assert result.failure["type"] == "ServiceFailed"
    assert result.context.ports == {8080} and "tinyweb" in result.context.packages
    summaries = [c.change.summary for c in result.causes]
    shown = "\n".join(f"{c.score:.2f} {c.change.summary} {c.evidence}" for c in result.causes)

    def rank_of(text: str) -> int:
        return next(i for i, s in enumerate(summaries) if text in s)

    linked = [
        rank_of("upgrade tinyweb:all 1.0 -> 1.1"),
        rank_of("change /etc/tinyweb/tinyweb.conf"),
        rank_of("dport 8080"),
    ]
    unlinked = [rank_of("install otherpkg"), rank_of("dport 2222"), rank_of("change /etc/other/other.conf")]
    # The unrelated changes came later (nearer the failure), yet every linked change ranks above them.
    assert max(linked) < min(unlinked), shown
    by_summary = {c.change.summary: c for c in result.causes}
    upgrade = next(c for s, c in by_summary.items() if "upgrade tinyweb" in s)
    assert any("package tinyweb" in e for e in upgrade.evidence)
    rule = next(c for s, c in by_summary.items() if "dport 8080" in s)
    assert any("port 8080" in e for e in rule.evidence)
    conf = next(c for s, c in by_summary.items() if "change /etc/tinyweb/tinyweb.conf" in s)
    assert any("tinyweb.conf" in e for e in conf.evidence)


def test_why_at_a_time_equals_why_on_the_live_graph(scenario: tuple[SqliteLog, LadybugStore, Path]) -> None:
    log, graph, work = scenario
    at = datetime.now(UTC) + timedelta(minutes=1)
    live = explain(_live(graph), "tinyweb", at, timedelta(minutes=30)).to_json()
    tm = TimeMachine(log, work / "cache")
    with tm.at(at) as (store, _):
        past = explain(_live(store), "tinyweb", at, timedelta(minutes=30)).to_json()  # type: ignore[arg-type]
        # Before the failure: nothing of it to explain; the named queries run on the past too.
    tm.close()
    assert past == live


def test_named_queries_on_the_scenario(scenario: tuple[SqliteLog, LadybugStore, Path]) -> None:
    _, graph, _ = scenario
    now = datetime.now(UTC) + timedelta(minutes=1)
    cypher, params = resolve("changed-before-failure", {"service": "tinyweb", "minutes": 60}, now)
    rows = graph.query(cypher, params, read_only=True).dicts()
    summaries = " ".join(str(r["summary"]) for r in rows)
    assert "tinyweb" in summaries and "8080" in summaries and "otherpkg" in summaries
    cypher, params = resolve("upgrade-affected", {"package": "tinyweb"}, now)
    kinds = {r["kind"] for r in graph.query(cypher, params, read_only=True).dicts()}
    assert kinds == {"package", "config file", "listening socket"}
