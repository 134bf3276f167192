"""Questions about the alerts the delivery stage handed on (every domain's; docs/domains/alerts.md)."""

from __future__ import annotations

from projections.named import DAYS, NamedQuery, with_constants

QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "alerts-firing",
        "Which alerts are firing now? (delivered firing, not resolved, not past their end)",
        "MATCH (a:Alert) WHERE a.state = $firing AND (a.ends_at IS NULL OR a.ends_at > $now) "
        "RETURN a.host AS host, a.name AS alert, a.subject AS subject, a.severity AS severity, "
        "a.summary AS summary, a.starts_at AS since, a.delivered_at AS delivered_at, "
        "a.receivers AS receivers "
        "ORDER BY since DESC, host, alert",
        (),
        lambda p, now: {"firing": "firing", "now": now},
    ),
    NamedQuery(
        "alerts-delivered",
        "Which alerts were delivered in the last N days, and their state now?",
        "MATCH (a:Alert) WHERE a.delivered_at >= $since "
        "RETURN a.host AS host, a.name AS alert, a.subject AS subject, a.state AS state, "
        "a.severity AS severity, a.summary AS summary, a.starts_at AS starts_at, a.ends_at AS ends_at, "
        "a.delivered_at AS delivered_at ORDER BY delivered_at DESC, host, alert",
        (DAYS,),
        with_constants(),
    ),
)
