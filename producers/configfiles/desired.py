"""The desired state of config files: a directory of files, Jinja2 templates rendered with host facts, or
the baseline pinned in the versions repository (templates first, then the directory, then the baseline).

Templates render in Jinja2's sandbox with StrictUndefined: a fact the template names and the host lacks is
an error (the file is reported as not renderable), never an empty string written into a config.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from producers.configfiles.versions import VersionsError, VersionsRepo, is_placeholder, rel

BASELINE_TAG = "baseline"


@dataclass(frozen=True)
class Desired:
    source: str  # "template" | "dir" | "baseline"
    content: bytes | None  # None: only the hash is known (a secret pinned in the baseline)
    sha256: str


def render(template: str, facts: Mapping[str, Any]) -> str:
    """Render one template with the host's facts (pure)."""
    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(template).render(**facts)


def host_facts(root: Path, extra: Mapping[str, Any]) -> dict[str, Any]:
    """What a template may use: host name, fqdn, os-release fields, CPU count and memory, plus the
    facts declared in settings (which win)."""
    facts: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "fqdn": socket.getfqdn(),
        "cpu_count": os.cpu_count() or 1,
        "machine": platform.machine(),
        "kernel": platform.release(),
    }
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    facts["mem_total_kb"] = int(line.split()[1])
    except OSError:
        pass
    os_release: dict[str, str] = {}
    for candidate in (root / "etc/os-release", root / "usr/lib/os-release"):
        try:
            for line in candidate.read_text().splitlines():
                k, sep, v = line.partition("=")
                if sep:
                    os_release[k.lower()] = v.strip().strip('"')
            break
        except OSError:
            continue
    facts["os"] = os_release
    facts.update(extra)
    return facts


class DesiredState:
    def __init__(
        self,
        repo: VersionsRepo,
        *,
        directory: Path | None = None,
        templates: Path | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        self.repo = repo
        self.directory = directory
        self.templates = templates
        self.facts = dict(facts or {})

    def paths(self) -> set[str]:
        """Every path some desired state speaks of."""
        out: set[str] = set()
        for base, suffix in ((self.templates, ".j2"), (self.directory, "")):
            if base is None or not base.is_dir():
                continue
            for dirpath, _dirs, files in os.walk(base):
                for name in files:
                    if suffix and not name.endswith(suffix):
                        continue
                    full = Path(dirpath) / name
                    p = "/" + str(full.relative_to(base))
                    out.add(p[: -len(suffix)] if suffix else p)
        if self.repo.has(BASELINE_TAG):
            out.update(self.repo.tracked(BASELINE_TAG))
        return out

    def get(self, path: str) -> Desired | None:
        """The desired version of `path`, or None when nothing is desired for it. A template that does not
        render raises jinja2.TemplateError."""
        r = rel(path)
        if self.templates is not None:
            t = self.templates / (r + ".j2")
            if t.is_file():
                data = render(t.read_text(), self.facts).encode()
                return Desired("template", data, hashlib.sha256(data).hexdigest())
        if self.directory is not None:
            f = self.directory / r
            if f.is_file():
                data = f.read_bytes()
                return Desired("dir", data, hashlib.sha256(data).hexdigest())
        if self.repo.has(BASELINE_TAG):
            try:
                data = self.repo.content(path, BASELINE_TAG)
            except VersionsError:
                return None
            if is_placeholder(data):
                sha = data.rsplit(b" ", 1)[-1].strip().decode()
                return Desired("baseline", None, sha)
            return Desired("baseline", data, hashlib.sha256(data).hexdigest())
        return None
