"""The containers domain's questions (Docker).

NetworkEndpoint keeps every container it ever reached (EXPOSES is never deleted); its `container` property
names the one serving it now, and `state` whether it is open.
"""

from __future__ import annotations

from projections.named import DAYS, NamedQuery, Param, with_constants

QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "containers-restarted-today",
        "Which containers restarted today? (the last N days; restarts counted per container)",
        "MATCH (e:Event)-[:ACTED_ON]->(c:Container) WHERE e.type = $type AND e.ts >= $since "
        "RETURN c.host AS host, c.name AS container, c.image AS image, c.state AS state, "
        "count(e) AS restarts, max(e.ts) AS last_restart ORDER BY restarts DESC, host, container",
        (Param("days", int, 1, "look back this many days"),),
        with_constants(type="ContainerRestarted"),
    ),
    NamedQuery(
        "listening-on-port",
        "What is listening on port N, and which container serves it?",
        "MATCH (n:NetworkEndpoint)-[:EXPOSES]->(c:Container) "
        "WHERE n.host_port = $port AND n.state = $open AND n.container = c.key "
        "RETURN n.host AS host, n.host_ip AS host_ip, n.host_port AS host_port, n.protocol AS protocol, "
        "c.name AS container, c.id AS container_id, n.container_port AS container_port, "
        "c.image AS image, c.state AS state, n.updated_at AS since ORDER BY host, host_ip, protocol",
        (Param("port", int, None, "host port"),),
        with_constants(open="open"),
    ),
    NamedQuery(
        "containers-died-nonzero-this-week",
        "Which containers died with a non-zero exit code this week?",
        "MATCH (e:Event)-[:ACTED_ON]->(c:Container) WHERE e.type = $type AND e.ts >= $since "
        "AND e.exit_code <> 0 "
        "RETURN e.ts AS ts, c.host AS host, c.name AS container, c.image AS image, e.exit_code AS exit_code "
        "ORDER BY ts DESC, container",
        (DAYS,),
        with_constants(type="ContainerDied"),
    ),
)
