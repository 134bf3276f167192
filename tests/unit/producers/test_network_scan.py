"""The scan and external-IP sources with a scripted command runner: absent tools are told once, a failing
tool keeps its last snapshot, a restart reports only what changed, ids are reproducible."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producers.network.sources import NetworkScanSource, ToolMissing, Tools

DATA = Path(__file__).resolve().parents[2] / "data" / "network"
T0 = datetime(2025, 11, 26, 0, 31, tzinfo=UTC)


class Runner:
    """Answers commands from a table; a missing entry is a tool that is not installed."""

    def __init__(self, outputs: dict[str, str | Exception]) -> None:
        self.outputs = outputs
        self.calls: list[str] = []

    def __call__(self, argv: Sequence[str]) -> str:
        cmd = argv[0]
        self.calls.append(" ".join(argv))
        out = self.outputs.get(cmd)
        if out is None:
            raise ToolMissing(f"{cmd} is not installed")
        if isinstance(out, Exception):
            raise out
        return out


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _source(
    runner: Runner,
    resolv: Path,
    cursor: dict[str, object] | None = None,
    clock: Clock | None = None,
) -> NetworkScanSource:
    return NetworkScanSource(
        "h",
        cursor,
        interval=10,
        resolv_conf=resolv,
        runner=runner,
        clock=clock or Clock(),
        tools=Tools(tun=False),
    )


def _brief(obs: list) -> set[tuple[str, str, bool]]:  # type: ignore[type-arg]
    return {(e.payload["kind"], e.payload["key"], e.payload["present"]) for e in obs}


def test_missing_tools_are_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.1\n")
    clock = Clock()
    src = _source(Runner({}), resolv, clock=clock)
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            src.poll(100)
            clock.now += timedelta(seconds=11)
    missing = [r.message for r in caplog.records if "not found" in r.message]
    assert sorted(missing) == sorted(
        f"{t} not found: its part of the network is not observed"
        for t in (
            "resolvectl",
            "iptables-save",
            "ip6tables-save",
            "nft",
            "ufw",
            "firewall-cmd",
            "wg",
            "tailscale",
        )
    )
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_a_failing_tool_keeps_its_rules_and_a_restart_reports_only_changes(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.1\n")
    outputs: dict[str, str | Exception] = {
        "iptables-save": (DATA / "iptables-save.txt").read_text(),
        "ufw": (DATA / "ufw-status-verbose.txt").read_text(),
    }
    clock = Clock()
    src = _source(Runner(outputs), resolv, clock=clock)
    first = src.poll(100)
    kinds = {k for k, _, _ in _brief(first.observations)}
    assert kinds == {"dns", "firewall"}
    n_rules = sum(1 for e in first.observations if e.payload["kind"] == "firewall")
    assert n_rules == 4 + 9

    clock.now += timedelta(seconds=5)
    assert src.poll(100).observations == [], "not due before the interval"

    # ufw hiccups: its rules must not look removed
    outputs["ufw"] = RuntimeError("ufw exited 1: problem running iptables")
    clock.now += timedelta(seconds=10)
    assert src.poll(100).observations == []

    # a restart from the saved cursor, after a rule went away while we were down
    outputs["ufw"] = (DATA / "ufw-status-verbose.txt").read_text()
    outputs["iptables-save"] = outputs["iptables-save"].replace(  # type: ignore[union-attr]
        "-A POSTROUTING -o eth0 -j MASQUERADE\n", ""
    )
    again = _source(Runner(outputs), resolv, first.cursor, clock=clock)
    changes = again.poll(100)
    assert [
        (e.payload["kind"], e.payload["present"], e.payload["item"]["target"]) for e in changes.observations
    ] == [("firewall", False, "MASQUERADE")]
    # the same change seen by a second restart from the same cursor gets the same id
    twin = _source(Runner(outputs), resolv, first.cursor, clock=clock).poll(100)
    assert [e.id for e in twin.observations] == [e.id for e in changes.observations]


def test_unparsable_output_goes_to_the_dead_letters_and_keeps_the_rules(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.1\n")
    outputs: dict[str, str | Exception] = {"nft": (DATA / "nft-ruleset.json").read_text()}
    clock = Clock()
    src = _source(Runner(outputs), resolv, clock=clock)
    first = src.poll(100)
    assert first.dead == [] and sum(1 for e in first.observations if e.payload["kind"] == "firewall") == 13
    outputs["nft"] = '{"nftables": [truncated'
    clock.now += timedelta(seconds=11)
    second = src.poll(100)
    assert second.observations == [], "the last good rules stand"
    assert [(d.source, d.raw_text) for d in second.dead] == [("network-scan:host", '{"nftables": [truncated')]
    assert second.dead[0].error.startswith("JSONDecodeError")
