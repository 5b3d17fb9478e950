#!/usr/bin/env bash
# Builds llama.cpp's llama-bench (issue #14: our quantized GGUF decoding against
# llama.cpp's on the same machine and model) OUTSIDE this repository and prints
# the binary's path as the last line of stdout; progress goes to stderr, so
#   bench=$(bench/llama_cpp.sh) && "$bench" -m model.gguf -t 2 -o json
# works. The only reachable source of llama.cpp here is PyPI, so the sources
# are the copy vendored in the llama-cpp-python sdist (vendor/llama.cpp), pinned
# below. No llama.cpp code is ever copied into this repository.
set -euo pipefail

# Pinned: the llama.cpp inside this release is what the figures compare with.
version=0.3.36
cache=${E2LLM_PEER_CACHE:-$HOME/.cache/e2llm/peers}
dir=$cache/llama.cpp-$version
jobs=${JOBS:-2}

usage() {
  cat <<EOF
Usage: bench/llama_cpp.sh [--help]
Builds llama-bench (and llama-completion, the plain CLI) from the llama.cpp
vendored in llama-cpp-python $version (downloaded with pip), CPU only (no AMX), Release,
-DGGML_NATIVE=ON, into $dir
and prints the path of llama-bench. Does nothing but print it when it is built.
Environment: E2LLM_PEER_CACHE (cache root, default ~/.cache/e2llm/peers),
             JOBS (parallel compile jobs, default 2).
Needs: python3 with pip, cmake >= 3.14, a C and C++ compiler; ninja if present.
EOF
}
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "llama_cpp.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

bench=$dir/build/bin/llama-bench
if [ -x "$bench" ]; then echo "$bench"; exit 0; fi  # idempotent: already built

die() { echo "llama_cpp.sh: $*" >&2; exit 1; }
command -v cmake >/dev/null || die "cmake not found: apt-get install cmake"
{ command -v cc && command -v c++; } >/dev/null ||
  die "no C/C++ compiler (cc, c++): apt-get install build-essential"
python3 -m pip --version >/dev/null 2>&1 ||
  die "python3 -m pip not available: apt-get install python3-pip"

# Fetch by package name only (pip's configured index); the tarball is kept so a
# failed build does not download the 75 MB sdist again.
sdist=$dir/llama_cpp_python-$version.tar.gz
mkdir -p "$dir"
if [ ! -f "$sdist" ]; then
  echo "downloading llama-cpp-python $version sdist with pip..." >&2
  python3 -m pip download --quiet --no-deps --no-binary=:all: \
      "llama-cpp-python==$version" -d "$dir/download" >&2 ||
    die "pip could not download llama-cpp-python==$version (is PyPI reachable? pip config?)"
  mv "$dir"/download/llama_cpp_python-"$version".tar.gz "$sdist"
  rm -rf "$dir/download"
fi
src=$dir/src
if [ ! -f "$src/CMakeLists.txt" ]; then
  rm -rf "$src" && mkdir -p "$src"
  # Only the vendored llama.cpp is needed, not the Python bindings around it.
  tar xzf "$sdist" -C "$src" --strip-components=3 \
      "llama_cpp_python-$version/vendor/llama.cpp" || die "could not unpack $sdist"
  # A git-submodule pointer to a folder the sdist lacks; without it llama.cpp's
  # build info just says "unknown" (the "not a git repository" lines are harmless).
  rm -f "$src/.git"
fi

# CPU only, static, no tests/examples/server/web UI and no HTTPS stack: in this
# llama.cpp LLAMA_CURL is deprecated and ignored, LLAMA_OPENSSL replaced it.
# No ccache: llama.cpp's objects would crowd the project's own out of it.
# No -Wall: GCC 12 floods the log with intrinsics notes that would hide errors.
# llama-cli now comes with the server and its web UI, so the plain CLI built
# here is llama-completion (it reuses what llama-bench compiles anyway).
# No AMX: this llama.cpp's AMX kernels crash (SIGSEGV in ggml_backend_amx_mul_mat,
# llama.cpp issue 20824) on the Sapphire-Rapids-class CPUs we run on, and
# -march=native turns them on. Explicit -mno-* flags win over -march=native.
generator=() noamx=""
command -v ninja >/dev/null && generator=(-G Ninja)
[ "$(uname -m)" = x86_64 ] && noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
echo "configuring llama.cpp in $dir/build..." >&2
cmake -S "$src" -B "$dir/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DGGML_CCACHE=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_ALL_WARNINGS=OFF -DGGML_ALL_WARNINGS=OFF \
    -DCMAKE_C_FLAGS="$noamx" -DCMAKE_CXX_FLAGS="$noamx" \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON >&2 ||
  die "cmake configure failed (log above); remove $dir/build and retry"
echo "building llama-bench with $jobs jobs (about 15 minutes on 2 cores)..." >&2
start=$SECONDS
cmake --build "$dir/build" --target llama-bench llama-completion -j "$jobs" >&2 ||
  die "build failed (log above); rerun to resume"
echo "built in $((SECONDS - start)) s" >&2
[ -x "$bench" ] || die "build finished but $bench is missing"
echo "$bench"
