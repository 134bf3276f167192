"""Parse firewall rule listings into one normalised rule shape (pure): nftables, iptables, ufw, firewalld.

Every rule becomes {backend, family, table, chain, position, target, protocol, ports, source,
destination, interface, text}, so "rules for port 443" is one question across all four tools. `ports`
are destination ports as strings ("443", "1000-2000"); empty means the rule is not port-specific.
Counters and handles are left out: they change without the rule changing.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable
from typing import Any

import orjson

Rule = dict[str, Any]

# Tables iptables-nft creates in nftables; when iptables-save (nf_tables) lists them, nft's copy is skipped.
IPTABLES_NFT_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})


def _rule(backend: str, **fields: Any) -> Rule:
    rule: Rule = {
        "backend": backend,
        "family": None,
        "table": None,
        "chain": None,
        "position": None,
        "target": None,
        "protocol": None,
        "ports": [],
        "source": None,
        "destination": None,
        "interface": None,
        "text": "",
    }
    rule.update(fields)
    return rule


def rule_items(rules: Iterable[Rule]) -> dict[str, Rule]:
    """{key: rule} with a key that survives a change of position (a rule inserted above it), so moving
    a rule is not reported as removing and adding it. Identical rules in one chain get #2, #3..."""
    out: dict[str, Rule] = {}
    for rule in rules:
        ident = {k: v for k, v in rule.items() if k != "position"}
        h = hashlib.blake2b(orjson.dumps(ident, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()
        base = f"{rule['backend']}/{rule['family'] or '-'}/{rule['table'] or '-'}/{rule['chain'] or '-'}/{h}"
        key, n = base, 1
        while key in out:
            n += 1
            key = f"{base}#{n}"
        out[key] = rule
    return out


# --- nftables: `nft -j list ruleset` -------------------------------------------------------------------


def _nft_value(v: Any) -> str:
    if isinstance(v, dict):
        if "prefix" in v:
            return f"{v['prefix']['addr']}/{v['prefix']['len']}"
        if "range" in v:
            return f"{_nft_value(v['range'][0])}-{_nft_value(v['range'][1])}"
        if "set" in v:
            return "{ " + ", ".join(_nft_value(x) for x in v["set"]) + " }"
        return orjson.dumps(v).decode()
    if isinstance(v, list):
        return ",".join(_nft_value(x) for x in v)
    if isinstance(v, str) and v.startswith("@"):
        return v
    return str(v)


def _nft_ports(v: Any) -> list[str]:
    if isinstance(v, dict) and "set" in v:
        return [p for x in v["set"] for p in _nft_ports(x)]
    if isinstance(v, dict) and "range" in v:
        return [f"{v['range'][0]}-{v['range'][1]}"]
    if isinstance(v, int | str) and not (isinstance(v, str) and v.startswith("@")):
        return [str(v)]
    return []  # a named set (@web_ports): its elements are not in the rule


def _nft_left(left: Any) -> str:
    if isinstance(left, dict):
        if "payload" in left:
            p = left["payload"]
            return f"{p.get('protocol', '')} {p.get('field', '')}".strip()
        for k in ("meta", "ct"):
            if k in left:
                return f"{k} {left[k].get('key', '')}"
    return _nft_value(left)


VERDICTS = ("accept", "drop", "reject", "jump", "goto", "return", "queue", "continue")


def parse_nft_json(text: str, *, skip_iptables_tables: bool = False) -> list[Rule]:
    data = orjson.loads(text)
    items = data.get("nftables", []) if isinstance(data, dict) else []
    rules: list[Rule] = []
    positions: dict[tuple[str, str, str], int] = {}
    for obj in items:
        r = obj.get("rule") if isinstance(obj, dict) else None
        if not isinstance(r, dict):
            continue
        family, table, chain = r.get("family"), r.get("table"), r.get("chain")
        if skip_iptables_tables and family in ("ip", "ip6") and table in IPTABLES_NFT_TABLES:
            continue
        pos_key = (str(family), str(table), str(chain))
        positions[pos_key] = positions.get(pos_key, 0) + 1
        fields: Rule = {"ports": []}
        words: list[str] = []
        for expr in r.get("expr", []):
            if not isinstance(expr, dict):
                continue
            if "match" in expr:
                m = expr["match"]
                left, right, op = m.get("left"), m.get("right"), m.get("op", "==")
                name = _nft_left(left)
                neg = "!" if op == "!=" else ""
                words.append(f"{name} {'' if op in ('==', 'in') else op + ' '}{_nft_value(right)}")
                if name.endswith(" dport"):
                    fields["protocol"] = name.split()[0]
                    fields["ports"] += _nft_ports(right)
                elif name in ("meta l4proto", "ip protocol", "ip6 nexthdr"):
                    fields["protocol"] = _nft_value(right)
                elif name.endswith(" saddr") and name.split()[0] in ("ip", "ip6"):
                    fields["source"] = neg + _nft_value(right)
                elif name.endswith(" daddr") and name.split()[0] in ("ip", "ip6"):
                    fields["destination"] = neg + _nft_value(right)
                elif name in ("meta iifname", "meta oifname"):
                    fields["interface"] = neg + _nft_value(right)
            elif "xt" in expr:
                xt = expr["xt"]
                words.append(f"xt {xt.get('type')} {xt.get('name')}")
                if xt.get("type") == "target":
                    fields["target"] = xt.get("name")
            else:
                for verdict in VERDICTS:
                    if verdict in expr:
                        arg = expr[verdict]
                        target = arg.get("target") if isinstance(arg, dict) else None
                        fields["target"] = f"{verdict} {target}" if target else verdict
                        words.append(fields["target"])
                        break
                else:
                    for k in ("masquerade", "snat", "dnat", "redirect", "log", "limit"):
                        if k in expr:
                            words.append(k)
                            if k in ("masquerade", "snat", "dnat", "redirect"):
                                fields["target"] = k
        rules.append(
            _rule(
                "nftables",
                family=family,
                table=table,
                chain=chain,
                position=positions[pos_key],
                text=" ".join(words),
                **fields,
            )
        )
    return rules


# --- iptables / ip6tables: `iptables-save` ---------------------------------------------------------------


def is_nf_tables_save(text: str) -> bool:
    """iptables-save of the nf_tables variant: its rules are also in `nft list ruleset`."""
    return "(nf_tables)" in text.split("\n", 1)[0] or bool(
        re.search(r"^# Generated by .*\(nf_tables\)", text, re.M)
    )


def parse_iptables_save(text: str, *, family: str = "ipv4") -> list[Rule]:
    backend = "ip6tables" if family == "ipv6" else "iptables"
    rules: list[Rule] = []
    table: str | None = None
    positions: dict[tuple[str, str], int] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
            continue
        if not line.startswith("-A "):
            continue
        try:
            args = shlex.split(line)
        except ValueError:
            args = line.split()
        chain = args[1]
        positions[(str(table), chain)] = positions.get((str(table), chain), 0) + 1
        fields: Rule = {"ports": []}
        neg = ""
        i = 2
        while i < len(args):
            a = args[i]
            nxt = args[i + 1] if i + 1 < len(args) else None
            if a == "!":
                neg = "!"
                i += 1
                continue
            if a in ("-p", "--protocol"):
                fields["protocol"] = neg + str(nxt)
            elif a in ("-s", "--source"):
                fields["source"] = neg + str(nxt)
            elif a in ("-d", "--destination"):
                fields["destination"] = neg + str(nxt)
            elif a in ("-i", "--in-interface", "-o", "--out-interface"):
                fields["interface"] = neg + str(nxt)
            elif a in ("--dport", "--destination-port", "--dports", "--destination-ports"):
                fields["ports"] += [p.replace(":", "-") for p in str(nxt).split(",") if p]
            elif a in ("-j", "--jump", "-g", "--goto"):
                fields["target"] = nxt
            else:
                i += 1 if nxt is None or nxt.startswith("-") or nxt == "!" else 2
                neg = ""
                continue
            neg = ""
            i += 2
        rules.append(
            _rule(
                backend,
                family=family,
                table=table,
                chain=chain,
                position=positions[(str(table), chain)],
                text=line[3:],
                **fields,
            )
        )
    return rules


# --- ufw: `ufw status verbose` -----------------------------------------------------------------------------

_UFW_ACTION = re.compile(r"\s{2,}((?:ALLOW|DENY|REJECT|LIMIT)(?: (?:IN|OUT|FWD))?)\s{2,}")


def _ufw_endpoint(spec: str) -> tuple[str | None, str | None, list[str], str | None]:
    """(address, protocol, ports, interface) of a ufw To/From column ("443/tcp", "10.0.0.0/8 22",
    "Anywhere on eth0", "OpenSSH")."""
    spec = spec.replace("(v6)", "").strip()
    iface = None
    if " on " in spec:
        spec, iface = (s.strip() for s in spec.split(" on ", 1))
    address = None
    port_part = spec
    parts = spec.split()
    if parts and (
        parts[0] == "Anywhere"
        or (re.match(r"^[0-9a-fA-F:.]+(/\d+)?$", parts[0]) and ("." in parts[0] or ":" in parts[0]))
    ):
        address = None if parts[0] == "Anywhere" else parts[0]
        port_part = " ".join(parts[1:])
    protocol = None
    ports: list[str] = []
    if port_part:
        m = re.fullmatch(r"([0-9,:]+)(?:/(tcp|udp))?", port_part)
        if m:
            ports = [p.replace(":", "-") for p in m.group(1).split(",") if p]
            protocol = m.group(2)
    return address, protocol, ports, iface


def parse_ufw_status(text: str) -> list[Rule]:
    """Rules of `ufw status verbose`. An application profile ("Nginx Full") has no ports in this
    listing: the rule keeps the profile name in its text and no ports."""
    if "Status: active" not in text:
        return []
    rules: list[Rule] = []
    in_table = False
    position = 0
    for line in text.splitlines():
        if line.startswith("--"):
            in_table = True
            continue
        if not in_table or not line.strip():
            continue
        m = _UFW_ACTION.search(line)
        if not m:
            continue
        to, action, frm = line[: m.start()].strip(), m.group(1), line[m.end() :].strip()
        position += 1
        v6 = "(v6)" in line
        t_addr, t_proto, t_ports, t_if = _ufw_endpoint(to)
        f_addr, f_proto, _, f_if = _ufw_endpoint(frm)
        verb, _, direction = action.partition(" ")
        rules.append(
            _rule(
                "ufw",
                family="ipv6" if v6 else "ipv4",
                table="ufw",
                chain={"OUT": "output", "FWD": "forward"}.get(direction, "input"),
                position=position,
                target=verb.lower(),
                protocol=t_proto or f_proto,
                ports=t_ports,
                source=f_addr,
                destination=t_addr,
                interface=t_if or f_if,
                text=re.sub(r"\s{2,}", " | ", line.strip()),
            )
        )
    return rules


# --- firewalld: `firewall-cmd --list-all-zones` (or --list-all per zone) ---------------------------------

# The firewalld services people open most; others keep their name in `text` without ports.
FIREWALLD_SERVICES: dict[str, list[tuple[str, str]]] = {
    "ssh": [("tcp", "22")],
    "http": [("tcp", "80")],
    "https": [("tcp", "443")],
    "http3": [("udp", "443")],
    "dns": [("tcp", "53"), ("udp", "53")],
    "dhcp": [("udp", "67")],
    "dhcpv6-client": [("udp", "546")],
    "mdns": [("udp", "5353")],
    "cockpit": [("tcp", "9090")],
    "samba-client": [("udp", "137"), ("udp", "138")],
    "ntp": [("udp", "123")],
    "smtp": [("tcp", "25")],
    "imaps": [("tcp", "993")],
    "postgresql": [("tcp", "5432")],
    "mysql": [("tcp", "3306")],
    "wireguard": [("udp", "51820")],
}


def parse_firewalld(text: str) -> list[Rule]:
    """Zones of `firewall-cmd --list-all[-zones]`: every service, port and rich rule becomes a rule of
    that zone (chain = zone; target = accept, as firewalld opens what it lists)."""
    rules: list[Rule] = []
    zone: str | None = None
    fields: dict[str, str] = {}
    rich: list[str] = []
    zones: list[tuple[str, dict[str, str], list[str]]] = []
    current_key: str | None = None
    for line in text.splitlines():
        if line and not line[0].isspace():
            if zone is not None:
                zones.append((zone, fields, rich))
            zone = line.split()[0]
            fields, rich, current_key = {}, [], None
            continue
        stripped = line.strip()
        if not stripped or zone is None:
            continue
        if ":" in stripped and not stripped.startswith("rule "):
            key, _, value = stripped.partition(":")
            current_key = key.strip()
            fields[current_key] = value.strip()
        elif current_key == "rich rules" and stripped.startswith("rule "):
            rich.append(stripped)
    if zone is not None:
        zones.append((zone, fields, rich))
    for zone_name, f, rich_rules in zones:
        position = 0
        iface = f.get("interfaces") or None
        sources = f.get("sources") or None
        for service in f.get("services", "").split():
            position += 1
            specs = FIREWALLD_SERVICES.get(service, [])
            protos = sorted({p for p, _ in specs})
            rules.append(
                _rule(
                    "firewalld",
                    table="firewalld",
                    chain=zone_name,
                    position=position,
                    target="accept",
                    protocol=protos[0] if len(protos) == 1 else None,
                    ports=sorted({port for _, port in specs}),
                    source=sources,
                    interface=iface,
                    text=f"service {service}",
                )
            )
        for port in f.get("ports", "").split():
            position += 1
            number, _, proto = port.partition("/")
            rules.append(
                _rule(
                    "firewalld",
                    table="firewalld",
                    chain=zone_name,
                    position=position,
                    target="accept",
                    protocol=proto or None,
                    ports=[number],
                    source=sources,
                    interface=iface,
                    text=f"port {port}",
                )
            )
        for rr in rich_rules:
            position += 1
            attrs: dict[str, str] = dict(re.findall(r'(\w+(?: \w+)?)="([^"]*)"', rr))
            family = attrs.get("rule family")
            target = next(
                (v for v in ("accept", "reject", "drop", "mark") if re.search(rf"\b{v}\b", rr)), None
            )
            rich_port = attrs.get("port port")
            rules.append(
                _rule(
                    "firewalld",
                    family=family,
                    table="firewalld",
                    chain=zone_name,
                    position=position,
                    target=target,
                    protocol=attrs.get("protocol"),
                    ports=[rich_port.replace(":", "-")] if rich_port else [],
                    source=attrs.get("source address"),
                    destination=attrs.get("destination address"),
                    interface=iface,
                    text=rr,
                )
            )
    return rules
