"""Delete topics on the infra/ Kafka by name prefix, waiting until they are gone (tests and bench)."""

from __future__ import annotations

import asyncio
import contextlib


async def _delete_topics(kafka: str, prefixes: tuple[str, ...], attempts: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        ours: list[str] = []
        for _ in range(attempts):
            ours = [t for t in await admin.list_topics() if t.startswith(prefixes)]
            if not ours:
                return
            with contextlib.suppress(Exception):  # a deletion already in progress
                await admin.delete_topics(ours)
            await asyncio.sleep(0.5)
        raise RuntimeError(f"topics not deleted: {ours}")
    finally:
        await admin.close()


def delete_topics(kafka: str, *prefixes: str, attempts: int = 120) -> None:
    """Every topic whose name starts with one of `prefixes`, retried every 0.5 s (a deletion takes a
    moment to show in the metadata)."""
    asyncio.run(_delete_topics(kafka, prefixes, attempts))
