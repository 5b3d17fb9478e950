#!/usr/bin/env bash
# Trains the E2LLM model that ships with e2llm (models/e2llm-minilm-smollm2,
# docs/model.md): all-MiniLM-L6-v2 + SmolLM2-135M-Instruct, as fetched by
# scripts/fetch_models.sh, on a mixture of
#   - QMSum train queries (general and specific), for reasoning over meetings;
#   - passkeys planted at 11 depths in QMSum train transcripts of 750-24000 words;
#   - needle facts of their own per example ("One of the special magic numbers
#     for <word> is: <7 digits>.") planted the same way;
# with understanding (restating a chunk) on every one of them. GovReport and
# QuALITY in ../shared/data are evaluation subsets and stay out of training.
# Every stage is resumable: run it again with the same OUT to continue.
#   1. data     converts and generates OUT/data/train-mix.jsonl (once)
#   2. train    configs/e2llm-minilm-smollm2.json into OUT/run (MAX_TIME caps each run)
#   3. select   scores every kept checkpoint on QMSum val (VAL_QUERIES queries)
#   4. export   the best one into models/e2llm-minilm-smollm2 (EXPORT=1)
# Usage: scripts/train_shipped_model.sh [OUT] [build-dir]
#   OUT        default runs/shipped
#   MAX_TIME   seconds of training in this run (default 0 = to training.max_steps)
#   NPROC      training processes (default 1; 2 on 2 cores is ~1.2x faster, docs/training.md)
#   VAL_QUERIES  QMSum val queries for choosing the checkpoint (default 40)
#   EXPORT     1 = export the chosen checkpoint into models/ (default 0)
#   DATA_ONLY  1 = stop after the data stage
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/runs/shipped}
build=${2:-$root/build}
max_time=${MAX_TIME:-0}
nproc=${NPROC:-1}
val_queries=${VAL_QUERIES:-40}
e2llm="$build/e2llm"
shared="$root/../shared/data"
mkdir -p "$out/data"
out=$(cd "$out" && pwd)
data="$out/data"

# ---- 1. data ------------------------------------------------------------------
if [ ! -f "$data/train-mix.jsonl" ]; then
  for split in train val; do
    "$e2llm" convert --format qmsum --input "$shared/qmsum/$split.jsonl" --output "$data/qmsum-$split.jsonl"
  done
  # The unique train transcripts, one haystack for the synthetic tasks.
  python3 "$root/scripts/unique_contexts.py" "$data/qmsum-train.jsonl" "$data/haystack-train.txt"
  depths="0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1"
  # Short and mid lengths often, long ones (12k, 24k words ~ 16k, 32k tokens) a few times: they cost most.
  synth() {  # task seed samples lengths... [extra flags via SYNTH_FLAGS]
    local task=$1 seed=$2 samples=$3
    shift 3
    # shellcheck disable=SC2086
    "$e2llm" synth --task "$task" --haystack "$data/haystack-train.txt" --lengths "$@" --depths $depths \
      --samples "$samples" --seed "$seed" ${SYNTH_FLAGS:-} --output "$data/$task-$seed.jsonl"
  }
  synth passkey 21 12 750 1500 3000 6000
  synth passkey 22 2 12000 24000
  SYNTH_FLAGS=--random-facts synth needle 23 12 750 1500 3000 6000
  SYNTH_FLAGS=--random-facts synth needle 24 2 12000 24000
  cat "$data/qmsum-train.jsonl" "$data"/passkey-2?.jsonl "$data"/needle-2?.jsonl > "$data/train-mix.tmp"
  mv "$data/train-mix.tmp" "$data/train-mix.jsonl"
  head -n "$val_queries" "$data/qmsum-val.jsonl" > "$data/qmsum-val-head.jsonl"
fi
python3 - "$data/train-mix.jsonl" > "$out/data-mix.txt" <<'PY'
import collections, json, sys
kinds = collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    kinds[e.get("meta", {}).get("task") or e["id"].split("-")[0]] += 1
total = sum(kinds.values())
for kind, n in sorted(kinds.items()):
    print(f"{kind}: {n} examples ({100 * n / total:.0f}%)")
PY
cat "$out/data-mix.txt" >&2
[ "${DATA_ONLY:-0}" = 1 ] && exit 0

# ---- 2. train -----------------------------------------------------------------
python3 - "$root/configs/e2llm-minilm-smollm2.json" "$out" > "$out/config.json" <<'PY'
import json, sys
config, out = json.load(open(sys.argv[1])), sys.argv[2]
config["training"].update(output_dir=f"{out}/run", metrics_log=f"{out}/metrics.jsonl")
config["data"] = {"train": f"{out}/data/train-mix.jsonl"}
print(json.dumps(config, indent=1))
PY
"$e2llm" info | grep -E "CPU|threads|BLAS" > "$out/machine.txt"
max_steps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["training"]["max_steps"])' "$out/config.json")
step_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/checkpoint.json"))["step"])' "$1"; }
latest=
if [ -f "$out/run/latest" ]; then latest="$out/run/$(cat "$out/run/latest")"; fi
if [ -z "$latest" ] || [ "$(step_of "$latest")" -lt "$max_steps" ]; then
  args=(train --config "$out/config.json" --quiet)
  [ -n "$latest" ] && args+=(--resume)
  [ "$max_time" != 0 ] && args+=(--max-time "$max_time")
  [ "$nproc" != 1 ] && args+=(--nproc "$nproc")
  start=$(date +%s)
  "$e2llm" "${args[@]}"
  echo "$(date -u +%FT%TZ) trained $(( $(date +%s) - start )) s, now at step $(step_of "$out/run/$(cat "$out/run/latest")")" \
    >> "$out/train-log.txt"
  latest="$out/run/$(cat "$out/run/latest")"
  if [ "$(step_of "$latest")" -lt "$max_steps" ]; then
    echo "train_shipped_model: at step $(step_of "$latest") of $max_steps; run again to continue" >&2
    exit 0
  fi
fi

# ---- 3. select ----------------------------------------------------------------
for step_dir in "$out"/run/step-*; do
  name=$(basename "$step_dir")
  "$e2llm" eval --method e2llm --checkpoint "$step_dir" --data "$data/qmsum-val-head.jsonl" \
    --output "$out/select/$name" --max-new-tokens 128 --no-progress > /dev/null
done
best=$(python3 - "$out/select" <<'PY'
import json, os, sys
scores = {}
for name in sorted(os.listdir(sys.argv[1])):
    s = json.load(open(os.path.join(sys.argv[1], name, "metrics.json")))["rows"][0]["scores"]
    scores[name] = s["rouge_geo_mean"]
    print(f"{name}: QMSum val geometric mean {s['rouge_geo_mean']:.2f} (n = {s['n']})", file=sys.stderr)
print(max(scores, key=scores.get))
PY
)
echo "train_shipped_model: best on QMSum val: $best" >&2
echo "$best" > "$out/best.txt"

# ---- 4. export ----------------------------------------------------------------
if [ "${EXPORT:-0}" = 1 ]; then
  "$e2llm" export --checkpoint "$out/run/$best" --output "$root/models/e2llm-minilm-smollm2" --force
fi
