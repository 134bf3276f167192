"""The inventory baseline end to end: after `watchman run --once` the graph's installed set is the
package database's, on this machine's real dpkg database and on an RPM database built in a test root."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.support.instance import Instance

OFF = ("[network]", "enabled = false", "[journald]", "enabled = false", "[docker]", "enabled = false")


def _config(inst: Instance, packages: list[str]) -> None:
    inst.root.mkdir(parents=True, exist_ok=True)
    lines = [
        f'data_dir = "{inst.data_dir}"',
        'host = "testhost"',
        'api_listen = "127.0.0.1:0"',
        "[services]",
        "metrics_enabled = false",
        *OFF,
        "[packages]",
        *packages,
    ]
    inst.config.write_text("\n".join(lines) + "\n")


def _installed(inst: Instance, ecosystem: str) -> Counter[tuple[str, str]]:
    rows = inst.query(
        "MATCH (s:Software) WHERE s.state = 'installed' AND s.ecosystem = $e "
        "RETURN s.name AS n, s.version AS v",
        "-p",
        f"e={ecosystem}",
    )
    return Counter((r["n"], r["v"]) for r in rows)


def _dpkg_l() -> Counter[tuple[str, str]]:
    """`dpkg -l`'s installed packages (state ii) as (name, version); wide, so nothing is cut."""
    out = subprocess.run(
        ["dpkg", "-l"], capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "1000"}
    ).stdout
    found: Counter[tuple[str, str]] = Counter()
    for line in out.splitlines():
        if line.startswith("ii "):
            name, version = line.split()[1:3]
            found[(name.split(":")[0], version)] += 1
    return found


def test_the_graph_installed_set_is_dpkg_l_on_this_machine(tmp_path: Path) -> None:
    """This machine's real logs and status file: packages the logs never mention (the base image's)
    are there too, as observed-installed, and no package is installed twice."""
    inst = Instance(tmp_path)
    _config(
        inst,
        [
            'apt = ["/var/log/apt/history.log"]',
            'dpkg = ["/var/log/dpkg.log"]',
            "dnf_rpm = []",
            "dnf = []",
            "dnf5 = []",
            "brew = []",
            'dpkg_status = ["/var/lib/dpkg/status"]',
            "rpmdb = []",
        ],
    )
    # Other work on this machine may install packages meanwhile: compare with a dpkg -l that did not
    # change during the run (a second run reads only what changed).
    for _ in range(3):
        before = _dpkg_l()
        inst.cli("run", "--once")
        if _dpkg_l() == before:
            break
    assert before, "dpkg -l lists nothing"
    assert _installed(inst, "deb") == before
    observed = inst.query("MATCH (e:Event) WHERE e.action = 'observed-installed' RETURN count(e) AS n")
    installs = inst.query("MATCH (e:Event) WHERE e.action = 'install' RETURN count(e) AS n")
    assert observed[0]["n"] + installs[0]["n"] >= sum(before.values())


SPEC = """\
Name: {name}
Version: {version}
Release: {release}
Summary: a Watchman test package
License: MIT
BuildArch: {arch}
%description
An empty package for an RPM database in a test root.
%files
"""


@pytest.fixture(scope="module")
def rpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Empty packages built with Debian's rpmbuild (package `rpm`)."""
    top = tmp_path_factory.mktemp("rpmbuild")
    out: dict[str, Path] = {}
    for name, version, release, arch in (
        ("wm-alpha", "1.0", "1", "noarch"),
        ("wm-alpha", "1.1", "2", "noarch"),
        ("wm-beta", "2.0", "1", "x86_64"),
        ("wm-gamma", "0.5", "7", "noarch"),
    ):
        spec = top / f"{name}-{version}.spec"
        spec.write_text(SPEC.format(name=name, version=version, release=release, arch=arch))
        subprocess.run(
            ["rpmbuild", "-bb", "--define", f"_topdir {top}", "--target", arch, str(spec)],
            capture_output=True,
            check=True,
        )
        out[f"{name}-{version}"] = top / "RPMS" / arch / f"{name}-{version}-{release}.{arch}.rpm"
    return out


def _rpm(root: Path, *args: str) -> str:
    cmd = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _rpm_qa(root: Path) -> Counter[tuple[str, str]]:
    out = _rpm(root, "-qa", "--queryformat", "%{NAME} %{VERSION}-%{RELEASE}\\n")
    return Counter(tuple(line.split()) for line in out.splitlines() if line.strip())  # type: ignore[misc]


def test_the_graph_installed_set_is_rpm_qa_of_a_database_in_a_test_root(
    tmp_path: Path, rpms: dict[str, Path]
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _rpm(root, "--initdb")
    _rpm(root, "-i", "--nodeps", "--noscripts", str(rpms["wm-alpha-1.0"]), str(rpms["wm-beta-2.0"]))
    inst = Instance(tmp_path / "w")
    empty = [
        "apt = []",
        "dpkg = []",
        "dnf_rpm = []",
        "dnf = []",
        "dnf5 = []",
        "brew = []",
        "dpkg_status = []",
    ]
    _config(inst, [*empty, f'rpmdb = ["{root}/var/lib/rpm"]'])

    inst.cli("run", "--once")
    assert (
        _installed(inst, "rpm")
        == _rpm_qa(root)
        == Counter({("wm-alpha", "1.0-1"): 1, ("wm-beta", "2.0-1"): 1})
    )

    # Changes no log told (rpm used directly): the next start's snapshot reports them.
    _rpm(root, "-U", "--nodeps", "--noscripts", str(rpms["wm-alpha-1.1"]))
    _rpm(root, "-e", "--nodeps", "--noscripts", "wm-beta")
    _rpm(root, "-i", "--nodeps", "--noscripts", str(rpms["wm-gamma-0.5"]))
    inst.cli("run", "--once")
    assert (
        _installed(inst, "rpm")
        == _rpm_qa(root)
        == Counter({("wm-alpha", "1.1-2"): 1, ("wm-gamma", "0.5-7"): 1})
    )
    rows = inst.query(
        "MATCH (e:Event)-[:ACTED_ON]->(s:Software) RETURN s.name AS name, e.action AS action, "
        "e.version AS version, e.old_version AS known, s.state AS state ORDER BY name, e.ts"
    )
    assert [(r["name"], r["action"], r["version"], r["known"], r["state"]) for r in rows] == [
        ("wm-alpha", "observed-installed", "1.0-1", None, "installed"),
        ("wm-alpha", "observed-installed", "1.1-2", "1.0-1", "installed"),
        ("wm-beta", "observed-installed", "2.0-1", None, "purged"),
        ("wm-beta", "observed-purged", "2.0-1", "2.0-1", "purged"),
        ("wm-gamma", "observed-installed", "0.5-7", None, "installed"),
    ]


def test_history_and_database_reconcile_in_one_first_run(tmp_path: Path) -> None:
    """A dpkg.log that tells of bash and of a package since purged without a log line (ghost), and a
    status file that also holds a package no log mentions (tzdata) and one removed with its
    configuration kept (nginx): one first run gives the database's installed set, and says how."""
    logs = tmp_path / "logs"
    logs.mkdir()
    dpkg_log = logs / "dpkg.log"
    dpkg_log.write_text(
        "2026-11-02 10:00:01 install bash:amd64 <none> 5.2.15-2\n"
        "2026-11-02 10:00:02 status installed bash:amd64 5.2.15-2\n"
        "2026-11-02 10:00:03 install ghost:amd64 <none> 1.0-1\n"
        "2026-11-02 10:00:04 status installed ghost:amd64 1.0-1\n"
    )
    status = tmp_path / "status"
    status.write_text(
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2\n\n"
        "Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2025b-0+deb12u2\n\n"
        "Package: nginx\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.22.1-9\n\n"
    )
    inst = Instance(tmp_path / "w")
    _config(
        inst,
        [
            "apt = []",
            f'dpkg = ["{dpkg_log}"]',
            "dnf_rpm = []",
            "dnf = []",
            "dnf5 = []",
            "brew = []",
            f'dpkg_status = ["{status}"]',
            "rpmdb = []",
        ],
    )
    inst.cli("run", "--once")
    assert _installed(inst, "deb") == Counter({("bash", "5.2.15-2"): 1, ("tzdata", "2025b-0+deb12u2"): 1})
    # status shows the database's snapshot cursor by its size, not package by package
    st = orjson.loads(inst.cli("status", "--json").stdout)
    assert st["sources"][f"dpkg-status:{status}"]["cursor"]["items"] == 3
    rows = inst.query(
        "MATCH (e:Event)-[:ACTED_ON]->(s:Software) RETURN s.name AS name, e.action AS action, "
        "s.state AS state ORDER BY name, e.ts"
    )
    assert [(r["name"], r["action"], r["state"]) for r in rows] == [
        ("bash", "install", "installed"),
        ("ghost", "install", "purged"),
        ("ghost", "observed-purged", "purged"),
        ("nginx", "observed-removed", "removed"),
        ("tzdata", "observed-installed", "installed"),
    ]
