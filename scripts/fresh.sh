#!/usr/bin/env bash
# Fresh-machine entry point: installs synapse-tui into ./.venv from requirements.lock, then
#   scripts/fresh.sh app   [ARGS...]  opens the dashboard (no ARGS: the embedded demo)
#   scripts/fresh.sh test  [PYTEST ARGS...]  runs the whole test suite (what CI runs)
# Re-running is cheap: the install step is skipped while requirements.lock, pyproject.toml and
# the llama.cpp build flags are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-app}; shift || true

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "synapse-tui needs Python 3.11 or newer ($PY is $("$PY" -V 2>&1))" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv

# llama.cpp's build flags (see README, "Why each pin"): never -march=native, because on Intel
# CPUs with AMX (Sapphire Rapids and later: most GPU servers) llama.cpp's AMX path segfaults at
# the first decode of any quantized GGUF. AMX off, AVX-512 on where this CPU has it.
llama_cmake=$(bash scripts/llama-cmake-args.sh)
stamp=.venv/.synapse-lock.sha256
want=$( (cat requirements.lock pyproject.toml; echo "$llama_cmake") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing dependencies (first time: llama-cpp-python compiles llama.cpp, ~10 min on 2 cores)..." >&2
  .venv/bin/python -m pip install -q --upgrade pip
  # llama-cpp-python is built as a wheel of its own, kept per build flags in the user's cache
  # (pip's own wheel cache ignores CMAKE_ARGS, so a wheel built with AMX on would come back).
  llama_req=$(grep -i '^llama-cpp-python==' requirements.lock)
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/synapse-tui/llama-wheels/$( (echo "$llama_req"; echo "$llama_cmake"; uname -m; .venv/bin/python -V) | sha256sum | cut -c1-16)
  if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    rm -rf "$cache.tmp"
    echo "Building $llama_req with CMAKE_ARGS=\"$llama_cmake\"" >&2
    CMAKE_ARGS="$llama_cmake" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
      .venv/bin/python -m pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
      -w "$cache.tmp" "$llama_req"
    mkdir -p "$(dirname "$cache")" && rm -rf "$cache" && mv "$cache.tmp" "$cache"
  fi
  # torch 2.13.0 is pinned so a CPU machine takes the CPU build, not a multi-GB CUDA one.
  .venv/bin/python -m pip install -q -r <(grep -iv '^llama-cpp-python==' requirements.lock)
  .venv/bin/python -m pip install -q --no-deps --force-reinstall "$cache"/llama_cpp_python-*.whl
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi

case "$what" in
  app)  exec .venv/bin/synapse-tui "$@" ;;
  test)
    # the real-terminal tests drive the app in tmux: install it where we can (root + apt)
    if ! command -v tmux >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq tmux >/dev/null
      else
        echo "tmux not found: the real-terminal tests will be skipped (install tmux)" >&2
      fi
    fi
    exec .venv/bin/python -m pytest "$@" ;;
  *)    echo "usage: scripts/fresh.sh app|test [ARGS...]" >&2; exit 2 ;;
esac
