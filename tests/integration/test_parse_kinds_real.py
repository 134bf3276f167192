"""`watchman parse` kinds on real tool output made here: journalctl on a real journal file, ip -j / nft /
iptables-save in a network namespace of our own. Each must tell what the running source tells."""

from __future__ import annotations

import io
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from systemd import journal

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.journald.entries import observe, raw_envelope
from producers.kinds import KINDS
from producers.network import netlink
from schemas.events.services import RAW_JOURNAL
from tests.support import journal as j
from tests.support.dockerd import running_dockerd
from tests.support.journal import Entries, build_journal
from tests.support.netns import NetNS, netns
from watchman.parsing import run

NOW = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def parse(kind: str, path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    out, err = io.BytesIO(), io.StringIO()
    run(KINDS[kind], path, host="h", tz=UTC, out=out, err=err, now=NOW)
    return [orjson.loads(line) for line in out.getvalue().splitlines()], [
        orjson.loads(line) for line in err.getvalue().splitlines()
    ]


# -- journal ----------------------------------------------------------------------------------------


def sample(t: datetime) -> Entries:
    e = Entries()
    e.systemd(t, "Started nginx.service - A high performance web server.", "nginx.service", j.UNIT_STARTED,
              JOB_TYPE="start", JOB_RESULT="done")  # fmt: skip
    e.service_log(
        t + timedelta(seconds=1), "nginx.service", "2026/12/04 [error] 12#12: bind() failed", priority=3
    )
    e.service_log(t + timedelta(seconds=2), "nginx.service", b"binary \xff\x00 payload\nline two", priority=3)
    e.auth(t + timedelta(seconds=3), "sshd", "Failed password for root from 203.0.113.9 port 50022 ssh2",
           unit="ssh.service", pid=991)  # fmt: skip
    sudo = "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"
    e.auth(t + timedelta(seconds=4), "sudo", sudo, unit="session-3.scope", pid=992)
    e.systemd(t + timedelta(seconds=5), "nginx.service: Failed with result 'exit-code'.", "nginx.service",
              j.UNIT_RESULT, UNIT_RESULT="exit-code")  # fmt: skip
    return e


def from_reader(path: Path) -> list[tuple[str, Any]]:
    """What the journald source and the processors make of the file (the reference)."""
    tables = {r.name: MemoryTable() for r in ROUTES if r.source == RAW_JOURNAL}
    got: list[tuple[str, Any]] = []
    reader = journal.Reader(files=[str(path)])
    for entry in reader:
        raw = raw_envelope("h", observe(entry), NOW)
        got.append((raw.type, raw.payload))
        for r in ROUTES:
            if r.source == RAW_JOURNAL:
                got += [(d.type, d.payload) for d in r.handle(raw.to_json(), tables[r.name])]
    reader.close()
    return got


@pytest.mark.parametrize(("kind", "mode"), [("journal-json", "json"), ("journal-json-pretty", "json-pretty"),
                                            ("journal-export", "export")])  # fmt: skip
def test_journalctl_outputs_decide_as_the_journal_does(tmp_path: Path, kind: str, mode: str) -> None:
    path = build_journal(tmp_path / "system.journal", sample(NOW - timedelta(hours=1)))
    dump = tmp_path / f"out.{mode}"
    with dump.open("wb") as fh:
        subprocess.run(
            ["journalctl", f"--file={path}", "-o", mode, "--all"], stdout=fh, check=True, timeout=60
        )
    lines, errors = parse(kind, dump)
    assert errors == []
    got = [(x["type"], x["payload"]) for x in lines]
    assert got == from_reader(path)
    assert [t for t, _ in got].count("JournalEntryObserved") == 6
    assert {"ServiceStarted", "ServiceLogged", "ServiceFailed", "LoginFailed", "SudoCommandRun"} <= {
        t for t, _ in got
    }


def test_a_cut_export_file_reports_the_broken_entry(tmp_path: Path) -> None:
    path = build_journal(tmp_path / "system.journal", sample(NOW - timedelta(hours=1)))
    dump = tmp_path / "out.export"
    with dump.open("wb") as fh:
        subprocess.run(["journalctl", f"--file={path}", "-o", "export"], stdout=fh, check=True, timeout=60)
    data = dump.read_bytes()
    cut = data.index(b"binary")  # inside the binary MESSAGE of the third entry
    dump.write_bytes(data[:cut])
    lines, errors = parse("journal-export", dump)
    assert [x["type"] for x in lines].count("JournalEntryObserved") == 2
    assert len(errors) == 1 and errors[0]["position"] == "entry 3"


# -- network, in a namespace of our own ---------------------------------------------------------------


def ns_output(ns: NetNS, *argv: str) -> str:
    return ns.run(*argv).stdout


def live_dump(ns: NetNS) -> dict[str, Any]:
    from pyroute2 import IPRoute

    with IPRoute(netns=ns.name) as ipr:
        links = [netlink.flatten(m) for m in ipr.get_links()]
        addrs = [netlink.flatten(m) for m in ipr.get_addr()]
        # Every table. (NetlinkSource._dump asks with table=0, which pyroute2 0.9.7 answers with nothing.)
        routes = [netlink.flatten(m) for m in ipr.get_routes(family=socket.AF_INET)]
        routes += [netlink.flatten(m) for m in ipr.get_routes(family=socket.AF_INET6)]
    return netlink.snapshot_of(links, addrs, routes)


def items(lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        f"{x['payload']['kind']}|{x['payload']['key']}": x["payload"]["item"]
        for x in lines
        if x["type"] == "NetworkStateObserved"
    }


def test_ip_json_outputs_give_the_items_of_a_live_netlink_dump(tmp_path: Path) -> None:
    with netns() as ns:
        ns.veth("wmp0", "wmp1")
        ns.bridge("wmbr0", "wmp1")
        ns.ip("addr", "add", "10.77.0.2/24", "dev", "wmp0")
        ns.ip("addr", "add", "fd00:77::2/64", "dev", "wmp0", "nodad")
        ns.ip("route", "add", "default", "via", "10.77.0.1", "dev", "wmp0", "metric", "50")
        ns.ip("route", "add", "198.51.100.0/24", "via", "10.77.0.1", "proto", "static")
        ns.ip("route", "add", "blackhole", "192.0.2.0/24")
        ns.ip("-6", "route", "add", "2001:db8::/32", "via", "fd00:77::1", "metric", "10")
        files = {}
        for name, argv in {
            "addr": ("ip", "-d", "-j", "addr"),
            "link": ("ip", "-d", "-j", "link"),
            "route4": ("ip", "-j", "route", "show", "table", "all"),
            "route6": ("ip", "-j", "-6", "route", "show", "table", "all"),
        }.items():
            files[name] = tmp_path / f"{name}.json"
            files[name].write_text(ns_output(ns, *argv))
        reference = live_dump(ns)
    got: dict[str, Any] = {}
    for kind, name in (("ip-addr", "addr"), ("ip-route", "route4"), ("ip-route", "route6")):
        lines, errors = parse(kind, files[name])
        assert errors == []
        got.update(items(lines))
    for key in sorted(set(got) | set(reference)):
        assert got.get(key) == reference.get(key), key
    links, _ = parse("ip-link", files["link"])
    assert items(links) == {k: v for k, v in reference.items() if k.startswith("interface|")}
    decided = {x["type"] for x in parse("ip-addr", files["addr"])[0]}
    assert {"InterfaceUp", "AddressAdded"} <= decided


def test_nft_and_iptables_rules_made_in_a_namespace(tmp_path: Path) -> None:
    with netns() as ns:
        ns.run("nft", "add", "table", "inet", "wm")
        ns.run(
            "nft",
            "add",
            "chain",
            "inet",
            "wm",
            "input",
            "{ type filter hook input priority 0; policy accept; }",
        )
        ns.run("nft", "add", "rule", "inet", "wm", "input", "tcp", "dport", "443", "accept")
        ns.run("nft", "add", "rule", "inet", "wm", "input", "ip", "saddr", "203.0.113.0/24", "drop")
        (tmp_path / "nft.json").write_text(ns_output(ns, "nft", "-j", "list", "ruleset"))
        ns.run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-s", "10.0.0.0/8", "-j", "ACCEPT")
        ns.run("ip6tables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP")
        (tmp_path / "iptables.txt").write_text(ns_output(ns, "iptables-save"))
        (tmp_path / "ip6tables.txt").write_text(ns_output(ns, "ip6tables-save"))

    def rules(kind: str, name: str) -> list[tuple[Any, ...]]:
        lines, errors = parse(kind, tmp_path / name)
        assert errors == []
        added = [x["payload"] for x in lines if x["type"] == "FirewallRuleAdded"]
        return sorted((p["chain"], p["target"], p["protocol"], tuple(p["ports"]), p["source"]) for p in added)

    nft = rules("nft", "nft.json")
    assert ("input", "accept", "tcp", ("443",), None) in nft
    assert ("input", "drop", None, (), "203.0.113.0/24") in nft
    assert rules("iptables", "iptables.txt") == [("INPUT", "ACCEPT", "tcp", ("22",), "10.0.0.0/8")]
    assert rules("ip6tables", "ip6tables.txt") == [("INPUT", "DROP", "udp", ("53",), None)]


# -- docker events, from a real engine -----------------------------------------------------------------


def test_docker_events_json_from_a_real_engine(tmp_path: Path) -> None:
    with running_dockerd() as d:
        d.import_busybox("tiny:1")
        since = d.cli("version", "-f", "{{.Server.Os}}").stdout and str(
            int(datetime.now(UTC).timestamp()) - 1
        )
        d.cli("run", "--name", "wm-parse", "--network", "none", "tiny:1", "sh", "-c", "exit 3", check=False)
        d.cli("rm", "wm-parse")
        until = str(int(datetime.now(UTC).timestamp()) + 1)
        events = d.cli(
            "events", "--since", since, "--until", until, "--format", "{{json .}}", timeout=30
        ).stdout
    (tmp_path / "events.jsonl").write_text(events)
    lines, errors = parse("docker-events", tmp_path / "events.jsonl")
    assert errors == []
    observed = [x["payload"]["action"] for x in lines if x["type"] == "DockerEventObserved"]
    assert {"create", "start", "die", "destroy"} <= set(observed)
    decided = [x for x in lines if x["type"].startswith("Container")]
    died = [x["payload"] for x in decided if x["type"] == "ContainerDied"]
    assert [p.get("exit_code") for p in died] == [3]
    assert {"ContainerCreated", "ContainerStarted", "ContainerDied", "ContainerDestroyed"} <= {
        x["type"] for x in decided
    }
