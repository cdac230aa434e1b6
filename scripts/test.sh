#!/usr/bin/env bash
# The test command: installs what it needs into .venv, then lints, type-checks and runs the suite.
# Extra arguments go to pytest (e.g. -m "not slow", -k resubmission).
# Set WA_MONITOR_TEST_DATABASE_URL to use an existing PostgreSQL instead of the embedded one.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
.venv/bin/ruff check src tests
.venv/bin/ruff format --check src tests
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/pytest "$@"
