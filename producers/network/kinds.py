"""The network kinds of `watchman parse`: one snapshot of a tool's output each, reported as the scanner
and the netlink source report a first snapshot (every item added)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from producers.network import dns, firewall, ipjson, vpn
from producers.network.envelopes import SEP, from_changes
from producers.parse_kind import BadRecord, Parsed, ParseKind, ParseOptions, excerpt, open_input
from producers.snapshot import diff
from producers.text import clean_text
from schemas.events.network import RAW_NETWORK, ObservedVia

# What a tool's output becomes: {"<kind>|<key>": item}, given the output and the time of the snapshot.
Snapshot = Callable[[str, datetime], dict[str, Any]]
PARSE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError)


def _of(kind: str, parse: Callable[[str], dict[str, Any]]) -> Snapshot:
    return lambda text, _now: {f"{kind}{SEP}{k}": v for k, v in parse(text).items()}


def _rules(parse: Callable[[str], list[dict[str, Any]]]) -> Snapshot:
    return _of("firewall", lambda text: firewall.rule_items(parse(text)))


def _kind(name: str, produced_by: str, snapshot: Snapshot, via: ObservedVia = "scan") -> ParseKind:
    def parse(path: Path, opts: ParseOptions) -> Iterator[Parsed]:
        with open_input(path) as fh:
            text = clean_text(fh.read().decode("utf-8", "replace"))
        try:
            items = snapshot(text, opts.now)
        except PARSE_ERRORS as exc:
            yield BadRecord(
                "whole file", f"not {produced_by} output: {type(exc).__name__}: {exc}", excerpt(text)
            )
            return
        yield from from_changes(
            opts.host, f"parse:{name}", 0, diff(None, items), netns=None, via=via, now=opts.now
        )

    return ParseKind(name, produced_by, RAW_NETWORK, parse)


KINDS: tuple[ParseKind, ...] = (
    _kind("nft", "nft -j list ruleset", _rules(firewall.parse_nft_json)),
    _kind("iptables", "iptables-save", _rules(firewall.parse_iptables_save)),
    _kind("ip6tables", "ip6tables-save", _rules(lambda t: firewall.parse_iptables_save(t, family="ipv6"))),
    _kind("ufw", "ufw status verbose", _rules(firewall.parse_ufw_status)),
    _kind("firewalld", "firewall-cmd --list-all (or --list-all-zones)", _rules(firewall.parse_firewalld)),
    _kind("ip-addr", "ip -j addr", lambda t, _n: ipjson.addresses(t), via="dump"),
    _kind("ip-link", "ip -j link (ip -j -d link adds the kind)", lambda t, _n: ipjson.links(t), via="dump"),
    _kind("ip-route", "ip -j route (ip -j -6 route for IPv6)", lambda t, _n: ipjson.routes(t), via="dump"),
    _kind("resolv.conf", "/etc/resolv.conf", _of("dns", dns.parse_resolv_conf)),
    _kind("resolvectl", "resolvectl status", _of("dns", dns.parse_resolvectl_status)),
    _kind(
        "wg",
        "wg show all dump",
        lambda t, now: {f"vpn{SEP}{k}": v for k, v in vpn.parse_wg_dump(t, now).items()},
    ),
    _kind("tailscale", "tailscale status --json", _of("vpn", vpn.parse_tailscale_status)),
)
