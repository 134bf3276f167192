"""Network sources (I/O): a netlink listener with dumps and resyncs, a periodic DNS/firewall/VPN scanner,
and the optional external-IP echo lookup. Each yields NetworkStateObserved envelopes and a cursor."""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from producers.network import dns, firewall, netlink, vpn
from producers.network.envelopes import SEP, from_changes
from producers.snapshot import diff, from_cursor, to_cursor
from producers.source import Poll
from producers.text import clean_text
from schemas.dlq import DeadLetter
from schemas.events.network import RAW_NETWORK, ObservedVia

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def _cursor(seq: int, items: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, **to_cursor(items)}


class _Once:
    """Say a thing once per process (a missing tool, an absent namespace), not every interval."""

    def __init__(self) -> None:
        self._said: set[str] = set()

    def info(self, key: str, msg: str, *args: object) -> None:
        if key not in self._said:
            self._said.add(key)
            log.info(msg, *args)

    def forget(self, key: str) -> None:
        self._said.discard(key)


# --------------------------------------------------------------------------------------------------
# Netlink
# --------------------------------------------------------------------------------------------------

NETNS_RUN_DIR = "/run/netns"
GROUPS = 0x1 | 0x10 | 0x40 | 0x100 | 0x400  # RTMGRP_LINK, IPV4_IFADDR, IPV4_ROUTE, IPV6_IFADDR, IPV6_ROUTE


class NetlinkSource:
    """Interfaces, addresses and routes of one network namespace, from rtnetlink.

    Subscribes first, then dumps (so no change falls between the two), diffs the dump against the
    snapshot in the saved cursor (after a restart only what changed while we were away is told), then
    applies live messages as they come, draining the socket without blocking. When the socket buffer
    overflows (ENOBUFS: a burst larger than the buffer) messages were lost, so it dumps again and
    reports only the differences. `netns` names a namespace under /run/netns (None: our own).
    """

    def __init__(
        self,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        netns: str | None = None,
        rcvbuf: int = 1 << 20,
        retry_every: float = 30.0,
        clock: Clock = _now,
    ) -> None:
        self.host = host
        self.netns = netns
        self.topic = RAW_NETWORK
        self.name = f"netlink:{netns or 'host'}"
        self.rcvbuf = rcvbuf
        self.retry_every = retry_every
        self._clock = clock
        self._items: dict[str, Any] | None = from_cursor(cursor)
        self._seq = int((cursor or {}).get("seq", 0))
        self._sock: socket.socket | None = None
        self._marshal: Any = None
        self._retry_at: datetime | None = None
        self._once = _Once()
        self.resyncs = 0  # how many overflow resyncs happened (tests and status read it)

    def poll(self, max_lines: int) -> Poll:
        now = self._clock()
        if self._sock is None:
            if self._retry_at is not None and now < self._retry_at:
                return Poll()
            try:
                self._open()
                dumped = self._dump()
            except OSError as exc:
                self.close()
                self._retry_at = now + timedelta(seconds=self.retry_every)
                self._once.info("open", "netlink (%s) not observed: %s", self.netns or "host", exc)
                return Poll()
            self._once.forget("open")
            return self._report(dumped, "dump", now, 0)
        try:
            return self._drain(max_lines, now)
        except OSError as exc:
            # The socket or the namespace failed under us: start over (open + dump) at the next retry.
            self.close()
            self._retry_at = now + timedelta(seconds=self.retry_every)
            self._once.info("open", "netlink (%s) lost: %s; will dump again", self.netns or "host", exc)
            return Poll()

    def _drain(self, max_lines: int, now: datetime) -> Poll:
        """Apply what is ready on the socket (never waiting for more) and report the differences."""
        assert self._sock is not None
        items = dict(self._items or {})
        resync = False
        handled = 0
        while handled < max_lines:
            try:
                data = self._sock.recv(1 << 16)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                # The kernel dropped messages: only a fresh dump tells the truth now.
                resync = True
                self.resyncs += 1
                log.info("netlink (%s): socket buffer overflowed; resynchronising", self.netns or "host")
                continue
            for msg in self._marshal.parse(data):
                handled += 1
                if netlink.apply(items, netlink.flatten(msg)) == "resync":
                    resync = True
        if resync:
            return self._report(self._dump(), "resync", now, handled)
        return self._report(items, "event", now, handled)

    def fileno(self) -> int:
        """The netlink socket (-1 before it is open), for a runner that would rather wake when a change
        is ready than sleep a whole poll interval (see docs/architecture.md, Network)."""
        return self._sock.fileno() if self._sock is not None else -1

    def _report(self, after: dict[str, Any], via: ObservedVia, now: datetime, handled: int) -> Poll:
        """The differences from the last reported state (the cursor's snapshot) as observations."""
        before = self._items
        if before is not None and after == before:
            return Poll(lines=handled)
        changes = diff(before, after)
        obs = from_changes(self.host, self.name, self._seq, changes, netns=self.netns, via=via, now=now)
        self._seq += len(obs)
        self._items = after
        return Poll(observations=obs, cursor=_cursor(self._seq, after), lines=max(handled, len(obs)))

    def _open(self) -> None:
        from pyroute2 import netns as pnetns
        from pyroute2.netlink.rtnl.marshal import MarshalRtnl

        if self.netns:
            # pyroute2 would create a missing namespace: a typo in the settings must not make one.
            if not (Path(NETNS_RUN_DIR) / self.netns).exists():
                raise FileNotFoundError(f"no network namespace {self.netns!r} in {NETNS_RUN_DIR}")
            # setns changes only the calling thread; the socket stays in the namespace it was made in.
            pnetns.pushns(self.netns)
        try:
            sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0
            )  # NETLINK_ROUTE
        finally:
            if self.netns:
                pnetns.popns()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.bind((0, GROUPS))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._marshal = MarshalRtnl()

    def _dump(self) -> dict[str, Any]:
        from pyroute2 import IPRoute

        with IPRoute(netns=self.netns) if self.netns else IPRoute() as ipr:
            links = [netlink.flatten(m) for m in ipr.get_links()]
            addrs = [netlink.flatten(m) for m in ipr.get_addr()]
            routes = [netlink.flatten(m) for m in ipr.get_routes(family=socket.AF_INET, table=0)]
            routes += [netlink.flatten(m) for m in ipr.get_routes(family=socket.AF_INET6, table=0)]
        return netlink.snapshot_of(links, addrs, routes)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


# --------------------------------------------------------------------------------------------------
# DNS, firewall, VPN: periodic snapshots
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    """Which scanners run; a tool that is not installed is reported once and skipped."""

    resolved: bool = True
    nftables: bool = True
    iptables: bool = True
    ufw: bool = True
    firewalld: bool = True
    wireguard: bool = True
    tailscale: bool = True
    tun: bool = True


class ToolMissing(Exception):
    """The command is not installed (or not runnable here)."""


Runner = Callable[[Sequence[str]], str]


def run_command(argv: Sequence[str], timeout: float = 10.0) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise ToolMissing(f"{argv[0]} is not installed") from exc
    if proc.returncode != 0 and list(argv[:3]) == ["ip", "netns", "exec"] and "No such file" in proc.stderr:
        # `ip netns exec NS tool` of a tool that is not installed: exit 255, "exec of "tool" failed".
        raise ToolMissing(f"{argv[4] if len(argv) > 4 else argv[-1]} is not installed")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[:300]}")
    return proc.stdout


class NetworkScanSource:
    """Every `interval`, snapshot DNS, firewall rules and VPNs, and report what changed since the last
    snapshot (kept in the cursor, so a restart reports only what changed while we were away).

    A scanner that fails this time keeps its previous items: a tool that hiccups must not look like
    every firewall rule being removed. In a namespace, tools run under `ip netns exec`.
    """

    def __init__(
        self,
        host: str,
        cursor: dict[str, Any] | None = None,
        *,
        netns: str | None = None,
        interval: float = 30.0,
        resolv_conf: Path = Path("/etc/resolv.conf"),
        tools: Tools = Tools(),
        runner: Runner = run_command,
        clock: Clock = _now,
    ) -> None:
        self.host = host
        self.netns = netns
        self.topic = RAW_NETWORK
        self.name = f"network-scan:{netns or 'host'}"
        self.interval = interval
        self.resolv_conf = resolv_conf
        self.tools = tools
        self._runner = runner
        self._clock = clock
        self._items = from_cursor(cursor)
        self._seq = int((cursor or {}).get("seq", 0))
        self._next_at: datetime | None = None
        self._once = _Once()

    def _run(self, *argv: str) -> str:
        cmd = ["ip", "netns", "exec", self.netns, *argv] if self.netns else list(argv)
        return self._runner(cmd)

    def poll(self, max_lines: int) -> Poll:
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            return Poll()
        self._next_at = now + timedelta(seconds=self.interval)
        items, dead = self.scan(now)
        if self._items is not None and items == self._items:
            return Poll(dead=dead)
        changes = diff(self._items, items)
        obs = from_changes(self.host, self.name, self._seq, changes, netns=self.netns, via="scan", now=now)
        self._seq += len(obs)
        self._items = items
        return Poll(observations=obs, dead=dead, cursor=_cursor(self._seq, items), lines=len(obs))

    def scan(self, now: datetime) -> tuple[dict[str, Any], list[DeadLetter]]:
        """The whole snapshot now, and dead letters for tool output that could not be parsed."""
        items: dict[str, Any] = {}
        dead: list[DeadLetter] = []

        def part(
            kind: str,
            what: str,
            read: Callable[[], str],
            parse: Callable[[str], dict[str, Any]],
            keep: Callable[[str], bool],
        ) -> None:
            """Read one tool's output and parse it; on failure keep that part's last snapshot
            (items whose key passes `keep`), and send unparsable output to the dead-letter topic."""
            ok, text = self._try(what, read)
            text = clean_text(text)  # a tool that colours its output even into a pipe
            if ok:
                try:
                    got = parse(text)
                except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
                    dead.append(
                        DeadLetter.of(
                            self.host,
                            self.name,
                            f"{what}@{now.isoformat()}",
                            f"{type(exc).__name__}: {exc}",
                            text.encode(),
                            now,
                        )
                    )
                else:
                    items.update({f"{kind}{SEP}{k}": v for k, v in got.items()})
                    return
            for k, v in (self._items or {}).items():
                k_kind, _, key = k.partition(SEP)
                if k_kind == kind and keep(key):
                    items.setdefault(k, v)

        part(
            "dns",
            "resolv.conf",
            self.resolv_conf.read_text,
            dns.parse_resolv_conf,
            lambda k: k == "resolv.conf",
        )
        if self.tools.resolved:
            part(
                "dns",
                "resolvectl",
                lambda: self._run("resolvectl", "dns") + "\0" + self._run("resolvectl", "domain"),
                lambda t: dns.parse_resolvectl(*t.split("\0", 1)),
                lambda k: k != "resolv.conf",
            )
        # iptables-nft's rules also show in `nft list ruleset`: tell them once, as iptables does.
        nf_tables: list[bool] = []

        def iptables(family: str) -> Callable[[str], dict[str, Any]]:
            def parse(text: str) -> dict[str, Any]:
                nf_tables.append(firewall.is_nf_tables_save(text))
                return firewall.rule_items(firewall.parse_iptables_save(text, family=family))

            return parse

        if self.tools.iptables:
            part(
                "firewall",
                "iptables-save",
                partial(self._run, "iptables-save"),
                iptables("ipv4"),
                lambda k: k.startswith("iptables/"),
            )
            part(
                "firewall",
                "ip6tables-save",
                partial(self._run, "ip6tables-save"),
                iptables("ipv6"),
                lambda k: k.startswith("ip6tables/"),
            )
        if self.tools.nftables:
            part(
                "firewall",
                "nft",
                partial(self._run, "nft", "-j", "list", "ruleset"),
                lambda t: firewall.rule_items(
                    firewall.parse_nft_json(t, skip_iptables_tables=any(nf_tables))
                ),
                lambda k: k.startswith("nftables/"),
            )
        if self.tools.ufw:
            part(
                "firewall",
                "ufw",
                partial(self._run, "ufw", "status", "verbose"),
                lambda t: firewall.rule_items(firewall.parse_ufw_status(t)),
                lambda k: k.startswith("ufw/"),
            )
        if self.tools.firewalld:
            part(
                "firewall",
                "firewall-cmd",
                partial(self._run, "firewall-cmd", "--list-all-zones"),
                lambda t: firewall.rule_items(firewall.parse_firewalld(t)),
                lambda k: k.startswith("firewalld/"),
            )
        if self.tools.tun:
            part(
                "vpn",
                "ip-link",
                partial(self._run, "ip", "-d", "-j", "link", "show"),
                vpn.parse_ip_link_json,
                lambda k: k.startswith("openvpn/"),
            )
        if self.tools.wireguard:
            part(
                "vpn",
                "wg",
                partial(self._run, "wg", "show", "all", "dump"),
                lambda t: vpn.parse_wg_dump(t, now),
                lambda k: k.startswith("wireguard/"),
            )
        if self.tools.tailscale:
            part(
                "vpn",
                "tailscale",
                partial(self._run, "tailscale", "status", "--json"),
                vpn.parse_tailscale_status,
                lambda k: k.startswith("tailscale/"),
            )
        return items, dead

    def _try(self, what: str, fn: Callable[[], str]) -> tuple[bool, str]:
        try:
            out = fn()
        except ToolMissing:
            self._once.info(f"missing:{what}", "%s not found: its part of the network is not observed", what)
            return False, ""
        except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            self._once.info(f"failed:{what}:{exc}", "%s failed (%s); keeping its last snapshot", what, exc)
            return False, ""
        return True, out

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------------------------
# External IP: an HTTP echo service, off by default
# --------------------------------------------------------------------------------------------------


def _parse_echo(text: str) -> str:
    """An echo answer: the address as plain text, or JSON with an "ip" field (ipify, ifconfig.co)."""
    body = text.strip()
    if body.startswith("{"):
        import orjson

        body = str(orjson.loads(body).get("ip", ""))
    return str(ipaddress.ip_address(body.split()[0] if body else ""))


class ExternalIpSource:
    """Ask a configured HTTP echo endpoint which address it sees us from, every `interval`.

    Off unless `network.external_ip_url` is set: the lookup tells a third party that this host is
    running, and when. Failures keep the last answer and are reported once.
    """

    def __init__(
        self,
        host: str,
        url: str,
        cursor: dict[str, Any] | None = None,
        *,
        interval: float = 600.0,
        timeout: float = 5.0,
        clock: Clock = _now,
    ) -> None:
        self.host = host
        self.url = url
        self.topic = RAW_NETWORK
        self.name = "external-ip"
        self.interval = interval
        self.timeout = timeout
        self._clock = clock
        self._items = from_cursor(cursor)
        self._seq = int((cursor or {}).get("seq", 0))
        self._next_at: datetime | None = None
        self._once = _Once()

    def poll(self, max_lines: int) -> Poll:
        import httpx

        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            return Poll()
        self._next_at = now + timedelta(seconds=self.interval)
        try:
            resp = httpx.get(self.url, timeout=self.timeout, follow_redirects=True)
            resp.raise_for_status()
            address = _parse_echo(resp.text)
        except (httpx.HTTPError, ValueError) as exc:
            self._once.info(f"failed:{exc}", "external IP lookup at %s failed: %s", self.url, exc)
            return Poll()
        self._once = _Once()
        family = ipaddress.ip_address(address).version
        items = {f"external_ip{SEP}v{family}": {"address": address, "family": family, "via": self.url}}
        merged = {**{k: v for k, v in (self._items or {}).items() if k not in items}, **items}
        if self._items is not None and merged == self._items:
            return Poll()
        changes = diff(self._items, merged)
        obs = from_changes(self.host, self.name, self._seq, changes, netns=None, via="scan", now=now)
        self._seq += len(obs)
        self._items = merged
        return Poll(observations=obs, cursor=_cursor(self._seq, merged), lines=len(obs))

    def close(self) -> None:
        pass
