"""Build real journal files for tests: export-format entries -> systemd-journal-remote -> FILE.journal."""

from __future__ import annotations

import struct
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
BOOT_ID = uuid.UUID("7a1f0c3e2b4d4e5f8a9b0c1d2e3f4a5b").hex
MACHINE_ID = uuid.UUID("0123456789abcdef0123456789abcdef").hex

# The catalog ids systemd (PID 1) gives its messages about units.
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"
UNIT_STOPPED = "9d1aaa27d60140bd96365438aad20286"
UNIT_RELOADED = "7b05ebc668384222baa8881179cfda54"
UNIT_RESULT = "d9b373ed55a64feb8242e02dbe79a49c"
UNIT_PROCESS_EXIT = "98e322203f7a4ed290d09fe03c09fe15"
UNIT_RESTART_SCHEDULED = "5eb03494b6584870a536b337290809b3"
UNIT_OUT_OF_MEMORY = "fe6faa94e7774663a0da52717891d8ef"


@dataclass
class Entries:
    """Export-format entries with realistic trusted fields; `seq` keeps monotonic time increasing."""

    host: str = "testhost"
    items: list[dict[str, str | bytes]] = field(default_factory=list)

    def add(self, ts: datetime, message: str | bytes, **fields: str | bytes | int) -> None:
        usec = int(ts.astimezone(UTC).timestamp() * 1_000_000)
        entry: dict[str, str | bytes] = {
            "__REALTIME_TIMESTAMP": str(usec),
            "__MONOTONIC_TIMESTAMP": str(1_000_000 + len(self.items)),
            "_BOOT_ID": BOOT_ID,
            "_MACHINE_ID": MACHINE_ID,
            "_HOSTNAME": self.host,
            "MESSAGE": message,
        }
        entry.update({k: v if isinstance(v, bytes) else str(v) for k, v in fields.items()})
        self.items.append(entry)

    def systemd(self, ts: datetime, message: str, unit: str, message_id: str, **fields: str | int) -> None:
        """A message of the service manager (PID 1) about `unit`."""
        self.add(
            ts,
            message,
            PRIORITY=6,
            SYSLOG_IDENTIFIER="systemd",
            _PID=1,
            _UID=0,
            _COMM="systemd",
            _TRANSPORT="journal",
            _SYSTEMD_UNIT="init.scope",
            UNIT=unit,
            MESSAGE_ID=message_id,
            **fields,
        )

    def service_log(
        self, ts: datetime, unit: str, message: str | bytes, priority: int = 6, pid: int = 4242
    ) -> None:
        ident = unit.split(".", maxsplit=1)[0]
        self.add(
            ts,
            message,
            PRIORITY=priority,
            SYSLOG_IDENTIFIER=ident,
            _PID=pid,
            _UID=0,
            _COMM=ident,
            _TRANSPORT="stdout",
            _SYSTEMD_UNIT=unit,
        )

    def auth(self, ts: datetime, ident: str, message: str, *, unit: str, pid: int, priority: int = 5) -> None:
        """A line of an authentication program (sshd, sudo, su) to the auth facility."""
        self.add(
            ts,
            message,
            PRIORITY=priority,
            SYSLOG_IDENTIFIER=ident,
            SYSLOG_FACILITY=10,
            _PID=pid,
            _COMM=ident,
            _TRANSPORT="syslog",
            _SYSTEMD_UNIT=unit,
        )

    def ssh_failed(
        self, ts: datetime, ip: str, user: str, *, port: int, pid: int, valid: bool = False
    ) -> int:
        """One failed password attempt as OpenSSH 9 on Debian logs it (one connection, one pid); returns
        the number of lines. An unknown user gets "Invalid user" and PAM's "user unknown" first."""
        lines: list[str] = []
        if valid:
            lines += [
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                f"rhost={ip}  user={user}",
                f"Failed password for {user} from {ip} port {port} ssh2",
                f"Connection closed by authenticating user {user} {ip} port {port} [preauth]",
            ]
        else:
            lines += [
                f"Invalid user {user} from {ip} port {port}",
                "pam_unix(sshd:auth): check pass; user unknown",
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                f"rhost={ip}",
                f"Failed password for invalid user {user} from {ip} port {port} ssh2",
                f"Received disconnect from {ip} port {port}:11: Bye Bye [preauth]",
                f"Disconnected from invalid user {user} {ip} port {port} [preauth]",
            ]
        for i, message in enumerate(lines):
            self.auth(ts + timedelta(milliseconds=i), "sshd", message, unit="ssh.service", pid=pid)
        return len(lines)


def export_format(entries: Iterable[Mapping[str, str | bytes]]) -> bytes:
    """The journal export format: FIELD=value lines; a value with a newline or odd bytes in binary form."""
    out = bytearray()
    for entry in entries:
        for key, value in entry.items():
            raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
            if b"\n" in raw or isinstance(value, bytes):
                out += key.encode() + b"\n" + struct.pack("<Q", len(raw)) + raw + b"\n"
            else:
                out += key.encode() + b"=" + raw + b"\n"
        out += b"\n"
    return bytes(out)


def build_journal(path: Path, entries: Entries | Iterable[Mapping[str, str | bytes]]) -> Path:
    """Write a real .journal file at `path` (which must end in .journal and not exist yet)."""
    items = entries.items if isinstance(entries, Entries) else list(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [JOURNAL_REMOTE, f"--output={path}", "-"],
        input=export_format(items),
        capture_output=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0 or not path.exists():
        raise RuntimeError(f"systemd-journal-remote exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return path
