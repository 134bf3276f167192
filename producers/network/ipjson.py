"""`ip -j link`, `ip -j addr` and `ip -j route` output as the items the netlink producer reports (pure).

iproute2 prints what the kernel's netlink dump said, with numbers turned into names; this module turns
the names back into the numbers netlink.link_item/addr_item/route_item read, so a file of `ip -j` output
and a live dump give the same items.
"""

from __future__ import annotations

from typing import Any

import orjson

from producers.network.netlink import (
    AF_INET,
    AF_INET6,
    IFF_UP,
    PROTOCOLS,
    ROUTE_TYPES,
    SCOPES,
    SEP,
    TABLES,
    addr_item,
    link_item,
    route_item,
)

Items = dict[str, dict[str, Any]]


def _number(names: dict[int, str], value: Any, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, int):
        return value
    by_name = {v: k for k, v in names.items()}
    text = str(value)
    if text in by_name:
        return by_name[text]
    return int(text) if text.isdigit() else default


def _array(text: str, what: str) -> list[dict[str, Any]]:
    data = orjson.loads(text) if text.strip() else []
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ValueError(f"`ip -j {what}` prints a JSON array of objects")
    return data


def _link_message(link: dict[str, Any], index_of: dict[str, int]) -> dict[str, Any]:
    flags = link.get("flags") or []
    info = link.get("linkinfo") or {}
    return {
        "event": "RTM_NEWLINK",
        "family": None,
        "index": link.get("ifindex"),
        "flags": IFF_UP if "UP" in flags else 0,
        "ifname": link.get("ifname"),
        "operstate": link.get("operstate"),
        "address": link.get("address"),
        "mtu": link.get("mtu"),
        "master": index_of.get(link.get("master") or ""),
        "kind": info.get("info_kind") if isinstance(info, dict) else None,
    }


def links(text: str) -> Items:
    """`ip -j link` (or `ip -j -d link`, which adds the kind): interface items."""
    data = _array(text, "link")
    index_of = {str(x.get("ifname")): int(x["ifindex"]) for x in data if isinstance(x.get("ifindex"), int)}
    names = {i: n for n, i in index_of.items()}
    out: Items = {}
    for link in data:
        got = link_item(_link_message(link, index_of), names)
        if got is not None:
            out[f"interface{SEP}{got[0]}"] = got[1]
    return out


def addresses(text: str) -> Items:
    """`ip -j addr`: its interfaces and their addresses (it lists both)."""
    data = _array(text, "addr")
    out = links(text)
    names = {int(x["ifindex"]): str(x.get("ifname")) for x in data if isinstance(x.get("ifindex"), int)}
    for link in data:
        for a in link.get("addr_info") or []:
            family = {"inet": AF_INET, "inet6": AF_INET6}.get(a.get("family"))
            message = {
                "event": "RTM_NEWADDR",
                "family": family,
                "index": link.get("ifindex"),
                "local": a.get("local"),
                "address": a.get("address") or a.get("local"),
                "prefixlen": a.get("prefixlen"),
                "scope": _number(SCOPES, a.get("scope")),
                "label": a.get("label"),
            }
            got = addr_item(message, names)
            if got is not None:
                out[f"address{SEP}{got[0]}"] = got[1]
    return out


def routes(text: str) -> Items:
    """`ip -j route` (and `ip -j -6 route`; `table all` too): route items."""
    data = _array(text, "route")
    devs = sorted({str(r["dev"]) for r in data if r.get("dev")})
    names = dict(enumerate(devs, 1))
    index_of = {n: i for i, n in names.items()}
    out: Items = {}
    for r in data:
        dst = str(r.get("dst") or "default")
        gateway = r.get("gateway")
        six = ":" in dst or ":" in str(gateway or "") or r.get("family") == "inet6"
        if dst == "default":
            address, prefixlen = None, 0
        else:
            address, _, plen = dst.partition("/")
            prefixlen = int(plen) if plen.isdigit() else (128 if six else 32)
        message = {
            "event": "RTM_NEWROUTE",
            "family": AF_INET6 if six else AF_INET,
            "table": _number(TABLES, r.get("table"), 254),
            "dst": address,
            "dst_len": prefixlen,
            "gateway": gateway,
            "oif": index_of.get(str(r.get("dev"))) if r.get("dev") else None,
            "priority": r.get("metric"),
            # iproute2 leaves out what is the default: protocol boot, scope global, type unicast, table main.
            "proto": _number(PROTOCOLS, r.get("protocol"), 3),
            "scope": _number(SCOPES, r.get("scope")),
            "type": _number(ROUTE_TYPES, r.get("type"), 1),
            "flags": 0,
        }
        got = route_item(message, names)
        if got is not None:
            out[f"route{SEP}{got[0]}"] = got[1]
    return out
