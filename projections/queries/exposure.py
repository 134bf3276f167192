"""The exposure domain's questions: what is reachable from the network, and which exposed services run
vulnerable packages. Reachability = listening beyond loopback and no present drop/reject rule of an
input chain in the same namespace covering its port (the network domain's FirewallRule nodes).

The namespace is compared through `lns` (a WITH): LadybugDB evaluates coalesce() of the outer node's
null property inside an EXISTS subquery wrongly (the rule was never found), a WITH value it does not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.named import NamedQuery

_NOT_BLOCKED = (
    "NOT EXISTS { MATCH (r:FirewallRule) WHERE r.host = l.host "
    "AND coalesce(r.netns, '') = lns "
    "AND r.present = true AND lower(r.chain) CONTAINS $input "
    "AND (lower(r.target) = $drop OR lower(r.target) STARTS WITH $reject) "
    "AND (r.protocol IS NULL OR r.protocol = l.protocol) "
    "AND (r.port_set CONTAINS l.port_needle OR (r.range_lo <= l.port AND r.range_hi >= l.port)) }"
)


def _constants(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {**p, "open": "open", "input": "input", "drop": "drop", "reject": "reject"}


QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "reachable-from-network",
        "What is reachable from the network? (listening beyond loopback, not dropped by a firewall rule)",
        "MATCH (l:ListeningSocket) WHERE l.state = $open WITH l, coalesce(l.netns, '') AS lns "
        "WHERE " + _NOT_BLOCKED + " "
        "RETURN l.host AS host, l.netns AS netns, l.protocol AS protocol, l.address AS address, "
        "l.port AS port, l.process AS process, l.unit AS unit, l.container AS container, "
        "l.package AS package, l.updated_at AS since ORDER BY host, port, protocol, address",
        (),
        _constants,
    ),
    NamedQuery(
        "exposed-vulnerable-services",
        "Which exposed services run vulnerable packages? (reachable, and their package has open findings)",
        "MATCH (l:ListeningSocket), (f:Finding) WHERE l.state = $open AND f.state = $open "
        "AND f.software = l.software WITH l, f, coalesce(l.netns, '') AS lns WHERE " + _NOT_BLOCKED + " "
        "RETURN l.host AS host, l.port AS port, l.protocol AS protocol, l.process AS process, "
        "l.package AS package, f.vulnerability AS vulnerability, f.severity AS severity, "
        "f.fixed_version AS fixed_version, f.found_at AS vulnerable_since "
        "ORDER BY host, port, vulnerability",
        (),
        _constants,
    ),
)
