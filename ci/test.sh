#!/usr/bin/env bash
# The project's test command: set-up, lint, type check, then the whole test suite.
# Extra arguments go to pytest (e.g. `bash ci/test.sh -k xous -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"
