"""`python -m bench.tuned_worker worker ...`: the Faust worker with the two settings the profile points at.

A benchmark variant, not the product: it shows in the same run what these two changes to
watchman/distributed.py and processors/faust_app.py would buy (see docs/performance.md):
  - Faust's terminal spinner off: with it, faust.Worker sets the ROOT logger to DEBUG and routes every
    debug record of Faust and aiokafka to a spinner handler, even when stdout is no terminal;
  - producer_linger 5 ms: each domain record was otherwise a produce request of its own (acks=all).
"""

from __future__ import annotations

import sys
from typing import Any

LINGER_SECONDS = 0.005


def patch() -> None:
    import faust
    import faust.worker

    worker_init = faust.worker.Worker.__init__
    app_init = faust.App.__init__

    def init_worker(self: Any, *args: Any, **kwargs: Any) -> None:
        worker_init(self, *args, **kwargs)
        self.spinner = None

    def init_app(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("producer_linger", LINGER_SECONDS)
        app_init(self, *args, **kwargs)

    faust.worker.Worker.__init__ = init_worker  # type: ignore[method-assign]
    faust.App.__init__ = init_app  # type: ignore[method-assign]


def only_routes() -> None:
    """BENCH_WORKER_ROUTES=name,name: the worker runs only these routes' agents (a trial: what do the
    other domains' idle agents, tables and changelog topics cost the packages agent?)."""
    import os

    names = os.environ.get("BENCH_WORKER_ROUTES")
    if not names:
        return
    import processors.faust_app
    from processors.registry import ROUTES

    keep = set(names.split(","))
    # create_app reads the module's global ROUTES (imported from the registry) when it builds the agents
    setattr(processors.faust_app, "ROUTES", tuple(r for r in ROUTES if r.name in keep))  # noqa: B010


def main() -> None:
    patch()
    only_routes()
    from watchman.cli import main as watchman

    sys.argv = ["watchman", *sys.argv[1:]]
    watchman()


if __name__ == "__main__":
    main()
