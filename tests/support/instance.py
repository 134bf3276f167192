"""A Watchman instance in a temporary directory, driven through its real command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass
class Instance:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "watchman.toml"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def apt_log(self) -> Path:
        return self.root / "logs" / "apt" / "history.log"

    @property
    def dpkg_log(self) -> Path:
        return self.root / "logs" / "dpkg.log"

    @property
    def brew_prefix(self) -> Path:
        return self.root / "brew"

    def write_config(self, **extra: Any) -> None:
        logs = self.root / "logs"
        lines = [
            f'data_dir = "{self.data_dir}"',
            *(f'{k} = "{extra[k]}"' for k in ("bus", "graph", "neo4j_user") if k in extra),
            'host = "testhost"',
            'log_timezone = "UTC"',
            f"poll_interval = {extra.get('poll_interval', 0.05)}",
            f"batch_size = {extra.get('batch_size', 500)}",
            "brew_interval = 0.2",
            # Any free port: many instances run side by side (the daemon writes the URL to api.url).
            f'api_listen = "{extra.get("api_listen", "127.0.0.1:0")}"',
            "[packages]",
            f'apt = ["{self.apt_log}"]',
            f'dpkg = ["{self.dpkg_log}"]',
            f'dnf_rpm = ["{logs / "dnf.rpm.log"}"]',
            f'dnf = ["{logs / "dnf.log"}"]',
            f'dnf5 = ["{logs / "dnf5.log"}"]',
            f'brew = ["{self.brew_prefix}"]',
            # The machine's own package databases would add its whole inventory to every test's
            # graph: none, unless a test names one.
            f"dpkg_status = {_toml_paths(extra.get('dpkg_status', ()))}",
            f"rpmdb = {_toml_paths(extra.get('rpmdb', ()))}",
        ]
        self.root.mkdir(parents=True, exist_ok=True)
        self.config.write_text("\n".join(lines) + "\n")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHMAN_")}
        env["WATCHMAN_CONFIG"] = str(self.config)
        # The live sources of the machine running the tests (its netlink, journal, processes, Docker)
        # would add events no two runs share: off, unless the test's config has the section.
        config = self.config.read_text() if self.config.exists() else ""
        for section, key in (
            ("network", "ENABLED"),
            ("journald", "ENABLED"),
            ("authlog", "ENABLED"),
            ("docker", "ENABLED"),
            ("services", "METRICS_ENABLED"),
            ("services", "UNITS_ENABLED"),
            ("resources", "ENABLED"),
            ("configfiles", "ENABLED"),
            ("exposure", "ENABLED"),
            ("permissions", "ENABLED"),
            ("vulnerabilities", "ENABLED"),
        ):
            if f"[{section}]" not in config:
                env[f"WATCHMAN_{section.upper()}__{key}"] = "false"
        if "WATCHMAN_TEST_NEO4J_PASSWORD" in os.environ:
            env["WATCHMAN_NEO4J_PASSWORD"] = os.environ["WATCHMAN_TEST_NEO4J_PASSWORD"]
        return env

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "watchman", *_any_free_api_port(args)],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"watchman {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def start(self, *command: str) -> subprocess.Popen[bytes]:
        """Start `watchman run` (or another long-running command) in the background."""
        name = command[0] if command else "daemon"
        command = _any_free_api_port(command)
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed by the child's exit
        return subprocess.Popen(
            [sys.executable, "-m", "watchman", *(command or ("run",))], env=self.env(), stdout=log, stderr=log
        )

    def wait_ready(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        sock = self.data_dir / "watchman.sock"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"daemon exited {proc.returncode}: {self.daemon_log()}")
            if sock.exists():
                return
            time.sleep(0.05)
        raise AssertionError(f"daemon not ready in {timeout}s: {self.daemon_log()}")

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=60)

    def daemon_log(self, name: str = "daemon") -> str:
        p = self.root / f"{name}.log"
        return p.read_text(errors="replace")[-4000:] if p.exists() else ""

    def query(self, *args: str) -> list[dict[str, Any]]:
        out = self.cli("query", *args).stdout
        return [orjson.loads(line) for line in out.splitlines() if line.strip()]

    def graph_dump(self) -> dict[str, Any]:
        """Every Event, Software and Host with their properties, and every relationship, sorted:
        two graphs are the same graph when their dumps are equal."""
        events = self.query(
            "MATCH (e:Event) RETURN e.id AS id, e.type AS type, e.ts AS ts, e.action AS action, "
            "e.package_name AS package, e.arch AS arch, e.version AS version, e.old_version AS old, "
            "e.source AS source, e.automatic AS automatic, e.requested_by AS requested_by, "
            "e.commandline AS commandline ORDER BY id"
        )
        software = self.query(
            "MATCH (s:Software) RETURN s.key AS key, s.version AS version, s.state AS state, "
            "s.automatic AS automatic, s.first_seen AS first_seen, s.last_seen AS last_seen, "
            "s.updated_at AS updated_at ORDER BY key"
        )
        hosts = self.query("MATCH (h:Host) RETURN h.name AS name, h.first_seen AS f, h.last_seen AS l")
        rels = self.query(
            "MATCH (e:Event)-[:ACTED_ON]->(s:Software)-[:INSTALLED_ON]->(h:Host) "
            "RETURN e.id AS event, s.key AS software, h.name AS host ORDER BY event"
        )
        counts = {
            t: self.query(f"MATCH ()-[r:{t}]->() RETURN count(r) AS n")[0]["n"]
            for t in ("ACTED_ON", "INSTALLED_ON", "HAPPENED_ON")
        }
        return {"events": events, "software": software, "hosts": hosts, "rels": rels, "counts": counts}


def _any_free_api_port(args: tuple[str, ...]) -> tuple[str, ...]:
    """The distributed commands serve an admin API on a fixed default port; tests run several
    instances (and restarts) side by side, so they take any free port."""
    if args and args[0] in ("produce", "worker", "project") and "--api-listen" not in args:
        return (*args, "--api-listen", "127.0.0.1:0")
    return args


def _toml_paths(paths: Any) -> str:
    return "[" + ", ".join(f'"{p}"' for p in paths) + "]"
