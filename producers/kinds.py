"""Every kind of `watchman parse`, collected from what each producer package declares (its kinds.py)."""

from __future__ import annotations

from producers.authlog import kinds as authlog
from producers.docker import kinds as docker
from producers.journald import kinds as journald
from producers.network import kinds as network
from producers.packages import kinds as packages
from producers.parse_kind import ParseKind
from producers.runners import kinds as runners
from producers.vulnerabilities import kinds as vulnerabilities

# One line per producer package that declares parse kinds.
KINDS: dict[str, ParseKind] = {
    k.name: k
    for k in (
        *packages.KINDS,
        *journald.KINDS,
        *authlog.KINDS,
        *network.KINDS,
        *docker.KINDS,
        *runners.KINDS,
        *vulnerabilities.KINDS,
    )
}
