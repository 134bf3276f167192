"""The retention domain's questions. A RetentionEvent is one run of a policy (dry_run: a preview); its
`records` and `bytes` are what it removed (or would). Soft-deleted records carry `deleted_at`: exclude
them with `WHERE n.deleted_at IS NULL` (on LadybugDB the column exists once a soft delete has marked the
label; docs/domains/retention.md)."""

from __future__ import annotations

from projections.named import NamedQuery, Param, with_constants

# The labels that grow with time (one node per thing that happened), each with its `ts`.
TIMED = ("LogEvent", "ServiceMetrics", "Event", "Login", "SudoCommand", "ObsidianSyncEvent", "ConfigVersion")

QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "retention-will-free",
        "How much disk space will retention purge free up? (per policy, its latest preview: records and "
        "bytes it would remove; `watchman retention preview` asks afresh)",
        "MATCH (e:RetentionEvent)-[:APPLIED]->(p:RetentionPolicy) WHERE e.dry_run = true "
        "WITH p, max(e.ts) AS latest "
        "MATCH (e:RetentionEvent)-[:APPLIED]->(p) WHERE e.dry_run = true AND e.ts = latest "
        "RETURN p.name AS policy, p.label AS label, e.action AS action, e.records AS records, "
        "e.bytes AS bytes, e.oldest AS oldest, e.newest AS newest, e.ts AS previewed_at ORDER BY policy",
    ),
    NamedQuery(
        "last-retention-purge",
        "When was the last retention purge? (the latest runs that removed records, newest first)",
        "MATCH (e:RetentionEvent)-[:APPLIED]->(p:RetentionPolicy) WHERE e.dry_run = false "
        "RETURN e.ts AS ts, p.name AS policy, e.label AS label, e.action AS action, e.records AS records, "
        "e.bytes AS bytes, e.cutoff AS cutoff, e.archive AS archive ORDER BY ts DESC, policy LIMIT $limit",
        (Param("limit", int, 10, "how many runs"),),
    ),
    NamedQuery(
        "exempted-records",
        "Show me exempted records (exemptions added through the API: record, tag, date range; and why)",
        "MATCH (x:RetentionExemption) RETURN x.id AS id, x.label AS label, x.record_key AS record, "
        "x.tag AS tag, "
        "x.from_ts AS from_ts, x.to_ts AS to_ts, x.reason AS reason, x.created_at AS created_at "
        "ORDER BY created_at, id",
    ),
    NamedQuery(
        "oldest-data",
        "What's the oldest data in the system? (per growing label: oldest, newest, how many)",
        " UNION ALL ".join(
            f"MATCH (n:{label}) WITH count(n) AS records, min(n.ts) AS oldest, max(n.ts) AS newest "
            f"WHERE records > 0 RETURN $label{i} AS label, oldest, newest, records"
            for i, label in enumerate(TIMED)
        ),
        (),
        with_constants(**{f"label{i}": label for i, label in enumerate(TIMED)}),
    ),
)
