"""Detect VPN connections (pure): WireGuard (`wg show all dump`), OpenVPN tun/tap (`ip -d -j link`),
Tailscale (`tailscale status --json`). One item per connection, with `connected`.

Private and preshared keys never leave this module: `wg show all dump` prints them, the items do not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

Item = dict[str, Any]

# WireGuard re-keys every 2 minutes while traffic flows; a peer silent for longer than this is not connected.
WG_HANDSHAKE_FRESH = 180


def parse_wg_dump(text: str, now: datetime) -> dict[str, Item]:
    """`wg show all dump`: an interface line (name, private key, public key, port, fwmark: 5 fields) then
    its peer lines (name, public key, preshared key, endpoint, allowed ips, latest handshake, rx, tx,
    keepalive: 9 fields). Connected: some peer shook hands within WG_HANDSHAKE_FRESH seconds."""
    out: dict[str, Item] = {}
    for line in text.splitlines():
        f = line.split("\t")
        if len(f) == 5:
            out[f"wireguard/{f[0]}"] = {
                "kind": "wireguard",
                "name": f[0],
                "interface": f[0],
                "public_key": f[2],
                "listen_port": _int(f[3]),
                "endpoints": [],
                "addresses": [],
                "peers": 0,
                "connected": False,
            }
        elif len(f) == 9:
            item = out.get(f"wireguard/{f[0]}")
            if item is None:
                continue
            item["peers"] += 1
            if f[3] != "(none)":
                item["endpoints"] = sorted({*item["endpoints"], f[3]})
            handshake = _int(f[5]) or 0
            if handshake and now.timestamp() - handshake <= WG_HANDSHAKE_FRESH:
                item["connected"] = True
    return out


def parse_ip_link_json(text: str) -> dict[str, Item]:
    """tun/tap devices of `ip -d -j link show` (OpenVPN's, mostly; tailscale0 and WireGuard are told by
    their own tools). Connected: the device is up and has a carrier, i.e. a process holds it open."""
    links = orjson.loads(text) if text.strip() else []
    out: dict[str, Item] = {}
    for link in links if isinstance(links, list) else []:
        info = link.get("linkinfo") or {}
        kind = info.get("info_kind")
        name = link.get("ifname", "")
        if kind == "tun" and name != "tailscale0":
            flags = link.get("flags") or []
            mode = (info.get("info_data") or {}).get("type", "tun")
            out[f"openvpn/{name}"] = {
                "kind": "openvpn",
                "name": name,
                "interface": name,
                "detail": mode,
                "endpoints": [],
                "addresses": [],
                "peers": 0,
                "connected": "UP" in flags and "NO-CARRIER" not in flags,
            }
        elif kind == "wireguard":
            out[f"wireguard/{name}"] = {
                "kind": "wireguard",
                "name": name,
                "interface": name,
                "endpoints": [],
                "addresses": [],
                "peers": 0,
                "connected": "UP" in (link.get("flags") or []),
            }
    return out


def parse_tailscale_status(text: str) -> dict[str, Item]:
    """`tailscale status --json`: connected while BackendState is "Running"."""
    data = orjson.loads(text)
    if not isinstance(data, dict):
        return {}
    me = data.get("Self") or {}
    tailnet = (data.get("CurrentTailnet") or {}).get("Name")
    exit_node = (data.get("ExitNodeStatus") or {}).get("TailscaleIPs")
    return {
        "tailscale/tailscale0": {
            "kind": "tailscale",
            "name": tailnet or "tailscale",
            "interface": "tailscale0",
            "detail": data.get("BackendState"),
            "endpoints": sorted(exit_node or []),
            "addresses": sorted(me.get("TailscaleIPs") or data.get("TailscaleIPs") or []),
            "peers": len(data.get("Peer") or {}),
            "connected": data.get("BackendState") == "Running",
        }
    }


def _int(s: str) -> int | None:
    try:
        return int(s)
    except ValueError:
        return None
