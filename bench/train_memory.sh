#!/usr/bin/env bash
# Peak memory of E2LLM training with real models (issue #6 target: MiniLM +
# SmolLM2-135M with LoRA, 16 chunks x 512 tokens, within 8 GiB on the CPU).
# Trains 3 steps of configs/minilm-smollm2-qmsum.json at chunk_size 510 on
# QMSum train transcripts cut to CHARS characters (28000 ~ 16 MiniLM chunks of
# 510 tokens) and prints the peak resident set size from /usr/bin/time.
# Usage: bench/train_memory.sh [build-dir]   (CHARS=... to change the cut)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
chars=${CHARS:-28000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/e2llm" convert --format qmsum --input "$root/../shared/data/qmsum/train.jsonl" --output "$work/train.jsonl"
python3 - "$work" "$chars" "$root/configs/minilm-smollm2-qmsum.json" <<'PY'
import json, sys
work, chars, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{work}/train.jsonl") as src, open(f"{work}/cut.jsonl", "w") as out:
    kept = 0
    for line in src:
        j = json.loads(line)
        if len(j["context"]) < chars:
            continue
        j["context"] = j["context"][:chars]
        out.write(json.dumps(j) + "\n")
        kept += 1
        if kept == 32:
            break
c = json.load(open(base))
c["model"]["chunk_size"] = 510
c["training"].update(max_steps=3, grad_accum=1, output_dir=f"{work}/run", metrics_log=f"{work}/run/metrics.jsonl",
                     eval_every=0, checkpoint_every=0, log_every=1)
c["data"] = {"train": f"{work}/cut.jsonl"}
json.dump(c, open(f"{work}/config.json", "w"), indent=1)
PY
/usr/bin/time -v "$build/e2llm" train --config "$work/config.json" 2> "$work/time.txt" || { cat "$work/time.txt"; exit 1; }
grep -E "^step|trained" "$work/time.txt" | tr '\r' '\n' || true
grep -E "Maximum resident|Elapsed" "$work/time.txt"
