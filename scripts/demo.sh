#!/usr/bin/env bash
# The demo: installs wa-monitor into .venv, then runs prod and dev side by side on an embedded
# PostgreSQL and a simulated WhatsApp bridge. Extra arguments go to `wa-monitor demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[devtools]'
exec .venv/bin/wa-monitor demo "$@"
