"""The Kafka bus's machinery: aiokafka clients on a private event loop, called synchronously with a bound."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)

from schemas.topics import COMPRESSION

log = logging.getLogger(__name__)

T = TypeVar("T")

# Errors that mean "the broker is not there (any more)", as opposed to "the request was wrong".
UNAVAILABLE = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError)

# How often a wait for records looks at the caller's `stop` (Ctrl-C must stay quick).
STOP_CHECK_SECONDS = 0.25


class _Hush(logging.Filter):
    """Drops what aiokafka logs on this thread inside `hushed()`: assigning and unassigning the
    waiter's partitions, twice a second when idle, is not news (`watchman project -v` printed it)."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self._local, "on", False)

    @contextlib.contextmanager
    def hushed(self) -> Iterator[None]:
        self._local.on = True
        try:
            yield
        finally:
            self._local.on = False


HUSH = _Hush()
for _name in ("aiokafka.consumer.subscription_state", "aiokafka.consumer.consumer"):
    logging.getLogger(_name).addFilter(HUSH)


class _RetriableCoordinatorLookup(logging.Filter):
    """aiokafka logs every failed group-coordinator lookup at ERROR, also the retriable ones it retries
    itself: on a fresh Kafka the first lookup always fails while the broker creates __consumer_offsets
    (`watchman produce --once` printed GroupCoordinatorNotAvailableError and then succeeded). Those
    are told at INFO, through our logger; a lookup that fails for good still comes through as ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != "Group Coordinator Request failed: %s" or not isinstance(record.args, tuple):
            return True
        err = record.args[0] if record.args else None
        if not getattr(err, "retriable", False):
            return True
        log.info("Kafka group coordinator not available yet (%s); retrying", err)
        return False


logging.getLogger("aiokafka.consumer.group_coordinator").addFilter(_RetriableCoordinatorLookup())


class BusUnavailable(ConnectionError):
    """The Kafka broker could not be reached (or stopped answering) within the time bound."""


class KafkaClients:
    """aiokafka on a private event loop: one loop runs in a daemon thread and every call submits a
    coroutine to it and waits for the result with a bound, so a dead broker turns into
    `BusUnavailable` rather than a hang. The clients live on that loop and are created on first use:
    one idempotent producer, one group-less consumer for reads, one for offset queries, one that waits
    for new records, an admin client, and one consumer per group (manually assigned, never joining)
    for commits.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "watchman",
        replication_factor: int = 1,
        connect_timeout: float = 10.0,
        request_timeout: float = 30.0,
        read_wait: float = 5.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.replication_factor = replication_factor
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._read_wait = read_wait
        self._partitions: dict[str, int] = {}
        self._producer: Any = None
        self._reader: Any = None
        self._offsets: Any = None
        self._admin: Any = None
        self._waiter: Any = None
        self._groups: dict[str, Any] = {}
        # Where the reads consumer stands, so a read that continues the previous one keeps the
        # prefetched records instead of seeking (which drops them).
        self._read_next: tuple[TopicPartition, int] | None = None
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="watchman-kafka", daemon=True)
        self._thread.start()
        self._start_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        self._group_lock = asyncio.Lock()
        self._wait_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"KafkaBus({self.bootstrap!r})"

    # -- running coroutines on the private loop -------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self!r} is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("KafkaBus must not be called from its own event loop")
        bound = self._request_timeout if timeout is None else timeout
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(bound)
        except TimeoutError:
            fut.cancel()
            raise BusUnavailable(f"Kafka at {self.bootstrap} did not answer within {bound:.0f} s") from None
        except UNAVAILABLE as e:
            raise BusUnavailable(f"Kafka at {self.bootstrap} is unavailable: {e}") from e

    async def _start(self, client: Any) -> Any:
        try:
            await asyncio.wait_for(client.start(), self._connect_timeout)
        except (*UNAVAILABLE, TimeoutError) as e:
            # A half-started client keeps sockets and background tasks: stop it before giving up.
            await self._stop(client)
            why = "no answer" if isinstance(e, TimeoutError) else str(e)
            raise BusUnavailable(
                f"cannot reach Kafka at {self.bootstrap} within {self._connect_timeout:.0f} s ({why})"
            ) from e
        return client

    @staticmethod
    async def _stop(client: Any) -> None:
        try:
            await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
        except Exception:  # closing must not hide the error that made us close
            log.debug("error while closing a Kafka client", exc_info=True)

    def _common(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap,
            "client_id": self.client_id,
            "request_timeout_ms": int(self._request_timeout * 1000),
        }

    async def _admin_client(self) -> Any:
        async with self._start_lock:
            if self._admin is None:
                self._admin = await self._start(AIOKafkaAdminClient(**self._common()))
            return self._admin

    async def _producer_client(self) -> Any:
        async with self._start_lock:
            if self._producer is None:
                self._producer = await self._start(
                    AIOKafkaProducer(
                        **self._common(),
                        acks="all",
                        enable_idempotence=True,
                        # Batches are built whole in _append: lingering would only delay the last one.
                        linger_ms=0,
                        max_batch_size=256 * 1024,
                        compression_type=COMPRESSION,
                    )
                )
            return self._producer

    async def _plain_consumer(self, attr: str, **options: Any) -> Any:
        """A consumer outside any group, started on first use and kept in attribute `attr`."""
        async with self._start_lock:
            if getattr(self, attr) is None:
                options.update(group_id=None, enable_auto_commit=False)
                setattr(self, attr, await self._start(AIOKafkaConsumer(**self._common(), **options)))
            return getattr(self, attr)

    async def _reader_client(self) -> Any:
        return await self._plain_consumer(
            "_reader",
            # Only reached when the requested offset was removed by retention: the port skips such
            # records, i.e. continues at the oldest retained one.
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    async def _offsets_client(self) -> Any:
        # Its own consumer (own connection): the broker answers one request per connection at a
        # time, so a ListOffsets behind the reader's long-polling fetch would wait for it.
        return await self._plain_consumer("_offsets")

    async def _waiter_client(self) -> Any:
        # Its own consumer (own connection) whose fetch the broker holds until a record arrives or
        # fetch_max_wait_ms passes; the reads consumer keeps its assignment and prefetched records.
        return await self._plain_consumer(
            "_waiter",
            # A position below the oldest retained record continues at that record; one past the end
            # (a recreated topic) restarts at the beginning, and what it finds below the position
            # does not count.
            auto_offset_reset="earliest",
            # The broker answers at once when a record arrives; this only spaces the empty answers of
            # an idle wait.
            fetch_max_wait_ms=1000,
            # Its background routine wakes on fetches and seeks anyway; the timer only adds idle
            # wake-ups (five a second by default).
            consumer_timeout_ms=1000,
        )

    async def _group_client(self, group: str) -> Any:
        async with self._start_lock:
            consumer = self._groups.get(group)
            if consumer is None:
                consumer = self._groups[group] = await self._start(
                    AIOKafkaConsumer(
                        **self._common(),
                        group_id=group,
                        enable_auto_commit=False,
                        auto_offset_reset="earliest",
                    )
                )
            return consumer
