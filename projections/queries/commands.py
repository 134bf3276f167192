"""The commands domain's questions (the audit trail of what the product was asked to do)."""

from __future__ import annotations

from projections.named import NamedQuery, Param

QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "command-status",
        "What became of a command (by the id the admin API returned)",
        "MATCH (c:Command) WHERE c.id = $id "
        "RETURN c.id AS id, c.type AS type, c.host AS host, c.status AS status, c.detail AS detail, "
        "c.issued_by AS issued_by, c.params AS params, c.finished_at AS finished_at",
        (Param("id", str, None, "command id"),),
    ),
)
