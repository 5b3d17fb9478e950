#!/usr/bin/env bash
# Data-parallel training on this machine (issue #17): the step time of
# configs/minilm-smollm2-qmsum.json with 1 process x all threads against
# N processes x (threads / N) each (`e2llm train --nproc N`), the share of the
# step spent in the all-reduce, and the gradient size that a multi-machine
# job would send. QMSum train transcripts are cut to CHARS characters so that a
# step takes seconds; LoRA trains from the first step (stage1_steps 0), so the
# gradient is the full trainable set.
# Usage: bench/train_scaling.sh [build-dir]
#   STEPS (default 6; the first is a warm-up and not counted), CHARS (16000),
#   ACCUM (micro-batches per step, default 4), NPROC (2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
steps=${STEPS:-6}
chars=${CHARS:-16000}
accum=${ACCUM:-4}
nproc=${NPROC:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/e2llm" info | grep -E "CPU|BLAS  |threads" >&2
"$build/e2llm" convert --format qmsum --input "$root/../shared/data/qmsum/train.jsonl" --output "$work/train.jsonl"
python3 - "$work" "$chars" "$root/configs/minilm-smollm2-qmsum.json" "$steps" "$accum" <<'PY'
import json, os, sys
work, chars, base, steps, accum = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
with open(f"{work}/train.jsonl") as src, open(f"{work}/cut.jsonl", "w") as out:
    for line in src:
        j = json.loads(line)
        j["context"] = j["context"][:chars]
        out.write(json.dumps(j) + "\n")
c = json.load(open(base))
for key in ("encoder", "decoder"):
    c["model"][key] = os.path.expanduser(c["model"][key])
c["model"]["stage1_steps"] = 0
c["training"].update(max_steps=steps, grad_accum=accum, warmup_steps=0, eval_every=0, checkpoint_every=0, log_every=1)
c["data"] = {"train": f"{work}/cut.jsonl"}
for name in ("one", "many"):
    c["training"].update(output_dir=f"{work}/{name}", metrics_log=f"{work}/{name}.metrics.jsonl")
    json.dump(c, open(f"{work}/{name}.json", "w"), indent=1)
PY

threads=$("$build/e2llm" info | awk '$1 == "threads" {print $2}')
echo "1 process x $threads threads, $steps steps of $accum micro-batches..." >&2
"$build/e2llm" --threads "$threads" train --config "$work/one.json" --quiet
echo "$nproc processes x $((threads / nproc > 0 ? threads / nproc : 1)) threads..." >&2
"$build/e2llm" --threads "$threads" train --config "$work/many.json" --quiet --nproc "$nproc"

python3 - "$work" "$threads" "$nproc" "$accum" <<'PY'
import json, struct, sys
work, threads, nproc, accum = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def steps(name):
    rows = [json.loads(l) for l in open(f"{work}/{name}.metrics.jsonl") if '"loss"' in l]
    times = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip(rows, rows[1:])]  # the first step is a warm-up
    sync = [r.get("allreduce_s", 0.0) for r in rows[1:]]
    return sum(times) / len(times), sum(sync) / len(sync), [r["loss"] for r in rows]

one, _, loss_one = steps("one")
many, sync, loss_many = steps("many")
# The gradient: every trainable tensor of the checkpoint, as float32.
with open(f"{work}/one/latest") as f:
    folder = f.read().strip()
with open(f"{work}/one/{folder}/trainable.safetensors", "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
numel = 0
for name, t in header.items():
    if name != "__metadata__":
        n = 1
        for d in t["shape"]:
            n *= d
        numel += n
grad_mb = numel * 4 / 1e6
per_thread = max(1, threads // nproc)
print(f"| setup | step (s) | examples/s | all-reduce (s) | share |")
print(f"|---|---:|---:|---:|---:|")
print(f"| 1 process x {threads} threads | {one:.2f} | {accum / one:.3f} | - | - |")
print(f"| {nproc} processes x {per_thread} thread{'s' if per_thread > 1 else ''} | {many:.2f} | {accum / many:.3f} | {sync:.3f} | {100 * sync / many:.1f}% |")
print(f"\nspeed-up {one / many:.2f}x; trainable tensors {numel:,} = {grad_mb:.2f} MB of float32 gradient")
print("losses, 1 process:  " + " ".join(f"{l:.4f}" for l in loss_one))
print(f"losses, {nproc} processes: " + " ".join(f"{l:.4f}" for l in loss_many))
for w in (2, 4, 8, 16):
    ring = 2 * (w - 1) / w * numel * 4 / 1.25e9  # ring all-reduce over 10 Gbit/s
    print(f"ring all-reduce of the gradient, {w} machines on 10 Gbit/s: {1000 * ring:.1f} ms per step")
PY
