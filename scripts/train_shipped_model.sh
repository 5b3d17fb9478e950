#!/usr/bin/env bash
# Trains the E2LLM model that ships with e2llm (models/e2llm-minilm-smollm2,
# docs/model.md): all-MiniLM-L6-v2 + SmolLM2-135M-Instruct, as fetched by
# scripts/fetch_models.sh, in two stages (a curriculum: docs/model.md says why):
#   short  configs/e2llm-minilm-smollm2-short.json: passkeys and needle facts in
#          40-300 words of QMSum train transcripts, where a step is cheap and the
#          soft token holding the fact is one of a few; answering only (alpha 0).
#   long   configs/e2llm-minilm-smollm2.json, starting from the short stage's
#          tensors (training.init_from): QMSum train queries (general and
#          specific) plus passkeys and needle facts ("One of the special magic
#          numbers for <word> is: <7 digits>.") at 11 depths in QMSum train
#          transcripts of 750-24000 words; restating a chunk on every example.
# GovReport and QuALITY in ../shared/data are evaluation subsets and stay out
# of training. Every stage is resumable: run it again with the same OUT to continue.
#   1. data     converts and generates OUT/data (once)
#   2. short    into OUT/short/run (MAX_TIME caps each run)
#   3. long     into OUT/run (on a new machine, from snapshots/e2llm-minilm-smollm2-long
#               when the checkout has it: scripts/snapshot_long_stage.sh writes it)
#   4. select   scores every kept long-stage checkpoint on QMSum val (VAL_QUERIES queries)
#   5. export   (EXPORT=1) measures the best one's repetition settings on the same
#               queries (scripts/measure_repetition.sh, into OUT/repetition-STEP) and
#               exports it into models/e2llm-minilm-smollm2 with the best of them
#               as its answer defaults
# Usage: scripts/train_shipped_model.sh [OUT] [build-dir]
#   OUT        default runs/shipped
#   MAX_TIME   seconds of training in this run (default 0 = to the stages' max_steps)
#   NPROC      training processes (default 1: the short stage passes its 8 micro-batches
#              through the model at once, fastest in one process, docs/training.md)
#   THREADS    threads per training process (default: all cores)
#   SHORT_INIT_FROM  start the short stage from these tensors; default: the snapshot of it
#              that earlier machines trained, snapshots/e2llm-minilm-smollm2-short, when the
#              checkout has one (its README.md says how far it got); empty: from scratch
#   INIT_FROM  start the long stage from these tensors instead of the short stage
#              (an exported model, e.g. models/e2llm-minilm-smollm2, or a checkpoint)
#              for all of its steps; default: the long stage's own snapshot,
#              snapshots/e2llm-minilm-smollm2-long, when the checkout has one, for the
#              steps it still lacks (its steps-done file; a fresh optimizer and a
#              warm-up and cosine over those steps), else the short stage
#   VAL_QUERIES  QMSum val queries for choosing the checkpoint (default 40)
#   EXPORT     1 = export the chosen checkpoint into models/ (default 0)
#   DATA_ONLY  1 = stop after the data stage
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
out=${1:-$root/runs/shipped}
build=${2:-$root/build}
max_time=${MAX_TIME:-0}
nproc=${NPROC:-1}
threads=${THREADS:-0}
val_queries=${VAL_QUERIES:-40}
e2llm="$build/e2llm"
shared="$root/../shared/data"
mkdir -p "$out/data"
out=$(cd "$out" && pwd)
data="$out/data"

# ---- 1. data ------------------------------------------------------------------
depths="0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1"
synth() {  # task haystack seed samples lengths... [extra flags via SYNTH_FLAGS]
  local task=$1 haystack=$2 seed=$3 samples=$4
  shift 4
  # shellcheck disable=SC2086
  "$e2llm" synth --task "$task" --haystack "$data/haystack-$haystack.txt" --lengths "$@" --depths $depths \
    --samples "$samples" --seed "$seed" ${SYNTH_FLAGS:-} --output "$data/$task-$seed.jsonl"
}
if [ ! -f "$data/train-mix.jsonl" ]; then
  for split in train val; do
    "$e2llm" convert --format qmsum --input "$shared/qmsum/$split.jsonl" --output "$data/qmsum-$split.jsonl"
    # The unique transcripts, one haystack for the synthetic tasks.
    python3 "$root/scripts/unique_contexts.py" "$data/qmsum-$split.jsonl" "$data/haystack-$split.txt"
  done
  # Short stage: 40-300 words (1-6 chunks), 3,080 examples of each task.
  synth passkey train 11 40 40 60 80 120 160 220 300
  SYNTH_FLAGS=--random-facts synth needle train 12 40 40 60 80 120 160 220 300
  cat "$data"/passkey-11.jsonl "$data"/needle-12.jsonl > "$data/short-mix.tmp"
  mv "$data/short-mix.tmp" "$data/short-mix.jsonl"
  # Its held-out check, in QMSum val text: 66 keys and 66 facts.
  synth passkey val 13 2 60 120 300
  SYNTH_FLAGS=--random-facts synth needle val 14 2 60 120 300
  # Long stage: short and mid lengths often, long ones (12k, 24k words ~ 16k, 32k tokens) a few times: they cost most.
  synth passkey train 21 12 750 1500 3000 6000
  synth passkey train 22 2 12000 24000
  SYNTH_FLAGS=--random-facts synth needle train 23 12 750 1500 3000 6000
  SYNTH_FLAGS=--random-facts synth needle train 24 2 12000 24000
  cat "$data/qmsum-train.jsonl" "$data"/passkey-2?.jsonl "$data"/needle-2?.jsonl > "$data/train-mix.tmp"
  mv "$data/train-mix.tmp" "$data/train-mix.jsonl"
  head -n "$val_queries" "$data/qmsum-val.jsonl" > "$data/qmsum-val-head.jsonl"
fi
for mix in short-mix train-mix; do
  python3 - "$data/$mix.jsonl" > "$out/$mix.txt" <<'PY'
import collections, json, sys
kinds = collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    kinds[e.get("meta", {}).get("task") or e["id"].split("-")[0]] += 1
total = sum(kinds.values())
for kind, n in sorted(kinds.items()):
    print(f"{kind}: {n} examples ({100 * n / total:.0f}%)")
PY
  echo "$mix:" >&2
  cat "$out/$mix.txt" >&2
done
[ "${DATA_ONLY:-0}" = 1 ] && exit 0
"$e2llm" info | grep -E "CPU|threads|BLAS" > "$out/machine.txt"

# ---- 2./3. train ----------------------------------------------------------------
step_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/checkpoint.json"))["step"])' "$1"; }
max_steps_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["training"]["max_steps"])' "$1"; }
# Trains CONFIG into OUT/STAGE/run (the long stage: OUT/run) on DATA, from INIT
# (empty: fresh) to STEPS (default: the config's max_steps), at most MAX_TIME
# seconds per call. Returns 1 while the stage is not finished.
train_stage() {  # stage config data init [steps]
  local stage=$1 config=$2 train_data=$3 init=$4 steps=${5:-} dir="$out/$1"
  [ "$stage" = long ] && dir="$out"
  mkdir -p "$dir"
  python3 - "$config" "$dir" "$train_data" "$init" "$steps" > "$dir/config.json" <<'PY'
import json, sys
config, dir, data, init, steps = json.load(open(sys.argv[1])), *sys.argv[2:6]
config["training"].update(output_dir=f"{dir}/run", metrics_log=f"{dir}/metrics.jsonl")
if init:
    config["training"]["init_from"] = init
if steps:
    config["training"]["max_steps"] = int(steps)
config["data"] = {"train": data}
print(json.dumps(config, indent=1))
PY
  local max_steps latest=
  max_steps=$(max_steps_of "$dir/config.json")
  [ -f "$dir/run/latest" ] && latest="$dir/run/$(cat "$dir/run/latest")"
  if [ -n "$latest" ] && [ "$(step_of "$latest")" -ge "$max_steps" ]; then return 0; fi
  local args=(--threads "$threads" train --config "$dir/config.json" --quiet) start
  [ -n "$latest" ] && args+=(--resume)
  [ "$max_time" != 0 ] && args+=(--max-time "$max_time")
  [ "$nproc" != 1 ] && args+=(--nproc "$nproc")
  start=$(date +%s)
  # (set -e does not reach in here: the callers test this function's status.)
  local status=0
  "$e2llm" "${args[@]}" || status=$?
  if [ "$status" != 0 ]; then
    echo "train_shipped_model: $stage stage: e2llm train ended with status $status (a signal or an error above);" \
      "its last checkpoint is kept: run again to continue" >&2
    exit "$status"
  fi
  latest="$dir/run/$(cat "$dir/run/latest")"
  echo "$(date -u +%FT%TZ) $stage: trained $(( $(date +%s) - start )) s, now at step $(step_of "$latest")" >> "$out/train-log.txt"
  if [ "$(step_of "$latest")" -lt "$max_steps" ]; then
    echo "train_shipped_model: $stage stage at step $(step_of "$latest") of $max_steps; run again to continue" >&2
    return 1
  fi
}
init=${INIT_FROM:-}
long_steps=
long_snapshot="$root/snapshots/e2llm-minilm-smollm2-long"
# A machine's files do not outlive its session, so a long stage that is not
# started yet goes on from the tensors an earlier machine committed, for the
# steps they have not had. The choice is made once per OUT: long-steps-before
# records it (and scripts/snapshot_long_stage.sh reads it).
if [ -z "$init" ] && [ ! -f "$out/run/latest" ] && [ ! -f "$out/long-steps-before" ] && [ -f "$long_snapshot/steps-done" ]; then
  cp "$long_snapshot/steps-done" "$out/long-steps-before"
fi
if [ -z "$init" ] && [ -f "$out/long-steps-before" ]; then
  done_steps=$(cat "$out/long-steps-before")
  total=$(max_steps_of "$root/configs/e2llm-minilm-smollm2.json")
  if [ "$done_steps" -ge "$total" ]; then
    echo "train_shipped_model: $long_snapshot has all $total long-stage steps; export it" \
      "(e2llm export --checkpoint $long_snapshot ...) or set INIT_FROM to train again" >&2
    exit 1
  fi
  init=$long_snapshot
  long_steps=$(( total - done_steps ))
  echo "train_shipped_model: long stage from $long_snapshot (step $done_steps of $total): $long_steps steps to go" >&2
fi
snapshot="$root/snapshots/e2llm-minilm-smollm2-short"
short_init=${SHORT_INIT_FROM-}
if [ -z "${SHORT_INIT_FROM+set}" ] && [ -d "$snapshot" ]; then short_init=$snapshot; fi
# The short stage only before the long one has started (a resumed long stage
# ignores where it started from).
if [ -z "$init" ] && [ ! -f "$out/run/latest" ]; then
  train_stage short "$root/configs/e2llm-minilm-smollm2-short.json" "$data/short-mix.jsonl" "$short_init" || exit 0
  init="$out/short/run"
fi
train_stage long "$root/configs/e2llm-minilm-smollm2.json" "$data/train-mix.jsonl" "$init" "$long_steps" || exit 0

# ---- 4. select ----------------------------------------------------------------
for step_dir in "$out"/run/step-*; do
  [ -d "$step_dir" ] || { echo "train_shipped_model: no long-stage checkpoint in $out/run" >&2; exit 1; }
  name=$(basename "$step_dir")
  "$e2llm" --threads "$threads" eval --method e2llm --checkpoint "$step_dir" --data "$data/qmsum-val-head.jsonl" --metric rouge \
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

# ---- 5. export ----------------------------------------------------------------
if [ "${EXPORT:-0}" = 1 ]; then
  QUERIES=$val_queries THREADS=$threads bash "$root/scripts/measure_repetition.sh" "$out/run/$best" "$out/repetition-$best" "$build"
  setting=$(cat "$out/repetition-$best/best.txt")
  "$e2llm" export --checkpoint "$out/run/$best" --output "$root/models/e2llm-minilm-smollm2" --force \
    --repetition-penalty "${setting%%:*}" --no-repeat-ngram-size "${setting##*:}"
fi
