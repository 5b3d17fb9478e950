#!/usr/bin/env bash
# Runs e2llm's tests: fetches the real pretrained models, rebuilds what
# changed, runs the unit tests and a bounded fuzzing pass. When the models
# cannot be fetched it stops with an error, and the tests that need one fail
# rather than skip (it exports E2LLM_REQUIRE_REAL_MODELS=1), so a missing
# model cannot pass silently.
#   E2LLM_BUILD_DIR    build folder (default: build)
#   E2LLM_FUZZ_SECONDS seconds per fuzz target (default 20; 0 skips fuzzing)
#   E2LLM_ALLOW_MISSING_MODELS=1  carry on when the fetch fails; the tests that
#                      need a missing model then skip with a message
# The server test with the official `openai` Python client (ServeCli in
# tests/unit/test_serve_cli.cpp) gets the client from PyPI, pinned, in a
# virtualenv under the build folder; when PyPI cannot be reached that one test
# fails, as the models' tests do (with E2LLM_ALLOW_MISSING_MODELS=1 it skips).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${E2LLM_BUILD_DIR:-build}"
JOBS="$(nproc)"

if [ "${E2LLM_ALLOW_MISSING_MODELS:-0}" = "1" ]; then
  export E2LLM_REQUIRE_REAL_MODELS=0
  bash scripts/fetch_models.sh \
    || echo "test: WARNING: could not fetch the real models; E2LLM_ALLOW_MISSING_MODELS=1, so the tests that need them skip" >&2
else
  export E2LLM_REQUIRE_REAL_MODELS=1 E2LLM_REQUIRE_OPENAI_CLIENT=1
  if ! bash scripts/fetch_models.sh; then
    echo "test: ERROR: could not fetch the real models (see above), and the tests that need them would fail." >&2
    echo "test: fix the network or pip's index settings and rerun, or set E2LLM_ALLOW_MISSING_MODELS=1 to run without them (those tests then skip)." >&2
    exit 1
  fi
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${E2LLM_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR"

OPENAI_CLIENT="openai==3.57.0"
VENV="$BUILD_DIR/openai-venv"
if ! "$VENV/bin/python" -c "import openai" >/dev/null 2>&1; then
  rm -rf "$VENV"
  if ! { python3 -m venv "$VENV" && "$VENV/bin/python" -m pip install -q "$OPENAI_CLIENT"; }; then
    echo "test: WARNING: could not install $OPENAI_CLIENT from PyPI into $VENV; the openai client test fails" \
      "(skips with E2LLM_ALLOW_MISSING_MODELS=1)" >&2
    rm -rf "$VENV"
  fi
fi
if [ -x "$VENV/bin/python" ]; then export E2LLM_OPENAI_PYTHON="$(cd "$VENV" && pwd)/bin/python"; fi

ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"

if [ "${E2LLM_FUZZ_SECONDS:-20}" != "0" ] && [ -x scripts/fuzz.sh ]; then
  scripts/fuzz.sh "${E2LLM_FUZZ_SECONDS:-20}"
fi
