#!/usr/bin/env bash
# The test command: installs what it needs into .venv, then lints, type-checks and runs the suite.
# Extra arguments go to pytest (e.g. -m "not slow", -k resubmission).
# Set WA_MONITOR_TEST_DATABASE_URL to use an existing PostgreSQL instead of the embedded one.
set -euo pipefail
cd "$(dirname "$0")/.."
# The deployment tests check the units with systemd-analyze (Debian's systemd package) and rotate
# logs with the real logrotate; the dashboard's browser tests drive Debian's chromium (Playwright
# cannot download a browser here, and needs none of its own). Install them when missing and we
# may (root with apt-get); otherwise those tests are skipped with a reason.
missing=""
command -v systemd-analyze >/dev/null || missing="$missing systemd"
command -v logrotate >/dev/null || missing="$missing logrotate"
# (with a font: without recommends, chromium brings none, and screenshots would show boxes)
[ -x /usr/bin/chromium ] || missing="$missing chromium fonts-liberation"
# (and one for emoji: the feedback text ends in ✅, the log lines in 🔄)
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing="$missing fonts-noto-color-emoji"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
    else
        echo "note:$missing not installed: the unit, logrotate and browser checks will be skipped" >&2
    fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/pytest "$@"
