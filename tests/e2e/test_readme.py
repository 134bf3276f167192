"""Docs that run: every `watchman …` example in the README works against a populated instance."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.histories import generate, write
from tests.support.instance import Instance

README = Path(__file__).resolve().parents[2] / "README.md"


def _examples() -> list[list[str]]:
    """`watchman …` lines from the README's sh blocks, comments stripped."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    out = []
    for block in blocks:
        for raw in block.splitlines():
            line = raw.split("  #", 1)[0].strip()
            if line.startswith("watchman "):
                out.append(shlex.split(line)[1:])
    return out


def test_readme_has_query_examples() -> None:
    assert sum(1 for args in _examples() if args[0] == "query") >= 5


def test_every_readme_example_runs(instance: Instance) -> None:
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=3)
    h = generate(40, start=start, seed=3)
    # the packages the README asks about by name
    day = (start + timedelta(days=2)).strftime("%Y-%m-%d")
    h.apt += [
        f"Start-Date: {day}  09:00:00",
        "Commandline: apt install docker.io bash",
        "Install: docker.io:amd64 (24.0.5-1), bash:amd64 (5.2.15-2+b2)",
        f"End-Date: {day}  09:00:09",
        "",
    ]
    h.dpkg += [
        f"{day} 09:00:03 install docker.io:amd64 <none> 24.0.5-1",
        f"{day} 09:00:05 install bash:amd64 <none> 5.2.15-2+b2",
    ]
    write(h, instance.apt_log, instance.dpkg_log)
    instance.cli("run", "--once")
    for args in _examples():
        proc = instance.cli(*args, check=False)
        assert proc.returncode == 0, f"watchman {shlex.join(args)} failed:\n{proc.stderr}"
        if args[0] == "query" and "--list" not in args:
            assert proc.stdout.strip(), f"watchman {shlex.join(args)} printed nothing"


def test_help_teaches_every_command(instance: Instance) -> None:
    text = instance.cli("--help").stdout
    for command in ("run", "parse", "query", "replay", "status", "config"):
        assert re.search(rf"\b{command}\b", text)
        assert instance.cli(command, "--help").returncode == 0
    assert "Examples" in text and "Exit codes" in text


def _curl_examples() -> list[str]:
    """The README's `curl` lines (continuations joined), as shell text."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    out = []
    for block in blocks:
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw.split("  #", 1)[0].strip()
            if line.startswith("curl "):
                out.append(line)
    return out


def test_every_readme_curl_example_answers(instance: Instance) -> None:
    """The admin API examples, against a running daemon, with curl failing on any HTTP error."""
    examples = _curl_examples()
    assert any("/admin/scan" in e for e in examples) and any("/query" in e for e in examples)
    write(
        generate(10, start=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2), seed=5),
        instance.apt_log,
        instance.dpkg_log,
    )
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        api = (instance.data_dir / "api.url").read_text().strip()
        env = {**instance.env(), "API": api, "TOKEN": (instance.data_dir / "api.token").read_text().strip()}
        command_id = ""
        for example in examples:
            if "<command_id>" in example:
                assert command_id, "the README polls a command before it issues one"
            line = example.replace("<command_id>", command_id)
            done = subprocess.run(
                ["bash", "-c", line.replace("curl ", "curl --fail-with-body --max-time 30 ", 1)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, f"{example}\n{done.stdout}\n{done.stderr}"
            assert done.stdout.strip(), example
            if "/admin/scan" in example:
                command_id = json.loads(done.stdout)["command_id"]
    finally:
        instance.stop(proc)
