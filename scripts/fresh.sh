#!/usr/bin/env bash
# Fresh-machine entry point: installs synapse-tui into ./.venv from requirements.lock, then
#   scripts/fresh.sh app   [ARGS...]  opens the dashboard (no ARGS: the embedded demo)
#   scripts/fresh.sh test  [PYTEST ARGS...]  runs the whole test suite (what CI runs)
# Re-running is cheap: the install step is skipped while requirements.lock is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-app}; shift || true

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "synapse-tui needs Python 3.11 or newer ($PY is $("$PY" -V 2>&1))" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.synapse-lock.sha256
# (setup.py and the C source too: `pip install -e .` compiles synapse_core/data/csrc/)
want=$(cat requirements.lock pyproject.toml setup.py synapse_core/data/csrc/* | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing dependencies (first time: llama-cpp-python compiles llama.cpp, ~10 min on 2 cores)..." >&2
  .venv/bin/python -m pip install -q --upgrade pip
  # torch 2.13.0 is pinned so a CPU machine takes the CPU build, not a multi-GB CUDA one.
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    .venv/bin/python -m pip install -q -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi

case "$what" in
  app)  exec .venv/bin/synapse-tui "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
  *)    echo "usage: scripts/fresh.sh app|test [ARGS...]" >&2; exit 2 ;;
esac
