#!/usr/bin/env bash
# Set up on first use, then run every check CI runs: lint, format, types, import rules, the test suite
# against real servers (Kafka and Neo4j started from infra/, stopped again at the end).
# Arguments go to pytest, e.g. scripts/test.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_venv "dev"
# Real tools the tests drive (a test never skips because one is missing): the list and why each is
# there is scripts/dev-deps.sh (`scripts/dev-deps.sh` prints it).
scripts/dev-deps.sh install
export PATH="$PWD/.venv/bin:$PATH"
# One command per line: under `set -e` a failure on the left of `&&` does not stop the script (a lint
# error once scrolled past and CI went on to pass).
echo "== ruff"
ruff check . infra/services
ruff format --check . infra/services
echo "== mypy (strict, every package)"
mypy
echo "== import rules"
lint-imports
echo "== servers (Kafka, Neo4j) from infra/"
# Stop them at the end only if this run started them (a developer's running pair stays up).
if ! infra/services status >/dev/null 2>&1 && [ -z "${WATCHMAN_KEEP_SERVICES:-}" ]; then
    trap 'infra/services down all >/dev/null 2>&1 || true' EXIT
fi
infra/services up all
eval "$(infra/services env)"
echo "== pytest"
# Test modules run in parallel, whole modules per worker (--dist loadfile: a module's fixtures and servers
# are set up once); modules marked `servers` still take turns on Kafka and Neo4j (tests/conftest.py).
# WATCHMAN_TEST_WORKERS=0 runs in one process; arguments after it (e.g. -n 0) win.
pytest -n "${WATCHMAN_TEST_WORKERS:-3}" --dist loadfile --durations=30 -m "not alone" "$@"
# Then the modules marked `alone`, with nothing beside them (exit 5: none among the tests asked for).
rc=0
pytest -m alone "$@" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 5 ] || exit "$rc"
