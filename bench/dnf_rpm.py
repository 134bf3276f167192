"""Generate a realistic dnf 4 `dnf.rpm.log` of any size (tests.support.histories covers apt and dpkg only)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

_ARCHES = ("x86_64",) * 8 + ("noarch", "noarch", "i686")


def _stamp(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S+0000")


def generate(lines: int, *, start: datetime, seed: int = 7, packages: int = 400) -> list[str]:
    """At least `lines` lines of dnf transactions: each logs `logging initialized`, then one `SUBDEBUG`
    line per installed, upgraded (new side) or erased package, then the old sides of the upgrades
    (`Upgraded:`), as rpm does; with the rpm warnings and scriptlet output lines a real log holds."""
    rng = random.Random(seed)
    names = [f"pkg{i}" for i in range(packages)] + [f"python3-mod{i}" for i in range(packages // 10)]
    arch_of = {n: rng.choice(_ARCHES) for n in names}
    epoch_of = {n: ("1:" if rng.random() < 0.1 else "") for n in names}
    installed: dict[str, int] = {}
    out: list[str] = []
    ts = start
    while len(out) < lines:
        ts += timedelta(minutes=rng.randint(1, 90))
        out.append(f"{_stamp(ts)} INFO --- logging initialized ---")
        t = ts + timedelta(seconds=2)
        olds: list[str] = []
        for name in rng.sample(names, rng.randint(1, 8)):
            cur = installed.get(name)
            arch = arch_of[name]
            epoch = epoch_of[name]
            if cur is None:
                out.append(f"{_stamp(t)} SUBDEBUG Installed: {name}-{epoch}1.{1}-1.fc39.{arch}")
                installed[name] = 1
            elif rng.random() < 0.75:
                out.append(f"{_stamp(t)} SUBDEBUG Upgrade: {name}-{epoch}1.{cur + 1}-1.fc39.{arch}")
                olds.append(f"{name}-{epoch}1.{cur}-1.fc39.{arch}")
                installed[name] = cur + 1
            else:
                out.append(f"{_stamp(t)} SUBDEBUG Erase: {name}-{epoch}1.{cur}-1.fc39.{arch}")
                del installed[name]
            if rng.random() < 0.05:
                out.append(f"{_stamp(t)} INFO warning: /etc/{name}.conf created as /etc/{name}.conf.rpmnew")
            if rng.random() < 0.03:  # scriptlet output: a record spanning lines without a timestamp
                out.append(f"{_stamp(t)} INFO ")
                out.append(f"Created symlink /etc/systemd/system/multi-user.target.wants/{name}.service.")
                out.append("")
            t += timedelta(seconds=rng.randint(0, 2))
        for old in olds:
            out.append(f"{_stamp(t)} SUBDEBUG Upgraded: {old}")
        ts = t
    return out
