#!/usr/bin/env bash
# One decoder training step as E2LLM's long stage runs it (SmolLM2-135M fp32 frozen,
# LoRA rank 8 on the seven projections, T soft tokens + a 64-token answer, forward,
# loss, backward), in e2llm and in its peer transformers + PEFT, each setting in its
# own process: seconds per step and peak resident memory. docs/decoder.md
# ("Attention while training") holds the figures.
#   e2llm: activation checkpointing on with the blockwise attention and with ATen's
#   reference attention, and checkpointing off (the shipped config's setting), that
#   last also with the decoder in bfloat16 (frozen weights and soft tokens; LoRA stays
#   float32; the loss then differs from float32's in its third decimal).
#   transformers: gradient checkpointing on and off (sdpa attention), and on with eager.
# Both print the loss of the same inputs: the rows of one T must agree.
# Usage: bench/decoder_training.sh [build-dir]
#   TOKENS (default "512 2048"), STEPS (timed steps after one warm-up, default 2),
#   THREADS (default 2), PEER_PYTHON (a Python with torch, transformers, peft and gguf
#   from PyPI; default /opt/golden-venv/bin/python)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
tokens=${TOKENS:-512 2048}
steps=${STEPS:-2}
threads=${THREADS:-2}
peer=${PEER_PYTHON:-/opt/golden-venv/bin/python}
bench=$build/bench/bench_decoder_training
log=$(mktemp)
trap 'rm -f "$log"' EXIT
[[ -x $bench ]] || { echo "decoder_training.sh: $bench is missing: build the target bench_decoder_training" >&2; exit 1; }
"$peer" -c "import torch, transformers, peft, gguf" 2>/dev/null || {
  echo "decoder_training.sh: $peer cannot import torch, transformers, peft and gguf (the peer); make one with:" >&2
  echo "  python3 -m venv /opt/golden-venv && /opt/golden-venv/bin/pip install torch transformers peft gguf" >&2
  exit 1
}

"$build/e2llm" info | grep -E "^(CPU|BLAS  |LibTorch)" >&2 || true
"$peer" -c "import torch, transformers, peft; print('peer: torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" >&2
for t in $tokens; do
  for setting in "1 auto float32" "1 reference float32" "0 auto float32" "0 auto bfloat16"; do
    read -r checkpointing attention dtype <<< "$setting"
    E2LLM_DECODER_ATTENTION=$attention E2LLM_BENCH_THREADS=$threads E2LLM_BENCH_DTYPE=$dtype \
      "$bench" --tokens "$t" --steps "$steps" --checkpointing "$checkpointing" | sed "s/^e2llm /e2llm-$attention /"
  done
  for setting in "1 sdpa" "0 sdpa" "1 eager"; do
    read -r checkpointing attention <<< "$setting"
    THREADS=$threads "$peer" "$root/bench/bench_decoder_training_transformers.py" --tokens "$t" --steps "$steps" \
      --checkpointing "$checkpointing" --attention "$attention" 2> "$log" || { cat "$log" >&2; exit 1; }
  done
done
