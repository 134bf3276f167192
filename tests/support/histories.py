"""Generate realistic apt history.log + dpkg.log pairs of any size (for e2e, crash tests and bench)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path


@dataclass
class History:
    apt: list[str] = field(default_factory=list)
    dpkg: list[str] = field(default_factory=list)
    changes: int = 0  # distinct package changes (what the graph must hold as Event nodes)


def _fmt_apt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d  %H:%M:%S")


def _fmt_dpkg(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def generate(sessions: int, *, start: datetime, seed: int = 7, packages: int = 400) -> History:
    """`sessions` apt runs, each installing, upgrading or removing 1-8 packages, with the dpkg.log
    lines dpkg writes for them; every 10th change is made by dpkg alone (no apt session)."""
    rng = random.Random(seed)
    names = [f"pkg{i}" for i in range(packages)] + [f"python3-mod{i}" for i in range(packages // 10)]
    installed: dict[str, int] = {}
    h = History()
    ts = start
    for s in range(sessions):
        ts += timedelta(minutes=rng.randint(1, 90))
        items: list[tuple[str, str, int | None, int | None, bool]] = []
        for name in rng.sample(names, rng.randint(1, 8)):
            cur = installed.get(name)
            if cur is None:
                items.append(("install", name, None, 1, rng.random() < 0.3))
                installed[name] = 1
            elif rng.random() < 0.75:
                items.append(("upgrade", name, cur, cur + 1, False))
                installed[name] = cur + 1
            else:
                items.append(("remove", name, cur, None, False))
                del installed[name]
        t = ts + timedelta(seconds=1)
        dpkg_only = s % 10 == 9
        for action, name, old, new, _ in items:
            old_v = f"1.{old}-1" if old else "<none>"
            new_v = f"1.{new}-1" if new else "<none>"
            verb = "install" if action == "install" else action
            h.dpkg.append(f"{_fmt_dpkg(t)} startup archives unpack")
            h.dpkg.append(f"{_fmt_dpkg(t)} {verb} {name}:amd64 {old_v} {new_v}")
            status_v = new_v if new else old_v
            h.dpkg.append(f"{_fmt_dpkg(t)} status installed {name}:amd64 {status_v}")
            t += timedelta(seconds=rng.randint(0, 2))
            h.changes += 1
        if dpkg_only:
            continue
        end = t + timedelta(seconds=1)
        h.apt.append(f"Start-Date: {_fmt_apt(ts)}")
        h.apt.append(f"Commandline: apt-get -y install session{s}")
        if rng.random() < 0.8:
            h.apt.append("Requested-By: alice (1000)")
        for action in ("install", "upgrade", "remove"):
            chunk = [i for i in items if i[0] == action]
            if not chunk:
                continue
            parts = []
            for _, name, old, new, auto in chunk:
                if action == "install":
                    parts.append(f"{name}:amd64 (1.{new}-1{', automatic' if auto else ''})")
                elif action == "upgrade":
                    parts.append(f"{name}:amd64 (1.{old}-1, 1.{new}-1)")
                else:
                    parts.append(f"{name}:amd64 (1.{old}-1)")
            h.apt.append(f"{action.capitalize()}: {', '.join(parts)}")
        h.apt.append(f"End-Date: {_fmt_apt(end)}")
        h.apt.append("")
        ts = end
    return h


def write(h: History, apt_path: Path, dpkg_path: Path) -> None:
    apt_path.parent.mkdir(parents=True, exist_ok=True)
    dpkg_path.parent.mkdir(parents=True, exist_ok=True)
    apt_path.write_text("\n".join(h.apt) + ("\n" if h.apt else ""))
    dpkg_path.write_text("\n".join(h.dpkg) + ("\n" if h.dpkg else ""))
