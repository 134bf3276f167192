"""Latency from a live netlink change to the graph: `ip link set` in a namespace until the
NetworkInterface node's state changes. `python -m bench.network_latency [--deployment ...]`.

A throw-away namespace holds a veth pair (va, vb) with both ends up; the Watchman observes that
namespace (`[network] netns`). Each probe flips va down or up and polls the graph (every 10 ms) until
the node `NetworkInterface {key: <host>/netns:<ns>/va}` has the new state. Latency = answer time -
moment `ip` was started. Probes are a random 0.05-1.05 s apart, so they do not lock onto a poll cycle.

embedded     `watchman run`, queried through its admin API (POST /query)
distributed  `watchman produce`, `worker`, `project` on the infra/ Kafka and Neo4j (taking the tests'
             lock, resetting the watchman topics and Neo4j before and after), Neo4j queried directly

The namespace, the processes and the scratch directories are removed even when a probe fails or the
run is interrupted (Ctrl-C, SIGTERM). Prints a Markdown table on stdout; nothing is written to
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bench import servers
from bench.common import HOST, say, scratch
from schemas.events.network import interface_key

QUERY = "MATCH (i:NetworkInterface {key: $key}) RETURN i.state AS state"
PROBE_TIMEOUT = 30.0
START_TIMEOUT = 180.0
IFACE, PEER = "va", "vb"


@dataclass
class Result:
    deployment: str
    poll_interval: float
    latencies_ms: list[float]
    timeouts: int

    def quantile(self, q: float) -> float | None:
        """Nearest rank: the smallest value with at least q of the probes at or below it."""
        xs = sorted(self.latencies_ms)
        return xs[max(0, math.ceil(q * len(xs)) - 1)] if xs else None


# -- the namespace ------------------------------------------------------------------------------------


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


@contextlib.contextmanager
def namespace() -> Iterator[str]:
    """`ip netns add wm-bench-<random>` with a veth pair up; deleted on the way out, whatever happened
    (deleting the namespace removes the veth pair with it)."""
    name = f"wm-bench-{secrets.token_hex(4)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", IFACE, "type", "veth", "peer", "name", PEER)
        _ip("-n", name, "link", "set", IFACE, "up")
        _ip("-n", name, "link", "set", PEER, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


# -- configuration and processes ----------------------------------------------------------------------


def _config(root: Path, ns: str, poll_interval: float, s: servers.Servers | None) -> dict[str, str]:
    """watchman.toml for one instance: the packages logs empty, the network of `ns` only (netlink plus
    the interface-based VPN check; no DNS or firewall scans), and the environment to run it with."""
    logs = root / "logs"
    apt, dpkg = logs / "apt" / "history.log", logs / "dpkg.log"
    apt.parent.mkdir(parents=True, exist_ok=True)
    apt.write_text("")
    dpkg.write_text("")
    resolv = root / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.1\n")
    config = servers.write_config(
        root,
        apt=apt,
        dpkg=dpkg,
        bus=f"kafka://{s.kafka}" if s else "",
        graph=s.neo4j if s else "",
        neo4j_user=s.user if s else "",
        api_listen="127.0.0.1:0",
        extra={"poll_interval": poll_interval},
    )
    # [packages] is the last table servers.write_config writes, so another one may follow it.
    with config.open("a") as f:
        f.write(
            "\n".join(
                [
                    "[network]",
                    f'netns = "{ns}"',
                    f'resolv_conf = "{resolv}"',
                    *(f"{k} = false" for k in ("resolved", "nftables", "iptables", "ufw", "firewalld")),
                    *(f"{k} = false" for k in ("wireguard", "tailscale")),
                ]
            )
            + "\n"
        )
    env = servers.env_for(config, s)
    env.pop("WATCHMAN_NETWORK__ENABLED", None)  # the one live source this benchmark is about
    return env


def _wait(check: Callable[[], bool], timeout: float, alive: Callable[[], None]) -> float | None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter()
        alive()
        time.sleep(0.01)
    return None


@contextlib.contextmanager
def embedded(
    root: Path, ns: str, poll_interval: float
) -> Iterator[tuple[Callable[[str], str | None], Callable[[], None]]]:
    import httpx

    env = _config(root, ns, poll_interval, None)
    daemon = servers.start(root, env, "run")
    try:

        def alive() -> None:
            if daemon.poll() is not None:
                raise RuntimeError(f"watchman run exited {daemon.returncode}: {servers.tail(root, 'run')}")

        url_file, token_file = root / "data" / "api.url", root / "data" / "api.token"
        if _wait(lambda: url_file.exists() and token_file.exists(), 60.0, alive) is None:
            raise RuntimeError(f"the daemon did not start: {servers.tail(root, 'run')}")
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        with httpx.Client(base_url=url_file.read_text().strip(), headers=headers, timeout=10.0) as client:

            def state(key: str) -> str | None:
                body = {"cypher": QUERY, "params": {"key": key}, "read_only": True}
                try:
                    r = client.post("/query", json=body)
                except httpx.TransportError:  # a kept-alive connection closed as we sent: ask again
                    return None
                r.raise_for_status()
                rows = r.json()["rows"]
                return str(rows[0]["state"]) if rows else None

            yield state, alive
    finally:
        servers.stop(daemon)


@contextlib.contextmanager
def distributed(
    root: Path, ns: str, poll_interval: float, s: servers.Servers
) -> Iterator[tuple[Callable[[str], str | None], Callable[[], None]]]:
    env = _config(root, ns, poll_interval, s)
    listen = ("--api-listen", "127.0.0.1:0")
    procs = {name: servers.start(root, env, name, *listen) for name in ("worker", "project", "produce")}
    try:

        def alive() -> None:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"watchman {name} exited {proc.returncode}: {servers.tail(root, name)}"
                    )

        servers.wait_group_stable(s, "watchman", START_TIMEOUT, procs["worker"])
        with servers.open_neo4j(s) as store:

            def state(key: str) -> str | None:
                rows = store.query(QUERY, {"key": key}).rows
                return str(rows[0][0]) if rows else None

            yield state, alive
    finally:
        for proc in procs.values():
            servers.stop(proc)


# -- the probes ---------------------------------------------------------------------------------------


def probe(
    ns: str, state: Callable[[str], str | None], alive: Callable[[], None], changes: int
) -> tuple[list[float], int]:
    key = interface_key(HOST, ns, IFACE)
    # Warm-up (untimed): the pipeline reports the interface as it found it at start.
    if _wait(lambda: state(key) == "up", START_TIMEOUT, alive) is None:
        raise RuntimeError(f"{key} never reached the graph as up (last state {state(key)!r})")
    rng = random.Random(6)
    out: list[float] = []
    timeouts = 0
    current = "up"
    for i in range(changes):
        time.sleep(rng.uniform(0.05, 1.05))
        target = "down" if current == "up" else "up"
        t0 = time.perf_counter()
        _ip("-n", ns, "link", "set", IFACE, target)
        t1 = _wait(lambda t=target: state(key) == t, PROBE_TIMEOUT, alive)  # type: ignore[misc]
        if t1 is None:
            timeouts += 1
            say(f"probe {i + 1}: {IFACE} {target} not in the graph within {PROBE_TIMEOUT:.0f} s")
            # Wait for it anyway (or give up), so the next probe starts from a known state.
            if _wait(lambda t=target: state(key) == t, PROBE_TIMEOUT, alive) is None:  # type: ignore[misc]
                raise RuntimeError(f"{key} stuck: wanted {target}, graph says {state(key)!r}")
        else:
            out.append((t1 - t0) * 1000)
        current = target
    return out, timeouts


def run(deployments: Sequence[str], poll_interval: float, changes: int) -> list[Result]:
    results: list[Result] = []
    for deployment in deployments:
        say(f"network latency: {deployment}, poll_interval {poll_interval:g} s, {changes} changes")
        with scratch(Path(tempfile.gettempdir()), f"netlat-{deployment}") as root, namespace() as ns:
            if deployment == "embedded":
                with embedded(root, ns, poll_interval) as (state, alive):
                    latencies, timeouts = probe(ns, state, alive, changes)
            else:
                s = servers.servers()
                with servers.exclusive():
                    servers.reset(s)
                    try:
                        with distributed(root, ns, poll_interval, s) as (state, alive):
                            latencies, timeouts = probe(ns, state, alive, changes)
                    finally:
                        servers.reset(s)
        results.append(Result(deployment, poll_interval, latencies, timeouts))
    return results


def table(results: Sequence[Result]) -> str:
    def ms(x: float | None) -> str:
        return "—" if x is None else f"{x:.0f}"

    lines = [
        "| deployment | poll_interval s | changes | median ms | p90 ms | max ms | mean ms | timed out |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        mean = statistics.fmean(r.latencies_ms) if r.latencies_ms else None
        lines.append(
            f"| {r.deployment} | {r.poll_interval:g} | {len(r.latencies_ms)} | {ms(r.quantile(0.5))} | "
            f"{ms(r.quantile(0.9))} | {ms(max(r.latencies_ms, default=None))} | {ms(mean)} | {r.timeouts} |"
        )
    return "\n".join(lines)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.network_latency", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--deployment",
        choices=("both", "embedded", "distributed"),
        default="both",
        help="which deployment(s) to measure (default both; distributed needs `infra/services up`)",
    )
    parser.add_argument("--changes", type=int, default=25, help="timed up/down changes per deployment")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="the instances' poll_interval (default 1.0, the product's)",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root (ip netns add)")

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # unwinds through the finally blocks: processes, namespace, scratch

    signal.signal(signal.SIGTERM, terminate)
    deployments = ("embedded", "distributed") if args.deployment == "both" else (args.deployment,)
    started = datetime.now(UTC)
    load_before = _load()
    results = run(deployments, args.poll_interval, args.changes)
    print(f"# live netlink change -> graph, {started:%Y-%m-%d %H:%M} UTC")
    print(f"\nbefore: {load_before}; after: {_load()}\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
