"""Network events: the raw state observations of the network producers and the domain events decided."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register
from schemas.model import UPDATED_AT, AlertKind, MiB, NodeLabel, Prop, RelType, Topic

NetworkKind = Literal["interface", "address", "route", "dns", "firewall", "vpn", "external_ip"]
# How the producer learnt of the state: the first dump, a live netlink message, a fresh dump after the
# socket overflowed (ENOBUFS), or a periodic scan (DNS, firewall, VPN, external IP).
ObservedVia = Literal["dump", "event", "resync", "scan"]


def ns_prefix(host: str, netns: str | None) -> str:
    """The key prefix of one network namespace on a host: `host` for the host's own namespace,
    `host/netns:NAME` for another one (a container's, a test's), so names like `lo` never collide."""
    return host if not netns else f"{host}/netns:{netns}"


def interface_key(host: str, netns: str | None, ifname: str) -> str:
    """Interfaces are keyed by name, not index: the kernel may give a re-created interface another index."""
    return f"{ns_prefix(host, netns)}/{ifname}"


@register
class NetworkStateObserved(EventPayload):
    """One item of network state (an interface, address, route, DNS scope, firewall rule, VPN, external
    address) appeared, changed (`present`, with its new state) or disappeared (not `present`, with its
    last known state). Raw, not yet decided."""

    TYPE: ClassVar[str] = "NetworkStateObserved"
    VERSION: ClassVar[int] = 1

    ts: datetime
    kind: NetworkKind
    # The item's key within its namespace, e.g. "eth0", "eth0/10.0.0.1/24", "main/10.0.0.0/24/0".
    key: str
    present: bool
    item: dict[str, Any]
    netns: str | None = None
    via: ObservedVia = "event"

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)


class InterfaceChanged(EventPayload):
    """Base of the interface events: the interface as it is after the change."""

    VERSION: ClassVar[int] = 1

    netns: str | None = None
    ifname: str
    index: int | None = None
    kind: str | None = None
    mac_address: str | None = None
    mtu: int | None = None
    operstate: str | None = None
    admin_up: bool = False
    # "up", "down" or "removed"
    state: str
    master: str | None = None


@register
class InterfaceUp(InterfaceChanged):
    TYPE: ClassVar[str] = "InterfaceUp"


@register
class InterfaceDown(InterfaceChanged):
    """The interface went down, was created down, or was removed (state "removed")."""

    TYPE: ClassVar[str] = "InterfaceDown"


@register
class InterfaceUpdated(InterfaceChanged):
    """Same up/down state, other properties changed (MTU, MAC address, bridge master)."""

    TYPE: ClassVar[str] = "InterfaceUpdated"


class AddressChanged(EventPayload):
    VERSION: ClassVar[int] = 1

    netns: str | None = None
    ifname: str
    address: str
    prefixlen: int
    family: Literal[4, 6]
    scope: str | None = None
    # A globally routable address: answers "what is my external IP" when no echo lookup is configured.
    public: bool = False
    # Every address of the interface after this change, "addr/prefixlen", sorted.
    interface_addresses: tuple[str, ...] = ()


@register
class AddressAdded(AddressChanged):
    TYPE: ClassVar[str] = "AddressAdded"


@register
class AddressRemoved(AddressChanged):
    TYPE: ClassVar[str] = "AddressRemoved"


@register
class RouteChanged(EventPayload):
    """A route was added, removed, or changed its gateway/interface/protocol."""

    TYPE: ClassVar[str] = "RouteChanged"
    VERSION: ClassVar[int] = 1

    action: Literal["added", "removed", "changed"]
    netns: str | None = None
    key: str
    table: str
    family: Literal[4, 6]
    dst: str
    prefixlen: int
    metric: int | None = None
    gateway: str | None = None
    ifname: str | None = None
    protocol: str | None = None
    type: str | None = None
    previous_gateway: str | None = None
    previous_ifname: str | None = None


@register
class DnsServersChanged(EventPayload):
    """The DNS servers of one scope changed: "resolv.conf", "global" (systemd-resolved) or an interface."""

    TYPE: ClassVar[str] = "DnsServersChanged"
    VERSION: ClassVar[int] = 1

    netns: str | None = None
    scope: str
    ifname: str | None = None
    source: str
    servers: tuple[str, ...]
    previous: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    # For every server in `servers` or `previous`: the scopes that use it after this change.
    server_scopes: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class FirewallRuleChanged(EventPayload):
    """One firewall rule, normalised the same way for nftables, iptables, ufw and firewalld."""

    VERSION: ClassVar[int] = 1

    netns: str | None = None
    key: str
    backend: Literal["nftables", "iptables", "ip6tables", "ufw", "firewalld"]
    family: str | None = None
    table: str | None = None
    chain: str | None = None
    position: int | None = None
    target: str | None = None
    protocol: str | None = None
    # Destination ports as written: "443", "80,443", "1000-2000". Empty: the rule is not port-specific.
    ports: tuple[str, ...] = ()
    source: str | None = None
    destination: str | None = None
    interface: str | None = None
    text: str = ""


@register
class FirewallRuleAdded(FirewallRuleChanged):
    TYPE: ClassVar[str] = "FirewallRuleAdded"


@register
class FirewallRuleRemoved(FirewallRuleChanged):
    TYPE: ClassVar[str] = "FirewallRuleRemoved"


class VpnChanged(EventPayload):
    VERSION: ClassVar[int] = 1

    netns: str | None = None
    key: str
    kind: Literal["wireguard", "openvpn", "tailscale"]
    name: str
    interface: str | None = None
    endpoints: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    peers: int = 0
    detail: str | None = None


@register
class VpnConnected(VpnChanged):
    TYPE: ClassVar[str] = "VpnConnected"


@register
class VpnDisconnected(VpnChanged):
    TYPE: ClassVar[str] = "VpnDisconnected"


@register
class ExternalIpChanged(EventPayload):
    """The address an HTTP echo service saw us coming from changed (the lookup is off by default)."""

    TYPE: ClassVar[str] = "ExternalIpChanged"
    VERSION: ClassVar[int] = 1

    address: str | None
    previous: str | None = None
    family: Literal[4, 6] | None = None
    # Where it was asked (the echo URL), so the answer can say who saw it.
    via: str


NETWORK_EVENT_TYPES: tuple[type[EventPayload], ...] = (
    InterfaceUp,
    InterfaceDown,
    InterfaceUpdated,
    AddressAdded,
    AddressRemoved,
    RouteChanged,
    DnsServersChanged,
    FirewallRuleAdded,
    FirewallRuleRemoved,
    VpnConnected,
    VpnDisconnected,
    ExternalIpChanged,
)


# --- topics and graph: what this domain declares (schemas/topics.py and schemas/graph.py collect it) ---

RAW_NETWORK = Topic(
    "watchman.raw.network",
    partitions=4,
    retention_days=30,
    retention_bytes=64 * MiB,
    description="NetworkStateObserved records (netlink interfaces/addresses/routes, DNS, firewall, VPN, "
    "external IP snapshot differences); key host/interface (or dns, firewall, route/..., vpn/...).",
)
EVENTS_NETWORK = Topic(
    "watchman.events.network",
    partitions=4,
    retention_days=None,
    description="Interface*/Address*/RouteChanged/DnsServersChanged/FirewallRule*/Vpn*/ExternalIpChanged "
    "events; key host/interface (or dns, firewall, ...). Kept forever.",
)


def _net_node(label: str, description: str, *props: Prop) -> NodeLabel:
    """A network node: keyed host[/netns:NAME]/..., seen first/last, `present` while it exists."""
    return NodeLabel(
        label,
        key="key",
        props=(
            Prop("key", "STRING"),
            Prop("host", "STRING"),
            Prop("netns", "STRING"),
            *props,
            Prop("first_seen", "TIMESTAMP", "min"),
            Prop("last_seen", "TIMESTAMP", "max"),
            UPDATED_AT,
        ),
        description=description,
    )


NETWORK_INTERFACE = _net_node(
    "NetworkInterface",
    "A network interface; key host[/netns:NAME]/ifname (the index may change: it is ifindex).",
    Prop("name", "STRING"),
    Prop("ifindex", "INT64", "latest"),
    Prop("kind", "STRING", "latest"),  # veth, bridge, tun, wireguard, ... (None: a physical device)
    Prop("mac_address", "STRING", "latest"),
    Prop("mtu", "INT64", "latest"),
    Prop("operstate", "STRING", "latest"),
    Prop("admin_up", "BOOLEAN", "latest"),
    Prop("state", "STRING", "latest"),  # up | down | removed
    Prop("master", "STRING", "latest"),  # the bridge it is a port of
    Prop("ip_addresses", "STRING", "latest"),  # "10.0.0.1/24,fe80::1/64", sorted
)
IP_ADDRESS = _net_node(
    "IPAddress",
    "An address on an interface (origin interface; key interface key/address/prefixlen) or the address an "
    "echo service saw (origin echo; key host/external/address).",
    Prop("interface", "STRING"),
    Prop("address", "STRING"),
    Prop("prefixlen", "INT64"),
    Prop("family", "INT64"),
    Prop("scope", "STRING"),
    Prop("public", "BOOLEAN"),
    Prop("origin", "STRING"),  # interface | echo
    Prop("rank", "INT64"),  # external-ip answer order: 0 echo, 1 public on an interface, 2 private
    Prop("note", "STRING"),
    Prop("present", "BOOLEAN", "latest"),
)
ROUTE = _net_node(
    "Route",
    "A route; key host[/netns:NAME]/table/dst/prefixlen/metric.",
    Prop("table_name", "STRING"),
    Prop("family", "INT64"),
    Prop("dst", "STRING"),
    Prop("prefixlen", "INT64"),
    Prop("metric", "INT64"),
    Prop("gateway", "STRING", "latest"),
    Prop("interface", "STRING", "latest"),
    Prop("protocol", "STRING", "latest"),
    Prop("type", "STRING", "latest"),
    Prop("present", "BOOLEAN", "latest"),
)
FIREWALL_RULE = _net_node(
    "FirewallRule",
    "A firewall rule normalised across nftables/iptables/ufw/firewalld; key host[/netns]/backend/family/"
    "table/chain/content hash (moving a rule is not a new rule).",
    Prop("backend", "STRING"),
    Prop("family", "STRING"),
    Prop("table_name", "STRING"),
    Prop("chain", "STRING"),
    Prop("position", "INT64", "latest"),
    Prop("target", "STRING"),
    Prop("protocol", "STRING"),
    Prop("ports", "STRING"),  # destination ports as written: "80,443,1000-2000"
    Prop("port_set", "STRING"),  # the single ports as ",80,443," for exact matching
    Prop("range_lo", "INT64"),  # the span of its port ranges (1000..2000)
    Prop("range_hi", "INT64"),
    Prop("source", "STRING"),
    Prop("destination", "STRING"),
    Prop("interface", "STRING"),
    Prop("text", "STRING"),
    Prop("present", "BOOLEAN", "latest"),
)
DNS_SERVER = _net_node(
    "DNSServer",
    "A DNS server a host uses; key host[/netns]/address.",
    Prop("address", "STRING"),
    Prop("scopes", "STRING", "latest"),  # "global,eth0,resolv.conf": who uses it now
    Prop("in_use", "BOOLEAN", "latest"),
)
VPN_CONNECTION = _net_node(
    "VPNConnection",
    "A VPN (WireGuard interface, OpenVPN tun/tap, Tailscale); key host[/netns]/kind/name.",
    Prop("kind", "STRING"),
    Prop("name", "STRING"),
    Prop("interface", "STRING"),
    Prop("active", "BOOLEAN", "latest"),
    Prop("since", "TIMESTAMP", "latest"),
    Prop("endpoints", "STRING", "latest"),
    Prop("addresses", "STRING", "latest"),
    Prop("peers", "INT64", "latest"),
    Prop("detail", "STRING", "latest"),
)
HAS_INTERFACE = RelType(
    "HAS_INTERFACE", (("Host", "NetworkInterface"),), description="The host has this network interface."
)
HAS_ADDRESS = RelType(
    "HAS_ADDRESS",
    (("NetworkInterface", "IPAddress"), ("Host", "IPAddress")),
    description="The interface carries this address (the host: an echo service saw it).",
)
HAS_ROUTE = RelType("HAS_ROUTE", (("Host", "Route"),), description="The host routes by this route.")
ROUTES_VIA = RelType("ROUTES_VIA", (("Route", "NetworkInterface"),), description="The route's interface.")
HAS_FIREWALL_RULE = RelType(
    "HAS_FIREWALL_RULE", (("Host", "FirewallRule"),), description="The host's firewall holds this rule."
)
USED_BY = RelType(
    "USED_BY",
    (("DNSServer", "NetworkInterface"), ("DNSServer", "Host")),
    description="The DNS server is (or was: see DNSServer.scopes) used for this interface, or host-wide.",
)
HAS_VPN = RelType("HAS_VPN", (("Host", "VPNConnection"),), description="The host has this VPN connection.")
# This domain's entities that events act on, and nodes that happen on a host (the core types).
ACTED_ON = RelType(
    "ACTED_ON",
    (
        ("Event", "NetworkInterface"),
        ("Event", "IPAddress"),
        ("Event", "Route"),
        ("Event", "FirewallRule"),
        ("Event", "DNSServer"),
        ("Event", "VPNConnection"),
    ),
)
TOPICS: tuple[Topic, ...] = (
    RAW_NETWORK,
    EVENTS_NETWORK,
)
NODES: tuple[NodeLabel, ...] = (
    NETWORK_INTERFACE,
    IP_ADDRESS,
    ROUTE,
    FIREWALL_RULE,
    DNS_SERVER,
    VPN_CONNECTION,
)
RELS: tuple[RelType, ...] = (
    HAS_INTERFACE,
    HAS_ADDRESS,
    HAS_ROUTE,
    ROUTES_VIA,
    HAS_FIREWALL_RULE,
    USED_BY,
    HAS_VPN,
    ACTED_ON,
)
ALERTS: tuple[AlertKind, ...] = (
    AlertKind(
        name="DnsServersChanged",
        fires_on="DnsServersChanged",
        severity="info",
        subject="scope",
        summary="DNS servers of {scope} changed to {servers}",
    ),
)
