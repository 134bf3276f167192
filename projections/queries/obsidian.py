"""The Obsidian vault sync domain's questions; "today": since 00:00 UTC."""

from __future__ import annotations

from projections.named import NamedQuery, Param, since_hours, with_constants

_VAULT = Param("vault", str, "", "only this vault (its name); empty: every vault")
QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "obsidian-last-sync",
        "When was my Obsidian vault last synced?",
        "MATCH (v:ObsidianVault) WHERE $vault = '' OR v.name = $vault "
        "RETURN v.host AS host, v.name AS vault, v.last_sync AS last_sync, v.sync_status AS sync_status, "
        "v.open_conflicts AS open_conflicts, v.note_count AS notes, v.file_count AS files, "
        "v.total_size_mb AS size_mb, v.detail AS detail ORDER BY host, vault",
        (_VAULT,),
    ),
    NamedQuery(
        "obsidian-conflicts",
        "Are there any sync conflicts? (conflicts of the last N days, newest first, with what is open now)",
        "MATCH (e:ObsidianSyncEvent)-[:SYNCED]->(v:ObsidianVault) "
        "WHERE e.type = $conflict AND e.ts >= $since "
        "RETURN e.ts AS ts, v.host AS host, v.name AS vault, e.paths AS notes, e.strategy AS strategy, "
        "e.copies AS copies, e.needs_attention AS needs_attention, v.open_conflicts AS open_now, "
        "v.sync_status AS sync_status, e.detail AS detail ORDER BY ts DESC",
        (Param("days", int, 30, "look back this many days"),),
        with_constants(conflict="conflict"),
    ),
    NamedQuery(
        "obsidian-sync-events-today",
        "Show me sync events from today (hours=N: the last N hours instead)",
        "MATCH (e:ObsidianSyncEvent)-[:SYNCED]->(v:ObsidianVault) WHERE e.ts >= $since "
        "AND ($vault = '' OR v.name = $vault) "
        "RETURN e.ts AS ts, v.host AS host, v.name AS vault, e.type AS type, e.trigger AS trigger, "
        "e.files_changed AS files_changed, e.commit_hash AS commit_hash, e.detail AS detail "
        "ORDER BY ts DESC LIMIT $limit",
        (
            Param("hours", int, 0, "look back this many hours (0: today)"),
            _VAULT,
            Param("limit", int, 500, "at most this many events"),
        ),
        since_hours,
    ),
    NamedQuery(
        "obsidian-sync-history",
        "The sync history of a vault (or every vault) over the last N days, newest first",
        "MATCH (e:ObsidianSyncEvent)-[:SYNCED]->(v:ObsidianVault) WHERE e.ts >= $since "
        "AND ($vault = '' OR v.name = $vault) "
        "RETURN e.ts AS ts, v.host AS host, v.name AS vault, e.type AS type, e.trigger AS trigger, "
        "e.files_changed AS files_changed, e.commit_hash AS commit_hash, e.paths AS paths, "
        "e.strategy AS strategy, e.copies AS copies, e.detail AS detail ORDER BY ts DESC LIMIT $limit",
        (Param("days", int, 7, "look back this many days"), _VAULT, Param("limit", int, 1000, "at most")),
        with_constants(),
    ),
    NamedQuery(
        "obsidian-notes-added",
        "How many notes did I add this week? (per vault and day, from the vaults' git history)",
        "MATCH (n:ObsidianNote) WHERE n.added_at >= $since AND ($vault = '' OR n.vault = $vault) "
        "RETURN n.host AS host, n.vault AS vault, n.added_day AS day, count(n) AS notes_added "
        "ORDER BY host, vault, day",
        (Param("days", int, 7, "look back this many days"), _VAULT),
        with_constants(),
    ),
)
