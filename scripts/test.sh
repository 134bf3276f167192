#!/usr/bin/env bash
# Set up on first use, then run every check CI runs: lint, format, types, import rules, the test suite.
# Arguments go to pytest, e.g. scripts/test.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_venv "dev"
# Real tools the tests drive (a test never skips because one is missing).
ensure_debian_packages logrotate:logrotate
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff" && ruff check . && ruff format --check .
echo "== mypy (strict, every package)" && mypy
echo "== import rules" && lint-imports
echo "== pytest" && pytest "$@"
