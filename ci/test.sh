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
# Two workers (pytest-xdist): the QEMU boots of the e2e tests run two at a time; the asset
# cache and the guest builds are safe to share (file lock, atomic renames). Serial:
# BOOTPROOF_TEST_WORKERS=0.
echo "== pytest (${BOOTPROOF_TEST_WORKERS:-2} workers)"
.venv/bin/pytest -n "${BOOTPROOF_TEST_WORKERS:-2}" "$@"
