"""The graph schema: node labels with their key and typed properties, relationship types with endpoints.

Store DDL, constraints and upsert statements are generated from these declarations, never written by hand.
Each property says how a new value merges with the stored one, so every store applies the same rules:
  set     the new value replaces the old one
  min     keep the smaller (first_seen)
  max     keep the larger (last_seen)
  latest  replace only when the operation's time is not older than the node's `updated_at`
          (so an old event replayed late cannot roll current state back)

A `latest` property that only some events tell (Software.automatic: only an install told by apt or dnf)
names a `clock`, a TIMESTAMP property of its own that holds the time of the value it shows, and is
compared with that instead of `updated_at`. Otherwise the value would depend on arrival order: apt's
telling of an install that arrives after dpkg's telling of a later upgrade (twins are merged whenever
the second one comes) would be older than `updated_at` and lost, where in time order it applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

PropType = Literal["STRING", "INT64", "DOUBLE", "BOOLEAN", "TIMESTAMP"]
Merge = Literal["set", "min", "max", "latest"]


@dataclass(frozen=True)
class Prop:
    name: str
    type: PropType
    merge: Merge = "set"
    # `latest` only: the property holding the time of this one's value (see the module docstring).
    clock: str | None = None


@dataclass(frozen=True)
class NodeLabel:
    label: str
    key: str
    props: tuple[Prop, ...]
    description: str = ""

    # cached_property: computed once per label (every upsert asks), stored beside the frozen fields.
    @cached_property
    def has_latest(self) -> bool:
        return any(p.merge == "latest" for p in self.props)

    @cached_property
    def by_name(self) -> dict[str, Prop]:
        return {p.name: p for p in self.props}

    @cached_property
    def latest(self) -> frozenset[str]:
        """The names of the `latest` properties."""
        return frozenset(p.name for p in self.props if p.merge == "latest")

    @cached_property
    def clocks(self) -> dict[str, str]:
        """clock property -> the `latest` property whose time it holds."""
        return {p.clock: p.name for p in self.props if p.clock is not None}

    def prop(self, name: str) -> Prop:
        p = self.by_name.get(name)
        if p is None:
            raise KeyError(f"{self.label} has no property {name!r}")
        return p


@dataclass(frozen=True)
class RelType:
    type: str
    endpoints: tuple[tuple[str, str], ...]
    props: tuple[Prop, ...] = ()
    description: str = ""


# The property every node with "latest" properties carries: the time of the state it shows.
UPDATED_AT = Prop("updated_at", "TIMESTAMP", "max")

HOST = NodeLabel(
    "Host",
    key="name",
    props=(
        Prop("name", "STRING"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
    ),
    description="A machine The Watchman observes.",
)
SOFTWARE = NodeLabel(
    "Software",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("ecosystem", "STRING"),
        Prop("name", "STRING"),
        Prop("arch", "STRING"),
        Prop("version", "STRING", "latest"),
        Prop("state", "STRING", "latest"),
        Prop("automatic", "BOOLEAN", "latest", clock="automatic_at"),
        Prop("automatic_at", "TIMESTAMP", "max"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description=(
        "One package of one package manager on one host; key host/ecosystem/name, plus :arch for a"
        " foreign architecture only (libc6:i386 on an amd64 host)."
    ),
)
EVENT = NodeLabel(
    "Event",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("type", "STRING"),
        Prop("ts", "TIMESTAMP"),
        Prop("host", "STRING"),
        Prop("action", "STRING"),
        # Every domain fills these two, so "what changed on this host today" spans all domains.
        Prop("subject", "STRING"),
        Prop("summary", "STRING"),
        Prop("package_name", "STRING"),
        Prop("arch", "STRING"),
        Prop("ecosystem", "STRING"),
        Prop("version", "STRING"),
        Prop("old_version", "STRING"),
        Prop("source", "STRING"),
        Prop("automatic", "BOOLEAN"),
        Prop("requested_by", "STRING"),
        Prop("commandline", "STRING"),
        Prop("repo", "STRING"),
        Prop("exit_code", "INT64"),  # ContainerDied
    ),
    description="A domain event that happened to an entity, kept in the graph for history queries.",
)

COMMAND = NodeLabel(
    "Command",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("type", "STRING"),
        Prop("host", "STRING"),
        Prop("issued_by", "STRING"),
        Prop("params", "STRING"),  # JSON
        Prop("status", "STRING", "latest"),
        Prop("detail", "STRING", "latest"),
        Prop("finished_at", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="A command the product was asked to perform (audit trail), with its latest outcome.",
)

NODES: dict[str, NodeLabel] = {n.label: n for n in (HOST, SOFTWARE, EVENT, COMMAND)}

ACTED_ON = RelType(
    "ACTED_ON",
    (
        ("Event", "Software"),
        ("Event", "Container"),
        ("Event", "Image"),
        ("Event", "Volume"),
        ("Event", "NetworkEndpoint"),
        ("Event", "Service"),
        ("Event", "User"),
        ("Event", "NetworkInterface"),
        ("Event", "IPAddress"),
        ("Event", "Route"),
        ("Event", "FirewallRule"),
        ("Event", "DNSServer"),
        ("Event", "VPNConnection"),
    ),
    description="The event changed this entity (software, container, image, volume, endpoint).",
)
INSTALLED_ON = RelType("INSTALLED_ON", (("Software", "Host"),), description="Software known on a host.")
HAPPENED_ON = RelType(
    "HAPPENED_ON",
    (("Event", "Host"), ("Command", "Host"), ("Login", "Host"), ("SudoCommand", "Host")),
    description="The host an event happened on (or a command ran on).",
)

RELS: dict[str, RelType] = {r.type: r for r in (ACTED_ON, INSTALLED_ON, HAPPENED_ON)}

# --- containers (Docker) ---------------------------------------------------------------------------------

CONTAINER = NodeLabel(
    "Container",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("id", "STRING"),
        Prop("name", "STRING", "latest"),
        Prop("image", "STRING", "latest"),
        Prop("state", "STRING", "latest"),
        Prop("health", "STRING", "latest"),
        Prop("started_at", "TIMESTAMP", "latest"),
        Prop("exit_code", "INT64", "latest"),
        Prop("restart_count", "INT64", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One Docker container on one host; key host/container id.",
)
IMAGE = NodeLabel(
    "Image",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("id", "STRING"),
        Prop("reference", "STRING", "latest"),
        Prop("state", "STRING", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One container image on one host; key host/image id (sha256:...).",
)
VOLUME = NodeLabel(
    "Volume",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("name", "STRING"),
        Prop("driver", "STRING"),
        Prop("state", "STRING", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One Docker volume on one host; key host/volume name.",
)
NETWORK_ENDPOINT = NodeLabel(
    "NetworkEndpoint",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("host_ip", "STRING"),
        Prop("host_port", "INT64"),
        Prop("protocol", "STRING"),
        Prop("state", "STRING", "latest"),  # open | closed
        # The container (its node key) that serves the endpoint now, and on which port.
        Prop("container", "STRING", "latest"),
        Prop("container_port", "INT64", "latest"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="A published port on a host; key host/host_ip/host_port/protocol.",
)
NODES.update({n.label: n for n in (CONTAINER, IMAGE, VOLUME, NETWORK_ENDPOINT)})

EXPOSES = RelType(
    "EXPOSES",
    (("NetworkEndpoint", "Container"),),
    # Kept when the endpoint closes or moves: NetworkEndpoint.container names who serves it now.
    description="The endpoint reaches (or reached) this container.",
)
MOUNTS = RelType("MOUNTS", (("Container", "Volume"),), description="The container mounts this volume.")
RUNS_IMAGE = RelType("RUNS_IMAGE", (("Container", "Image"),), description="The container runs this image.")
RUNS_ON = RelType(
    "RUNS_ON",
    (("Container", "Host"), ("Service", "Host")),
    description="The container (or systemd service) lives on this host.",
)
STORED_ON = RelType(
    "STORED_ON", (("Image", "Host"), ("Volume", "Host")), description="The image or volume is on this host."
)
BOUND_ON = RelType("BOUND_ON", (("NetworkEndpoint", "Host"),), description="The endpoint is on this host.")
RELS.update({r.type: r for r in (EXPOSES, MOUNTS, RUNS_IMAGE, RUNS_ON, STORED_ON, BOUND_ON)})

# --- services and security (journald, metrics, health) ----------------------------------------------------

SERVICE = NodeLabel(
    "Service",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("name", "STRING"),  # the unit name, e.g. nginx.service
        Prop("type", "STRING"),  # the unit type: service, socket, timer, scope...
        Prop("state", "STRING", "latest"),  # active | inactive | failed | reloading
        Prop("pid", "INT64", "latest"),
        Prop("started_at", "TIMESTAMP", "latest"),
        Prop("restarts", "INT64", "max"),
        Prop("health_status", "STRING", "latest"),
        Prop("cpu_percent", "DOUBLE", "latest"),
        Prop("rss_bytes", "INT64", "latest"),
        Prop("metrics_at", "TIMESTAMP", "max"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
        UPDATED_AT,
    ),
    description="One systemd unit on one host; key host/unit.",
)
LOG_EVENT = NodeLabel(
    "LogEvent",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("ts", "TIMESTAMP"),
        Prop("host", "STRING"),
        Prop("service", "STRING"),  # the unit name
        Prop("level", "STRING"),  # error | warning
        Prop("priority", "INT64"),
        Prop("message", "STRING"),
        Prop("suppressed", "INT64"),  # >0: stands for this many messages over the per-minute limit
    ),
    description="An error or warning a service logged (rate-limited per service and minute).",
)
SERVICE_METRICS = NodeLabel(
    "ServiceMetrics",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("ts", "TIMESTAMP"),  # the minute
        Prop("host", "STRING"),
        Prop("service", "STRING"),
        Prop("cpu_percent", "DOUBLE"),
        Prop("rss_bytes", "INT64"),
        Prop("io_read_bytes", "INT64"),
        Prop("io_write_bytes", "INT64"),
        Prop("processes", "INT64"),
        Prop("samples", "INT64"),
    ),
    description="One minute of one service's resource use (downsampled samples).",
)
LOGIN = NodeLabel(
    "Login",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("ts", "TIMESTAMP"),
        Prop("host", "STRING"),
        Prop("user", "STRING"),
        Prop("source_ip", "STRING"),
        Prop("port", "INT64"),
        Prop("success", "BOOLEAN"),
        Prop("service", "STRING"),  # sshd, login, ...
        Prop("method", "STRING"),  # password, publickey, ...
        Prop("invalid_user", "BOOLEAN"),
        Prop("reason", "STRING"),
        # failures this node stands for: 1, or a storm minute's aggregate (AuthFailuresAggregated)
        Prop("count", "INT64"),
        Prop("users", "STRING"),  # an aggregate's sample of the user names tried, comma-separated
    ),
    description="A login attempt (failed or accepted), or one source's failures in one storm minute.",
)
SUDO_COMMAND = NodeLabel(
    "SudoCommand",
    key="id",
    props=(
        Prop("id", "STRING"),
        Prop("ts", "TIMESTAMP"),
        Prop("host", "STRING"),
        Prop("user", "STRING"),
        Prop("target_user", "STRING"),
        Prop("command", "STRING"),
        Prop("cwd", "STRING"),
        Prop("tty", "STRING"),
        Prop("allowed", "BOOLEAN"),
        Prop("reason", "STRING"),
        Prop("count", "INT64"),  # 1, or the refusals of a storm minute's aggregate
    ),
    description="A sudo invocation (allowed or refused), or one user's refusals in one storm minute.",
)
USER = NodeLabel(
    "User",
    key="key",
    props=(
        Prop("key", "STRING"),
        Prop("host", "STRING"),
        Prop("name", "STRING"),
        Prop("first_seen", "TIMESTAMP", "min"),
        Prop("last_seen", "TIMESTAMP", "max"),
    ),
    description="A user name seen on a host (in logins, sudo, su); key host/name.",
)
NODES.update({n.label: n for n in (SERVICE, LOG_EVENT, SERVICE_METRICS, LOGIN, SUDO_COMMAND, USER)})

LOGGED_BY = RelType("LOGGED_BY", (("LogEvent", "Service"),), description="The service that logged it.")
METRICS_FOR = RelType("METRICS_FOR", (("ServiceMetrics", "Service"),), description="Metrics of this service.")
BY_USER = RelType(
    "BY_USER", (("Login", "User"), ("SudoCommand", "User")), description="The user who logged in or ran sudo."
)
ACCOUNT_ON = RelType("ACCOUNT_ON", (("User", "Host"),), description="The user name is on this host.")
RELS.update({r.type: r for r in (LOGGED_BY, METRICS_FOR, BY_USER, ACCOUNT_ON)})

# --- network (netlink, DNS, firewall, VPN) ----------------------------------------------------------------


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
NODES.update(
    {n.label: n for n in (NETWORK_INTERFACE, IP_ADDRESS, ROUTE, FIREWALL_RULE, DNS_SERVER, VPN_CONNECTION)}
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
RELS.update(
    {
        r.type: r
        for r in (HAS_INTERFACE, HAS_ADDRESS, HAS_ROUTE, ROUTES_VIA, HAS_FIREWALL_RULE, USED_BY, HAS_VPN)
    }
)
