"""Answer a raw record seen before with the decisions it made then (pure; state in a Table).

Under at-least-once delivery a raw record can come again after its decisions were made, and the
table state may already include its effect (counts, windows). Deciding it again would count it twice;
answering nothing would lose the outputs if they were never written. So the last few decisions per
entity are remembered and repeated verbatim: same ids, so a no-op downstream if they did arrive.
"""

from __future__ import annotations

from typing import Any

from processors.tables import Table
from schemas.envelope import Envelope

KEEP = 16


def recall(table: Table, key: str, raw_id: str) -> list[Envelope] | None:
    """The outputs of `raw_id` if it was decided before, else None."""
    memo: list[list[Any]] = table.get(f"memo/{key}") or []
    for rid, outs in memo:
        if rid == raw_id:
            return [Envelope.model_validate(o) for o in outs]
    return None


def remember(table: Table, key: str, raw_id: str, outputs: list[Envelope]) -> list[Envelope]:
    memo: list[list[Any]] = table.get(f"memo/{key}") or []
    memo.append([raw_id, [o.model_dump(mode="json") for o in outputs]])
    table.set(f"memo/{key}", memo[-KEEP:])
    return outputs
