#!/usr/bin/env bash
# How much to compress (issue #13): trains MiniLM + SmolLM2-135M E2LLM models
# that differ only in how a chunk becomes soft tokens (chunk size, pooling,
# vectors per chunk) on the same passkey task in real text, then measures
# passkey accuracy and answer latency on held-out documents for each.
#   train: passkeys in QMSum train transcripts; eval: in QMSum test transcripts
#   (other meetings), at lengths and depths the training did not all see.
# Resumable: run it again with the same OUT to continue training (STEPS is the
# total) and evaluation; --max-time-like limits come from MAX_TIME (seconds
# per training run, 0 = none).
# Usage: bench/compression_tradeoff.sh OUT [build-dir]
#   SETTINGS     "chunk:pooling:k ..." (default "254:mean:1 254:segments:4 62:mean:1")
#   STEPS        optimizer steps per setting (default 400), ACCUM micro-batches per step (4)
#   TRAIN_WORDS  passkey lengths for training, words (default "300 750 1500 3000")
#   EVAL_WORDS   for evaluation (default "750 3000 6000"); SAMPLES per length x depth (4)
#   LR           learning rate (default: the QMSum config's); a run with LR set is
#                its own setting (folder name ends in -lrLR)
#   THREADS      CPU threads per e2llm process (default: all cores); with two
#                settings run side by side, THREADS=1 each uses 2 cores best
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/compression_tradeoff.sh OUT [build-dir]}
build=${2:-$root/build}
settings=${SETTINGS:-"254:mean:1 254:segments:4 62:mean:1"}
steps=${STEPS:-400}
accum=${ACCUM:-4}
max_time=${MAX_TIME:-0}
train_words=${TRAIN_WORDS:-"300 750 1500 3000"}
eval_words=${EVAL_WORDS:-"750 3000 6000"}
samples=${SAMPLES:-4}
if [ -n "${THREADS:-}" ]; then
  e2llm() { "$build/e2llm" --threads "$THREADS" "$@"; }
else
  e2llm() { "$build/e2llm" "$@"; }
fi
mkdir -p "$out/data"
out=$(cd "$out" && pwd)  # the configs written below name their data by absolute path
e2llm info | grep -E "CPU|threads" > "$out/machine.txt"

# Haystacks: the transcripts of train meetings and of test meetings, apart.
if [ ! -f "$out/data/eval.jsonl" ]; then
  for split in train test; do
    e2llm convert --format qmsum --input "$root/../shared/data/qmsum/$split.jsonl" --output "$out/data/qmsum-$split.jsonl"
    python3 "$root/scripts/unique_contexts.py" "$out/data/qmsum-$split.jsonl" "$out/data/haystack-$split.txt"
  done
  # shellcheck disable=SC2086
  e2llm synth --task passkey --haystack "$out/data/haystack-train.txt" --lengths $train_words \
    --depths 0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1 --samples 40 --seed 11 --output "$out/data/train.jsonl"
  # shellcheck disable=SC2086
  e2llm synth --task passkey --haystack "$out/data/haystack-test.txt" --lengths $eval_words \
    --depths 0 0.25 0.5 0.75 1 --samples "$samples" --seed 12 --output "$out/data/eval.jsonl"
fi

for setting in $settings; do
  IFS=: read -r chunk pooling k <<< "$setting"
  name="chunk${chunk}-${pooling}${k}${LR:+-lr$LR}"
  dir="$out/$name"
  mkdir -p "$dir"
  python3 - "$root/configs/minilm-smollm2-qmsum.json" "$dir" "$out/data/train.jsonl" "$chunk" "$pooling" "$k" \
    "$steps" "$accum" "${LR:-}" <<'PY'
import json, os, sys
base, folder, train, chunk, pooling, k, steps, accum, lr = sys.argv[1:]
c = json.load(open(base))
for key in ("encoder", "decoder"):
    c["model"][key] = os.path.expanduser(c["model"][key])
c["model"].update(chunk_size=int(chunk), pooling=pooling, pooling_k=int(k), stage1_steps=int(steps) // 5,
                  max_restate_tokens=128)
c["training"].update(max_steps=int(steps), grad_accum=int(accum), warmup_steps=int(steps) // 20, eval_every=0,
                     checkpoint_every=25, output_dir=f"{folder}/run", metrics_log=f"{folder}/metrics.jsonl",
                     log_every=5)
if lr:
    c["training"]["lr"] = float(lr)
c["data"] = {"train": train}
json.dump(c, open(f"{folder}/config.json", "w"), indent=1)
PY
  resume=()
  [ -f "$dir/run/latest" ] && resume=(--resume)
  limit=()
  [ "$max_time" != 0 ] && limit=(--max-time "$max_time")
  echo "== $name: training to step $steps" >&2
  e2llm train --config "$dir/config.json" "${resume[@]}" "${limit[@]}"
  step=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/run/"+open(sys.argv[1]+"/run/latest").read().strip()+"/checkpoint.json"))["step"])' "$dir")
  if [ "$step" -lt "$steps" ]; then
    echo "== $name: at step $step of $steps (time limit); run again to continue" >&2
    continue
  fi
  echo "== $name: evaluating" >&2
  e2llm eval --method e2llm --checkpoint "$dir/run" --data "$out/data/eval.jsonl" --output "$dir/eval" \
    --max-new-tokens 8 --no-progress > /dev/null
done

python3 - "$out" $settings <<'PY'
import json, os, sys
out, settings = sys.argv[1], sys.argv[2:]
print(f"machine: {' / '.join(l.strip() for l in open(os.path.join(out, 'machine.txt')))}")
print("| chunk | pooling | vectors per chunk | encoder tokens per soft token | passkey accuracy | answer latency (s) |")
print("|---:|---|---:|---:|---:|---:|")
lr = os.environ.get("LR", "")
for s in settings:
    chunk, pooling, k = s.split(":")
    folder = os.path.join(out, f"chunk{chunk}-{pooling}{k}" + (f"-lr{lr}" if lr else ""), "eval")
    rows = []
    if os.path.exists(os.path.join(folder, "predictions.jsonl")):
        rows = [json.loads(l) for l in open(os.path.join(folder, "predictions.jsonl"))]
    if not rows:
        print(f"| {chunk} | {pooling} | {k} | {int(chunk) / int(k):.0f} | not evaluated yet | |")
        continue
    scores = json.load(open(os.path.join(folder, "metrics.json")))["rows"][0]["scores"]
    latency = sum(r["seconds"] for r in rows) / len(rows)
    print(f"| {chunk} | {pooling} | {k} | {int(chunk) / int(k):.0f} | {scores['accuracy']:.3f} (n = {scores['n']}) "
          f"| {latency:.2f} |")
PY
