"""The security domain's questions (logins, sudo, su). "today" is since midnight UTC."""

from __future__ import annotations

from projections.named import NamedQuery, Param, since_hours

QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "failed-logins-by-ip",
        "Failed logins in the last 24 h by source IP",
        "MATCH (l:Login) WHERE l.success = false AND l.ts >= $since "
        "RETURN l.source_ip AS source_ip, sum(coalesce(l.count, 1)) AS attempts, "
        "count(DISTINCT l.user) AS users, "
        "min(l.ts) AS first, max(l.ts) AS last ORDER BY attempts DESC, source_ip",
        (Param("hours", int, 24, "look back this many hours (0: today)"),),
        since_hours,
    ),
    NamedQuery(
        "sudo-by-user",
        "Sudo commands by user today (allowed and refused)",
        "MATCH (c:SudoCommand)-[:BY_USER]->(u:User) WHERE c.ts >= $since "
        "RETURN u.name AS user, c.ts AS ts, c.host AS host, c.target_user AS target_user, "
        "c.command AS command, c.cwd AS cwd, c.tty AS tty, c.allowed AS allowed "
        "ORDER BY user, ts",
        (Param("hours", int, 0, "look back this many hours (0: today)"),),
        since_hours,
    ),
)
