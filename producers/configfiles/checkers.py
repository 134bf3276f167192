"""Validating a config file (I/O): each application's own checker, or a syntax check for data formats.

`nginx -t -c`, `sshd -t -f`, `visudo -c -f`, `systemd-analyze verify`, `named-checkconf`, `haproxy -c -f`
when installed; JSON, YAML, TOML and INI by their parsers. A file included by an application's main file
(an nginx site, an sshd_config.d snippet) is checked through the main file, since only the whole
configuration means anything to the application. A checker that is not installed checks nothing.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import shutil
import subprocess
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml  # type: ignore[import-untyped]

TIMEOUT = 60.0
MAX_MESSAGE = 4000


@dataclass(frozen=True)
class Checker:
    """A command template over `{path}` (the file to check), and the main file it checks when the
    changed file is only a part (None: the file itself)."""

    name: str
    command: tuple[str, ...]
    main: str | None = None


@dataclass(frozen=True)
class AppSpec:
    """A declared application: its files, how to check, reload and health-check it (from settings)."""

    name: str
    paths: tuple[str, ...] = ()  # shell patterns of its files
    main: str | None = None
    check: tuple[str, ...] = ()  # command template with {path}
    reload: tuple[str, ...] = ()  # command template with {path} (the main file)
    health_url: str | None = None
    health_tcp: str | None = None  # host:port
    health_command: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def owns(self, path: str) -> bool:
        return path == self.main or any(fnmatch.fnmatchcase(path, p) for p in self.paths)


# The built-in checkers: (path patterns, checker). Patterns are over the path on the host.
BUILTIN: tuple[tuple[tuple[str, ...], Checker], ...] = (
    (("/etc/nginx/nginx.conf",), Checker("nginx -t", ("nginx", "-t", "-q", "-c", "{path}"))),
    (
        ("/etc/nginx/*",),
        Checker("nginx -t", ("nginx", "-t", "-q", "-c", "{path}"), main="/etc/nginx/nginx.conf"),
    ),
    (("/etc/ssh/sshd_config",), Checker("sshd -t", ("sshd", "-t", "-f", "{path}"))),
    (
        ("/etc/ssh/sshd_config.d/*",),
        Checker("sshd -t", ("sshd", "-t", "-f", "{path}"), main="/etc/ssh/sshd_config"),
    ),
    (("/etc/sudoers", "/etc/sudoers.d/*"), Checker("visudo -c", ("visudo", "-c", "-q", "-f", "{path}"))),
    (
        (
            "/etc/systemd/system/*.service",
            "/etc/systemd/system/*.socket",
            "/etc/systemd/system/*.timer",
            "/etc/systemd/system/*.mount",
            "/etc/systemd/system/*.path",
        ),
        Checker("systemd-analyze verify", ("systemd-analyze", "verify", "{path}")),
    ),
    (("/etc/bind/named.conf",), Checker("named-checkconf", ("named-checkconf", "{path}"))),
    (("/etc/haproxy/haproxy.cfg",), Checker("haproxy -c", ("haproxy", "-c", "-q", "-f", "{path}"))),
)
SYNTAX = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".ini": "ini"}


@dataclass(frozen=True)
class Result:
    checker: str
    ok: bool
    message: str
    checked: str  # the file the checker read (the main file for a part)


def checker_for(path: str, apps: Sequence[AppSpec] = ()) -> Checker | None:
    """The checker of `path`: a declared application's first, then a built-in one (if installed), then
    a syntax check by extension; None when nothing can check it."""
    for app in apps:
        if app.check and app.owns(path):
            main = app.main if app.main and app.main != path else None
            return Checker(f"{app.name} check", app.check, main=main)
    for patterns, checker in BUILTIN:
        if any(fnmatch.fnmatchcase(path, p) for p in patterns) and shutil.which(checker.command[0]):
            return checker
    kind = SYNTAX.get(Path(path).suffix.lower())
    if kind is not None:
        return Checker(kind, ())
    return None


def _syntax(kind: str, data: bytes) -> str | None:
    """The parser's complaint, or None when the data parses."""
    try:
        if kind == "json":
            json.loads(data)
        elif kind == "yaml":
            list(yaml.safe_load_all(data))
        elif kind == "toml":
            tomllib.loads(data.decode("utf-8"))
        elif kind == "ini":
            configparser.ConfigParser(interpolation=None).read_string(data.decode("utf-8"))
    except (ValueError, yaml.YAMLError, configparser.Error, UnicodeDecodeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def run(checker: Checker, real: Path, *, shown_as: str | None = None, secret: bool = False) -> Result:
    """Check the file at `real` (a candidate may sit at a temporary path: messages name `shown_as`).

    The output of a checker over a secret file is withheld: checkers quote the lines they refuse."""
    shown = shown_as or str(real)
    if not checker.command:
        try:
            complaint = _syntax(checker.name, real.read_bytes())
        except OSError as exc:
            return Result(checker.name, False, f"cannot read: {exc.strerror}", shown)
        if secret and complaint:
            complaint = "refused (output withheld: the file holds secrets)"
        return Result(checker.name, complaint is None, complaint or "", shown)
    argv = [part.replace("{path}", str(real)) for part in checker.command]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Result(checker.name, False, f"{argv[0]}: {type(exc).__name__}: {exc}", shown)
    message = (proc.stderr + proc.stdout).strip().replace(str(real), shown)
    if secret:
        message = (
            "" if proc.returncode == 0 else f"refused, exit {proc.returncode} (output withheld: secrets)"
        )
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + " …"
    return Result(checker.name, proc.returncode == 0, message, shown)
