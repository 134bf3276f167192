"""Parse the DNS configuration into one item per scope (pure): /etc/resolv.conf and systemd-resolved."""

from __future__ import annotations

import re
from typing import Any

Item = dict[str, Any]


def parse_resolv_conf(text: str) -> dict[str, Item]:
    """{"resolv.conf": {servers, search, source}}; servers in file order (the order the resolver asks)."""
    servers: list[str] = []
    search: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            if parts[1] not in servers:
                servers.append(parts[1])
        elif parts and parts[0] in ("search", "domain"):
            search = parts[1:]  # the last search/domain line wins, as in glibc
    return {
        "resolv.conf": {
            "scope": "resolv.conf",
            "ifname": None,
            "source": "resolv.conf",
            "servers": servers,
            "search": search,
        }
    }


_LINK = re.compile(r"^Link \d+ \(([^)]+)\):\s*(.*)$")


def parse_resolvectl(dns_text: str, domain_text: str = "") -> dict[str, Item]:
    """`resolvectl dns` (and `resolvectl domain`): "Global: 1.1.1.1" and "Link 2 (eth0): 192.0.2.1 ..."
    lines, one scope each. Servers may carry a port, an interface or an SNI name (1.1.1.1#cloudflare-dns.com):
    kept as written. Scopes without servers are left out, as resolvectl lists every link."""
    domains: dict[str, list[str]] = {}
    for line in domain_text.splitlines():
        scope, values = _scope_of(line)
        if scope is not None:
            domains[scope] = values
    out: dict[str, Item] = {}
    for line in dns_text.splitlines():
        scope, values = _scope_of(line)
        if scope is None or not values:
            continue
        out[scope] = {
            "scope": scope,
            "ifname": None if scope == "global" else scope,
            "source": "resolved",
            "servers": values,
            "search": domains.get(scope, []),
        }
    return out


def _scope_of(line: str) -> tuple[str | None, list[str]]:
    line = line.strip()
    if line.startswith("Global:"):
        return "global", line.split(":", 1)[1].split()
    m = _LINK.match(line)
    if m:
        return m.group(1), m.group(2).split()
    return None, []


_STATUS_SCOPE = re.compile(r"^(?:Global|Link \d+ \(([^)]+)\))\s*$")
# `Name: value`; the colon is followed by a space or the end, so an IPv6 server (fdaa::1) is no field.
_STATUS_FIELD = re.compile(r"^\s*([A-Za-z][A-Za-z .]*?):(?:\s+(.*))?$")


def parse_resolvectl_status(text: str) -> dict[str, Item]:
    """`resolvectl status`: a `Global` block and one `Link N (ifname)` block each, with `DNS Servers:`
    (continued on indented lines) and `DNS Domain:`. The same items as parse_resolvectl."""
    out: dict[str, Item] = {}
    scope: str | None = None
    field: str | None = None
    values: dict[str, dict[str, list[str]]] = {}
    for raw in text.splitlines():
        m = _STATUS_SCOPE.match(raw.strip())
        if m is not None:
            scope = m.group(1) or "global"
            values.setdefault(scope, {})
            field = None
            continue
        if scope is None or not raw.strip():
            continue
        f = _STATUS_FIELD.match(raw)
        if f is not None:
            field = f.group(1).strip()
            values[scope].setdefault(field, []).extend((f.group(2) or "").split())
        elif field is not None:
            values[scope][field].extend(raw.split())  # a list continued on the next line
    for name, fields in values.items():
        servers = fields.get("DNS Servers", [])
        if not servers:
            continue
        out[name] = {
            "scope": name,
            "ifname": None if name == "global" else name,
            "source": "resolved",
            "servers": servers,
            "search": fields.get("DNS Domain", []),
        }
    return out
