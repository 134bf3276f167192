"""What scripts/test.sh installs is listed in one place a new user can read, and CI still installs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_test_sh_installs_through_dev_deps_and_the_readme_names_it() -> None:
    assert "scripts/dev-deps.sh install" in (ROOT / "scripts" / "test.sh").read_text()
    assert "scripts/dev-deps.sh" in (ROOT / "README.md").read_text()


def test_dev_deps_lists_each_tool_with_its_reason() -> None:
    proc = subprocess.run([str(ROOT / "scripts" / "dev-deps.sh")], capture_output=True, text=True, check=True)
    rows = [line.split(None, 1) for line in proc.stdout.splitlines()[1:] if ":" in line.split(" ")[0]]
    packages = {spec.split(":", 1)[1] for spec, _ in rows}
    assert {"openjdk-17-jre-headless", "maven", "docker.io", "rpm", "nftables"} <= packages
    assert all(why.strip() for _, why in rows)
