"""The network domain in the shell: what it observes (netlink, DNS, firewall, VPN, external IP), sources."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from producers.source import Source
    from watchman.settings import Settings
    from watchman.state import CursorStore

log = logging.getLogger(__name__)


class NetworkSettings(BaseModel):
    """Network observation: netlink (interfaces, addresses, routes) and periodic DNS/firewall/VPN scans.

    Tools that are not installed (ufw, firewall-cmd, wg, tailscale, resolvectl) are reported once and
    skipped. The external-IP lookup is off unless `external_ip_url` is set (it tells a third party
    that this host is up): e.g. "https://api.ipify.org".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    # A namespace under /run/netns (`ip netns add NAME`, a container's); empty: the host's own.
    netns: str = ""
    netlink: bool = True
    scan_interval: float = Field(30.0, gt=0, description="seconds between DNS/firewall/VPN snapshots")
    resolv_conf: Path = Path("/etc/resolv.conf")
    resolved: bool = True
    nftables: bool = True
    iptables: bool = True
    ufw: bool = True
    firewalld: bool = True
    wireguard: bool = True
    tailscale: bool = True
    tun: bool = True
    external_ip_url: str | None = None
    external_ip_interval: float = Field(600.0, gt=0, description="seconds between external-IP lookups")
    external_ip_timeout: float = Field(5.0, gt=0, description="seconds an external-IP lookup may take")


def sources(settings: Settings, cursors: CursorStore) -> list[Source]:
    n = settings.network
    if not n.enabled:
        return []
    from producers.network.sources import ExternalIpSource, NetlinkSource, NetworkScanSource, Tools

    netns = n.netns or None
    where = netns or "host"
    out: list[Source] = []
    if n.netlink:
        out.append(NetlinkSource(settings.host, cursors.get(f"netlink:{where}"), netns=netns))
    tools = Tools(
        resolved=n.resolved,
        nftables=n.nftables,
        iptables=n.iptables,
        ufw=n.ufw,
        firewalld=n.firewalld,
        wireguard=n.wireguard,
        tailscale=n.tailscale,
        tun=n.tun,
    )
    out.append(
        NetworkScanSource(
            settings.host,
            cursors.get(f"network-scan:{where}"),
            netns=netns,
            interval=n.scan_interval,
            resolv_conf=n.resolv_conf,
            tools=tools,
        )
    )
    if n.external_ip_url:
        out.append(
            ExternalIpSource(
                settings.host,
                n.external_ip_url,
                cursors.get("external-ip"),
                interval=n.external_ip_interval,
                timeout=n.external_ip_timeout,
            )
        )
    return out


def describe(settings: Settings) -> list[tuple[str, str]]:
    """(label, text) lines for `watchman config check`."""
    n = settings.network
    if not n.enabled:
        return [("network", "off")]
    scope = f"namespace {n.netns}" if n.netns else "this host's namespace"
    lookup = n.external_ip_url or "off"
    return [("network", f"netlink in {scope}; scans every {n.scan_interval:g} s; external IP {lookup}")]
