"""The services domain's questions (journald lifecycle, logs, metrics, health); "today": since 00:00 UTC."""

from __future__ import annotations

from projections.named import NamedQuery, Param, since_hours

_SERVICE = Param("service", str, None, "unit name (nginx or nginx.service)")
QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "services-high-cpu",
        "Which services are using >90% CPU? (latest sample within the last N minutes; 100 = one core)",
        "MATCH (s:Service) WHERE s.cpu_percent > $threshold AND s.metrics_at >= $since "
        "RETURN s.host AS host, s.name AS service, s.cpu_percent AS cpu_percent, s.rss_bytes AS rss_bytes, "
        "s.metrics_at AS at ORDER BY cpu_percent DESC, host, service",
        (
            Param("threshold", int, 90, "CPU percent"),
            Param("minutes", int, 5, "only samples this recent"),
        ),
        since_hours,
    ),
    NamedQuery(
        "service-logs",
        "Show nginx error logs from today (--param service=NAME, level=error|warning|any, hours=N)",
        "MATCH (l:LogEvent)-[:LOGGED_BY]->(s:Service) "
        "WHERE (s.name = $unit OR s.name = $unit_service) AND l.ts >= $since "
        "AND l.level IN $levels "
        "RETURN l.ts AS ts, s.host AS host, s.name AS service, l.level AS level, l.priority AS priority, "
        "l.message AS message, l.suppressed AS suppressed ORDER BY ts DESC LIMIT $limit",
        (
            _SERVICE,
            Param("level", str, "error", "error, warning or any"),
            Param("hours", int, 0, "look back this many hours (0: today)"),
            Param("limit", int, 200, "at most this many rows"),
        ),
        since_hours,
    ),
    NamedQuery(
        "services-restarted",
        "What services restarted in the last hour? (restart jobs, scheduled restarts, auto-restarts)",
        "MATCH (e:Event)-[:ACTED_ON]->(s:Service) WHERE e.ts >= $since "
        "AND e.action IN $actions "
        "RETURN s.host AS host, s.name AS service, count(e) AS restarts, max(e.ts) AS last_restart, "
        "s.state AS state, s.restarts AS restart_counter ORDER BY restarts DESC, host, service",
        (Param("minutes", int, 60, "look back this many minutes"),),
        lambda p, now: {**since_hours(p, now), "actions": ["restart", "restart-scheduled", "auto-restart"]},
    ),
    NamedQuery(
        "service-memory",
        "Graph memory usage for postgres over the last 24 h (one row per minute sampled)",
        "MATCH (m:ServiceMetrics)-[:METRICS_FOR]->(s:Service) "
        "WHERE (s.name = $unit OR s.name = $unit_service) AND m.ts >= $since "
        "RETURN m.ts AS ts, s.host AS host, s.name AS service, m.rss_bytes AS rss_bytes, "
        "m.cpu_percent AS cpu_percent, m.processes AS processes ORDER BY ts, host",
        (_SERVICE, Param("hours", int, 24, "look back this many hours (0: today)")),
        since_hours,
    ),
)
