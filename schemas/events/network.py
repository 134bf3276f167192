"""Network events: the raw state observations of the network producers and the domain events decided."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from schemas.envelope import utc
from schemas.events.base import EventPayload, register

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
