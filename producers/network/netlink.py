"""Turn rtnetlink messages into network state items: interfaces, addresses, routes (pure, no sockets).

A message is first flattened (`flatten`) into a plain dict, so the rules here can be tested without a
kernel. Items carry only what describes the state, never counters or lifetimes, so a re-dump of an
unchanged system gives equal items and the snapshot differ reports nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Protocol

IFF_UP = 0x1
AF_INET, AF_INET6 = 2, 10
AF_UNSPEC = 0

TABLES = {253: "default", 254: "main", 255: "local"}
PROTOCOLS = {
    0: "unspec",
    1: "redirect",
    2: "kernel",
    3: "boot",
    4: "static",
    8: "gated",
    9: "ra",
    11: "zebra",
    12: "bird",
    16: "dhcp",
    42: "babel",
    186: "bgp",
    187: "isis",
    188: "ospf",
}
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
ROUTE_TYPES = {
    1: "unicast",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
}
# Routes worth reporting: forwarding decisions, not the kernel's local/broadcast bookkeeping.
KEPT_ROUTE_TYPES = frozenset({"unicast", "blackhole", "unreachable", "prohibit", "throw"})
RTM_F_CLONED = 0x200

LINK_EVENTS = frozenset({"RTM_NEWLINK", "RTM_DELLINK"})
ADDR_EVENTS = frozenset({"RTM_NEWADDR", "RTM_DELADDR"})
ROUTE_EVENTS = frozenset({"RTM_NEWROUTE", "RTM_DELROUTE"})

# Snapshot keys are "<kind>|<key>": one flat mapping per namespace, as producers.snapshot wants.
SEP = "|"


class Message(Protocol):
    """What pyroute2's nlmsg offers: header fields by key, attributes by name."""

    def get(self, key: Any, default: Any = None) -> Any: ...

    def get_attr(self, name: str, default: Any = None) -> Any: ...


def flatten(msg: Message) -> dict[str, Any]:
    """The fields of a link, address or route message that the item rules below read."""
    event = msg.get("event")
    out: dict[str, Any] = {"event": event, "family": msg.get("family"), "index": msg.get("index")}
    if event in LINK_EVENTS:
        linkinfo = msg.get_attr("IFLA_LINKINFO")
        kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo is not None else None
        out.update(
            flags=msg.get("flags"),
            ifname=msg.get_attr("IFLA_IFNAME"),
            operstate=msg.get_attr("IFLA_OPERSTATE"),
            address=msg.get_attr("IFLA_ADDRESS"),
            mtu=msg.get_attr("IFLA_MTU"),
            master=msg.get_attr("IFLA_MASTER"),
            kind=kind,
        )
    elif event in ADDR_EVENTS:
        out.update(
            address=msg.get_attr("IFA_ADDRESS"),
            local=msg.get_attr("IFA_LOCAL"),
            prefixlen=msg.get("prefixlen"),
            scope=msg.get("scope"),
            label=msg.get_attr("IFA_LABEL"),
        )
    elif event in ROUTE_EVENTS:
        out.update(
            table=msg.get_attr("RTA_TABLE", msg.get("table")),
            dst=msg.get_attr("RTA_DST"),
            dst_len=msg.get("dst_len"),
            gateway=msg.get_attr("RTA_GATEWAY"),
            oif=msg.get_attr("RTA_OIF"),
            priority=msg.get_attr("RTA_PRIORITY"),
            proto=msg.get("proto"),
            scope=msg.get("scope"),
            type=msg.get("type"),
            flags=msg.get("flags"),
        )
    return out


def is_public(address: str) -> bool:
    """Globally routable (not private, CGNAT, link-local, loopback, documentation...)."""
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_global
    except ValueError:
        return False


def interface_state(item: Mapping[str, Any] | None) -> str:
    """ "up" when administratively up with a carrier (loopback and tun report UNKNOWN), else "down"."""
    if item is None:
        return "removed"
    return "up" if item.get("admin_up") and item.get("operstate") in ("UP", "UNKNOWN") else "down"


def link_item(m: Mapping[str, Any], names: Mapping[int, str]) -> tuple[str, dict[str, Any]] | None:
    """(ifname, item) of a link message; None for bridge-port notifications (AF_BRIDGE), which repeat
    the port's link under another family."""
    if m.get("family") not in (None, AF_UNSPEC) or not m.get("ifname"):
        return None
    master = m.get("master")
    flags = int(m.get("flags") or 0)
    return m["ifname"], {
        "index": m.get("index"),
        "kind": m.get("kind"),
        "mac_address": m.get("address"),
        "mtu": m.get("mtu"),
        "operstate": m.get("operstate"),
        "admin_up": bool(flags & IFF_UP),
        "master": names.get(master) if master else None,
    }


def addr_item(m: Mapping[str, Any], names: Mapping[int, str]) -> tuple[str, dict[str, Any]] | None:
    """(key, item) of an address message, key "ifname/address/prefixlen"."""
    family = m.get("family")
    if family not in (AF_INET, AF_INET6):
        return None
    # On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is always our own address.
    address = m.get("local") or m.get("address")
    if not address or m.get("prefixlen") is None:
        return None
    index = m.get("index")
    ifname = names.get(index) if index is not None else None
    ifname = ifname or f"if{index}"
    prefixlen = int(m["prefixlen"])
    return f"{ifname}/{address}/{prefixlen}", {
        "ifname": ifname,
        "index": index,
        "address": address,
        "prefixlen": prefixlen,
        "family": 4 if family == AF_INET else 6,
        "scope": SCOPES.get(m.get("scope") or 0, str(m.get("scope"))),
        "public": is_public(address),
    }


def route_item(m: Mapping[str, Any], names: Mapping[int, str]) -> tuple[str, dict[str, Any]] | None:
    """(key, item) of a route message, key "table/dst/prefixlen/metric"; None for routes not kept
    (the local table, broadcast/local/multicast types, cached clones)."""
    family = m.get("family")
    if family not in (AF_INET, AF_INET6):
        return None
    table_id = int(m.get("table") or 0)
    rtype = ROUTE_TYPES.get(int(m.get("type") or 0), str(m.get("type")))
    if table_id == 255 or rtype not in KEPT_ROUTE_TYPES or int(m.get("flags") or 0) & RTM_F_CLONED:
        return None
    table = TABLES.get(table_id, str(table_id))
    prefixlen = int(m.get("dst_len") or 0)
    dst = m.get("dst") or ("0.0.0.0" if family == AF_INET else "::")
    metric = m.get("priority")
    oif = m.get("oif")
    key = f"{table}/{dst}/{prefixlen}/{metric if metric is not None else ''}"
    return key, {
        "table": table,
        "family": 4 if family == AF_INET else 6,
        "dst": "default" if prefixlen == 0 else dst,
        "prefixlen": prefixlen,
        "metric": metric,
        "gateway": m.get("gateway"),
        "ifname": (names.get(oif) or f"if{oif}") if oif else None,
        "protocol": PROTOCOLS.get(int(m.get("proto") or 0), str(m.get("proto"))),
        "scope": SCOPES.get(int(m.get("scope") or 0), str(m.get("scope"))),
        "type": rtype,
    }


def names_of(items: Mapping[str, Any]) -> dict[int, str]:
    """index -> ifname from a snapshot's interface items."""
    out: dict[int, str] = {}
    for skey, item in items.items():
        kind, _, ifname = skey.partition(SEP)
        if kind == "interface" and item.get("index") is not None:
            out[int(item["index"])] = ifname
    return out


def snapshot_of(
    links: list[dict[str, Any]], addrs: list[dict[str, Any]], routes: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """A namespace's whole state from flattened dump messages: {"<kind>|<key>": item}."""
    items: dict[str, dict[str, Any]] = {}
    names: dict[int, str] = {}
    for m in links:
        got = link_item(m, {})
        if got is not None:
            names[int(m["index"])] = got[0]
    for m in links:
        got = link_item(m, names)
        if got is not None:
            items[f"interface{SEP}{got[0]}"] = got[1]
    for m in addrs:
        got = addr_item(m, names)
        if got is not None:
            items[f"address{SEP}{got[0]}"] = got[1]
    for m in routes:
        got = route_item(m, names)
        if got is not None:
            items[f"route{SEP}{got[0]}"] = got[1]
    return items


def apply(items: dict[str, dict[str, Any]], m: Mapping[str, Any]) -> str:
    """Apply one live message to a snapshot in place. Returns what the caller should do next:
    "" (nothing more), or "resync" when the kernel changes more than it tells: it flushes IPv4 routes
    of a link that goes down or away without a message, and a rename moves addresses to a new name."""
    event = m.get("event")
    names = names_of(items)
    if event in LINK_EVENTS:
        got = link_item(m, names)
        if got is None:
            return ""
        ifname, item = got
        skey = f"interface{SEP}{ifname}"
        before = items.get(skey)
        renamed = [
            k
            for k, v in items.items()
            if k.startswith(f"interface{SEP}") and k != skey and v.get("index") == item["index"]
        ]
        for k in renamed:
            del items[k]
        if event == "RTM_DELLINK":
            items.pop(skey, None)
            return "resync"
        items[skey] = item
        went_down = before is not None and before.get("admin_up") and not item["admin_up"]
        return "resync" if renamed or went_down else ""
    if event in ADDR_EVENTS:
        got = addr_item(m, names)
        if got is not None:
            if event == "RTM_NEWADDR":
                items[f"address{SEP}{got[0]}"] = got[1]
            else:
                items.pop(f"address{SEP}{got[0]}", None)
        return ""
    if event in ROUTE_EVENTS:
        got = route_item(m, names)
        if got is not None:
            if event == "RTM_NEWROUTE":
                items[f"route{SEP}{got[0]}"] = got[1]
            else:
                items.pop(f"route{SEP}{got[0]}", None)
    return ""
