#!/usr/bin/env bash
# Set up on first use, then run The Watchman's embedded daemon (arguments go to `watchman run`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_venv ""
exec .venv/bin/watchman run "$@"
