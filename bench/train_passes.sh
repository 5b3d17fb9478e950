#!/usr/bin/env bash
# Several micro-batches in one pass through the model (training.micro_batches_per_pass,
# docs/training.md): the step time of the shipped model's short stage
# (configs/e2llm-minilm-smollm2-short.json: passkeys in 40-300 words of QMSum
# train text, 8 micro-batches per step) with each process's micro-batches one
# at a time against PASSES at a time, and whether the losses agree.
# Usage: bench/train_passes.sh [build-dir]
#   STEPS (default 8; the first is a warm-up and not counted), PASSES (micro-batches
#   per pass, default 8 = all of a process's), NPROC (processes, default 2),
#   THREADS (per process, default: the cores / NPROC)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
steps=${STEPS:-8}
passes=${PASSES:-8}
nproc=${NPROC:-2}
cores=$("$build/e2llm" info | awk '$1 == "threads" {print $2}')
threads=${THREADS:-$((cores / nproc > 0 ? cores / nproc : 1))}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/e2llm" info | grep -E "CPU|BLAS  |threads" >&2
"$build/e2llm" convert --format qmsum --input "$root/../shared/data/qmsum/train.jsonl" --output "$work/qmsum.jsonl"
python3 "$root/scripts/unique_contexts.py" "$work/qmsum.jsonl" "$work/haystack.txt"
"$build/e2llm" synth --task passkey --haystack "$work/haystack.txt" --lengths 40 60 80 120 160 220 300 \
  --depths 0 0.25 0.5 0.75 1 --samples 8 --seed 5 --output "$work/train.jsonl" > /dev/null
python3 - "$work" "$root/configs/e2llm-minilm-smollm2-short.json" "$steps" "$passes" <<'PY'
import json, sys
work, base, steps, passes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = json.load(open(base))
c["training"].update(max_steps=steps, warmup_steps=0, checkpoint_every=0, log_every=1)
c["data"] = {"train": f"{work}/train.jsonl"}
for name, per_pass in (("one", 1), ("many", passes)):
    c["training"].update(output_dir=f"{work}/{name}", metrics_log=f"{work}/{name}.metrics.jsonl",
                         micro_batches_per_pass=per_pass)
    json.dump(c, open(f"{work}/{name}.json", "w"), indent=1)
PY

run() {  # name
  local args=(--threads "$threads" train --config "$work/$1.json" --quiet)
  [ "$nproc" != 1 ] && args+=(--nproc "$nproc")
  "$build/e2llm" "${args[@]}"
}
echo "$nproc process(es) x $threads thread(s), $steps steps, micro-batches one at a time..." >&2
run one
echo "... $passes per pass..." >&2
run many

python3 - "$work" "$nproc" "$threads" "$passes" <<'PY'
import json, sys
work, nproc, threads, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def steps(name):
    rows = [json.loads(l) for l in open(f"{work}/{name}.metrics.jsonl") if '"loss"' in l]
    times = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip(rows, rows[1:])]  # the first step is a warm-up
    return sum(times) / len(times), [r["loss"] for r in rows]

one, loss_one = steps("one")
many, loss_many = steps("many")
print(f"{nproc} process(es) x {threads} thread(s), 8 examples per step")
print("| micro-batches per pass | step (s) | examples/s |")
print("|---:|---:|---:|")
print(f"| 1 | {one:.2f} | {8 / one:.2f} |")
print(f"| {passes} | {many:.2f} | {8 / many:.2f} |")
print(f"\nspeed-up {one / many:.2f}x")
print("losses, one at a time: " + " ".join(f"{l:.4f}" for l in loss_one))
print(f"losses, {passes} per pass:  " + " ".join(f"{l:.4f}" for l in loss_many))
print(f"largest loss difference: {max(abs(a - b) for a, b in zip(loss_one, loss_many)):.2e}")
PY
