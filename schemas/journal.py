"""Which journal entries the processors read: the journald producer's default filter, declared once (pure).

The services and security processors decide from a small part of a busy journal: the service manager's
messages about units, errors and warnings (by priority, or by an ERROR/WARN word in the text, since
services that log to stdout get priority 6 for every line), the kernel's OOM kills, and the lines of
the login programs. Everything else (info, notice and debug lines of ordinary services) is most of the
volume and decides nothing; the producer drops it unless `max_priority` is raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.events.services import JournalEntryObserved

# An error or warning word in a line's text: a ServiceLogged even at a mild priority.
ERROR_WORDS = re.compile(
    r"\b(?:error|fatal|critical|crit|emerg|panic)\b|\[(?:error|crit|alert|emerg)\]", re.I
)
WARN_WORDS = re.compile(r"\bwarn(?:ing)?\b|\[warn\]", re.I)

# Programs whose info-level lines the processors read: logins, sudo, su (security) and the service
# manager's own texts (older systemd writes no MESSAGE_ID; "Scheduled restart job" is info-level).
PROGRAMS: tuple[str, ...] = ("sshd", "sshd-session", "sudo", "su", "login", "systemd")
MAX_PRIORITY = 4  # ordinary lines: warning and worse
PROGRAMS_MAX_PRIORITY = 6  # the programs above: info and worse (never debug)


@dataclass(frozen=True)
class JournalFilter:
    """Keep an entry when a processor may decide from it (see the module's docstring)."""

    max_priority: int = MAX_PRIORITY
    programs: frozenset[str] = frozenset(PROGRAMS)
    programs_max_priority: int = PROGRAMS_MAX_PRIORITY

    def wanted(self, obs: JournalEntryObserved) -> bool:
        p = obs.priority
        if p is None or obs.object_unit is not None or p <= self.max_priority:
            return True  # the service manager's messages about units are info-level: always kept
        program = obs.identifier or obs.comm
        if program in self.programs and p <= self.programs_max_priority:
            return True
        msg = obs.message
        if obs.transport == "kernel" and "oom-kill:" in msg:
            return True
        if msg.startswith("pam_unix(") and "authentication failure" in msg:
            return True  # any PAM service's failed login
        return bool(ERROR_WORDS.search(msg) or WARN_WORDS.search(msg))
