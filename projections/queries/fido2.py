"""The FIDO2 domain's questions: what is encrypted to the keys, and when each key was last used."""

from __future__ import annotations

from projections.named import NamedQuery, Param, with_constants

QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "fido2-backups",
        "Which backups are FIDO2-encrypted? (backup jobs whose backups open with a FIDO2 key's touch)",
        "MATCH (d:EncryptedData)-[:ENCRYPTED_WITH]->(k:FIDO2Key) WHERE d.type = $backup "
        "RETURN d.host AS host, d.blob_location AS job, collect(DISTINCT k.label) AS keys, "
        "max(d.encrypted_at) AS since ORDER BY host, job",
        (),
        with_constants(backup="backup"),
    ),
    NamedQuery(
        "fido2-key-last-used",
        "When was my FIDO2 key last used? (every enrolled key: last use, uses, enrolment)",
        "MATCH (k:FIDO2Key) WHERE k.label IS NOT NULL AND ($label = $every OR k.label = $label) "
        "RETURN k.label AS label, k.host AS host, k.status AS status, k.last_used AS last_used, "
        "coalesce(k.usage_count, 0) AS usage_count, k.registered_at AS registered_at, k.uv AS uv "
        "ORDER BY label",
        (Param("label", str, "any", "the key's label, or any"),),
        with_constants(every="any"),
    ),
    NamedQuery(
        "encrypted-secrets",
        "Show me all encrypted secrets (secrets and files encrypted to the FIDO2 keys, of a type or any)",
        "MATCH (d:EncryptedData) WHERE ($type = $every OR d.type = $type) "
        "OPTIONAL MATCH (d)-[:ENCRYPTED_WITH]->(k:FIDO2Key) "
        "RETURN d.type AS type, d.blob_location AS location, d.host AS host, d.encrypted_at AS encrypted_at, "
        "d.last_decrypted AS last_decrypted, d.size_bytes AS size_bytes, collect(DISTINCT k.label) AS keys "
        "ORDER BY type, location",
        (Param("type", str, "secret", "secret, file, backup or any"),),
        with_constants(every="any"),
    ),
)
