#!/usr/bin/env bash
# Builds every libFuzzer target (fuzz/fuzz_<name>.cpp) with clang and
# address + undefined-behaviour sanitizers, then runs each for SECONDS
# (default 20) from its seed corpus fuzz/corpus/<name>/. Fails on any crash,
# leak, timeout or sanitizer report; the input that caused it is kept under
# build-fuzz/artifacts/.
#   scripts/fuzz.sh [SECONDS] [NAME...]   NAMEs (e.g. gguf tokenizer_json): build and run only those
#   E2LLM_FUZZ_BUILD_DIR  build folder (default: build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-20}"
shift || true
BUILD_DIR="${E2LLM_FUZZ_BUILD_DIR:-build-fuzz}"
SOURCES=()
TARGETS=()
if [ $# -gt 0 ]; then
  for name in "$@"; do
    [ -f "fuzz/fuzz_$name.cpp" ] || { echo "fuzz: no fuzz/fuzz_$name.cpp" >&2; exit 2; }
    SOURCES+=("fuzz/fuzz_$name.cpp")
    TARGETS+=("fuzz_$name")
  done
else
  SOURCES=(fuzz/fuzz_*.cpp)
  TARGETS=(e2llm_fuzzers)
fi

# fuzz/ configures as its own project: the main tree's dependencies (LibTorch,
# OpenMP) need not configure under clang. See fuzz/CMakeLists.txt.
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S fuzz -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD_DIR" --target "${TARGETS[@]}"

mkdir -p "$BUILD_DIR/artifacts"
status=0
for source in "${SOURCES[@]}"; do
  target="$(basename "$source" .cpp)"
  name="${target#fuzz_}"
  # New inputs go to a scratch corpus; the committed seeds stay as they are.
  work="$BUILD_DIR/corpus/$name"
  mkdir -p "$work" "fuzz/corpus/$name"
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
  if ! "$BUILD_DIR/$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/$name-" \
       "$work" "fuzz/corpus/$name" > "$BUILD_DIR/$target.log" 2>&1; then
    echo "fuzz: $target FAILED; last lines of $BUILD_DIR/$target.log:" >&2
    tail -n 40 "$BUILD_DIR/$target.log" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units" "$BUILD_DIR/$target.log" || true
  fi
done
exit $status
