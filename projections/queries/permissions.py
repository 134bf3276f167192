"""The permissions domain's questions: changes to sensitive files, new setuid and world-writable files."""

from __future__ import annotations

from projections.named import DAYS, NamedQuery, with_constants

QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "permission-changes-this-week",
        "Permission changes this week (sensitive files, new setuid/setgid and world-writable files)",
        "MATCH (e:Event)-[:ACTED_ON]->(f:WatchedFile) WHERE e.type IN $types AND e.ts >= $since "
        "RETURN e.ts AS ts, f.host AS host, f.path AS path, e.type AS change, e.summary AS summary, "
        "f.mode AS mode, f.owner AS owner, f.group_name AS group_name ORDER BY ts DESC, path",
        (DAYS,),
        with_constants(types=["PermissionChanged", "SetuidAdded", "WorldWritableAdded"]),
    ),
)
