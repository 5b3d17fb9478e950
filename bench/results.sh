#!/usr/bin/env bash
# The results table of issue #13 (docs/results.md): E2LLM against truncation,
# RAG (bm25) and, where the text fits the decoder window, the full context,
# all with the same decoder, the same answer budget per dataset, the same repetition settings and the same
# chat prompt layout ("<context>\n\n<prompt>" in the user turn; E2LLM: its
# checkpoint's template around the soft tokens), on
#   qmsum      QMSum test, all 281 queries (ROUGE-1/2/L F, geometric mean)
#   govreport  the 14 GovReport reports in ../shared/data (ROUGE; the L-Eval
#              "Please help me summarize this government report." prompt)
#   quality    QuALITY, the 202 questions in ../shared/data (accuracy of the
#              option letter named in the answer; options are in the prompt)
#   passkey    pass key in real text (the transcripts of QMSum *test* meetings;
#              training uses train meetings only), TOKEN_LENGTHS x DEPTHS x SAMPLES
#   needle     needle in a haystack (gkamradt's sentence) in the same haystack, same grid
# then prints the tables (also OUT/results.md: scores, n, answer time = sum of
# the per-example seconds, elapsed = wall time of the eval runs with model
# loading) and draws the heat maps OUT/heatmap-passkey.png, OUT/heatmap-needle.png.
#
# Resumable: each dataset x method is one `e2llm eval` folder OUT/DATASET/METHOD
# whose predictions.jsonl gains one flushed line per answered example; run the
# script again with the same OUT (and settings) to continue where it stopped.
# A run stopped by MAX_TIME, Ctrl-C, a crash or a power cut loses only the
# example in progress; the table then scores the answered prefix and says
# "partial". Everything is written under OUT (converted data in OUT/data); the
# data sets are read from SHARED and never copied into the repository.
#
# Cost (2-core AMD EPYC VM, THREADS=2, measured 2026-12-06): e2llm 0.5-4.5 s an
# example (all of its rows in ~30 min); truncate, rag and full 12-17 s an example
# for texts of 4-6k tokens, ~26-30 s when they fill the 8k window, less where a
# document's questions follow one another and their prompts share tokens (each
# method keeps its last prompt's prefill: QMSum truncate 16 s an example, 77 min;
# QuALITY 2 s). The whole table is many hours: run it in pieces (ONLY,
# METHODS, MAX_TIME) into one OUT (results/ holds the committed one).
# A quick check of every path (~10 min):
#   CHECKPOINT=DIR THREADS=1 LIMIT=1 WINDOW=4096 QMSUM_NEW_TOKENS=32 GOVREPORT_NEW_TOKENS=32 \
#     ONLY="qmsum govreport quality" bench/results.sh /tmp/r
#   CHECKPOINT=DIR THREADS=1 WINDOW=4096 TOKEN_LENGTHS="1024 2048" DEPTHS="0 0.5 1" SAMPLES=1 \
#     ONLY="passkey needle" bench/results.sh /tmp/r
#
# Usage: bench/results.sh OUT [build-dir]
#   CHECKPOINT   E2LLM checkpoint: a training output folder (eval pins its `latest`
#                step, so a resumed run keeps the same weights) or a step folder.
#                Default: the shipped model (models/e2llm-minilm-smollm2). A step of a
#                training that is still running may be deleted by its keep_checkpoints:
#                copy it first.
#   ONLY         datasets to run (default "qmsum govreport quality passkey needle");
#                ONLY= (empty) runs nothing and only prints the tables of OUT
#   METHODS      (default "e2llm truncate rag full")
#   MODEL        decoder of the baselines (default ~/.cache/e2llm/models/SmolLM2-135M-Instruct.Q4_1.gguf,
#                the decoder E2LLM's checkpoint names)
#   WINDOW       the baselines' decoder window, prompt + answer, in tokens (default 8192:
#                all of SmolLM2's positions; truncate and rag fill it, full runs only on the
#                examples whose whole text fits, filtered into OUT/data/*-full-*.jsonl)
#   RAG_CHUNK    RAG chunk size in decoder tokens (default 256)
#   REPETITION   "PENALTY:NGRAM", the repetition penalty and no-repeat n-gram size every method
#                answers QMSum and GovReport with (default: the E2LLM checkpoint's own answer
#                defaults, docs/model.md; 1:0 = neither). Passkey, needle and QuALITY are
#                answered with neither, since both count the prompt: a baseline would be kept
#                from copying the key or option letter out of its context, E2LLM (whose context
#                is soft tokens) would not, and the comparison would measure the penalty
#   QMSUM_NEW_TOKENS (128)  GOVREPORT_NEW_TOKENS (256)  QUALITY_NEW_TOKENS (32)
#   PASSKEY_NEW_TOKENS (16)  NEEDLE_NEW_TOKENS (32)   longest answer, the same for every method
#   QUALITY_INSTRUCTION  appended to every QuALITY prompt after a blank line (default
#                "Answer with the letter of the correct option."; empty: the converter's prompt)
#   TOKEN_LENGTHS  passkey/needle lengths in SmolLM2 tokens (default "2048 4096 8192 16384 32768");
#                `e2llm synth` counts words, so the words per token of the haystack are measured
#                and the word counts corrected once so each length's mean comes out right
#   DEPTHS       ("0 0.25 0.5 0.75 1"), SAMPLES per length x depth (5), SEED (13); the key
#                and the haystack offset are seeded per example
#   LIMIT        only the first N examples of each data file (0 = all; synthetic files are
#                ordered length, depth, sample)
#   MAX_TIME     seconds per eval run, 0 = none; the run is stopped with SIGTERM and keeps its
#                answers; run the script again to continue
#   THREADS      CPU threads per e2llm process (default: all cores)
#   DOCS         1: copy the heat maps to docs/results-passkey.png and docs/results-needle.png
#   SHARED       the shared data folder (default: ../shared beside the checkout)
#   CHAT_OVERHEAD  tokens the chat template adds around the user turn (default 30, measured for
#                SmolLM2's ChatML with its default system prompt); FIT_MARGIN (8) tokens of slack
#                for merges at the joins; both only decide which examples `full` gets
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/results.sh OUT [build-dir]"
out=${1:?$usage}
build=${2:-$root/build}
checkpoint=${CHECKPOINT:-}
only=${ONLY-"qmsum govreport quality passkey needle"}
methods=${METHODS:-"e2llm truncate rag full"}
model=${MODEL:-${E2LLM_MODEL_CACHE:-$HOME/.cache/e2llm/models}/SmolLM2-135M-Instruct.Q4_1.gguf}
window=${WINDOW:-8192}
rag_chunk=${RAG_CHUNK:-256}
quality_instruction=${QUALITY_INSTRUCTION-"Answer with the letter of the correct option."}
token_lengths=${TOKEN_LENGTHS:-"2048 4096 8192 16384 32768"}
depths=${DEPTHS:-"0 0.25 0.5 0.75 1"}
samples=${SAMPLES:-5}
seed=${SEED:-13}
limit=${LIMIT:-0}
max_time=${MAX_TIME:-0}
shared=${SHARED:-$root/../shared}
chat_overhead=${CHAT_OVERHEAD:-30}
fit_margin=${FIT_MARGIN:-8}
declare -A new_tokens=([qmsum]=${QMSUM_NEW_TOKENS:-128} [govreport]=${GOVREPORT_NEW_TOKENS:-256}
  [quality]=${QUALITY_NEW_TOKENS:-32} [passkey]=${PASSKEY_NEW_TOKENS:-16} [needle]=${NEEDLE_NEW_TOKENS:-32})
# Free-form answers only: the extraction tasks copy from the prompt (REPETITION above).
declare -A repeats=([qmsum]=1 [govreport]=1 [quality]=0 [passkey]=0 [needle]=0)
declare -A metric=([qmsum]=rouge [govreport]=rouge [quality]=choice [passkey]=passkey [needle]=needle)
all_datasets="qmsum govreport quality passkey needle"
all_methods="e2llm truncate rag full"

die() { echo "bench/results.sh: $*" >&2; exit 1; }
# The answer defaults recorded in a checkpoint (a training output folder, a step
# folder or an exported model), "1:0" where it records none.
answer_defaults() {
  python3 - "$1" <<'PY'
import json, os, sys
path = sys.argv[1]
if os.path.isfile(os.path.join(path, "latest")):
    path = os.path.join(path, open(os.path.join(path, "latest")).read().strip())
try:
    model = json.load(open(os.path.join(path, "checkpoint.json")))["config"]["model"]
except (OSError, KeyError, ValueError):
    model = {}
print(f"{model.get('repetition_penalty', 1)}:{model.get('no_repeat_ngram_size', 0)}")
PY
}
repetition=${REPETITION:-$(answer_defaults "${checkpoint:-${E2LLM_MODEL:-$root/models/e2llm-minilm-smollm2}}")}
[[ "$repetition" =~ ^[0-9.]+:[0-9]+$ ]] || die "REPETITION: '$repetition' is not PENALTY:NGRAM (e.g. 1.2:3)"
for d in $only; do [[ " $all_datasets " == *" $d "* ]] || die "ONLY: unknown dataset '$d' (choose from $all_datasets)"; done
for m in $methods; do [[ " $all_methods " == *" $m "* ]] || die "METHODS: unknown method '$m' (choose from $all_methods)"; done
[ -x "$build/e2llm" ] || die "$build/e2llm: not built (scripts/setup.sh, or give the build folder)"
e2=("$build/e2llm")
[ -n "${THREADS:-}" ] && e2+=(--threads "$THREADS")
e2llm() { "${e2[@]}" "$@"; }

if [ -n "$checkpoint" ]; then
  [ -d "$checkpoint" ] || die "CHECKPOINT=$checkpoint: no such folder"
  checkpoint=$(cd "$checkpoint" && pwd)
fi
[ -z "$only" ] || [ -f "$model" ] || [ -d "$model" ] || die "MODEL=$model: not found (scripts/fetch_models.sh)"

mkdir -p "$out/data"
out=$(cd "$out" && pwd)
data=$out/data
script_start=$(date +%s.%N)
[ -f "$out/machine.txt" ] || e2llm info | grep -E "^CPU" > "$out/machine.txt"  # threads: per run, in eval.log

# A setting the data files depend on: refuse to mix two in one OUT.
stamp() {  # name value
  local file="$data/$1.settings"
  if [ -f "$file" ]; then
    [ "$(cat "$file")" == "$2" ] || die "$out was made with $1 settings '$(cat "$file")', now '$2'; use another OUT"
  else
    printf '%s' "$2" > "$file"
  fi
}

# Token counts with the decoder's tokenizer, cached per data file:
# OUT/data/NAME.tokens.json = {id: [context tokens, prompt tokens]}.
token_counts() {  # data.jsonl
  local file=$1 cache=${1%.jsonl}.tokens.json
  [ -f "$cache" ] && [ "$cache" -nt "$file" ] && return 0
  python3 - "$file" "$cache" "$model" "${e2[@]}" <<'PY'
import json, subprocess, sys
src, cache, model, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = [json.loads(l) for l in open(src)]
texts = sorted({r["context"] for r in rows} | {r["prompt"] for r in rows})
p = subprocess.run(cmd + ["tokenize", "--model", model, "--no-add-special-tokens"], check=True, text=True,
                   capture_output=True, input="".join(json.dumps({"text": t}) + "\n" for t in texts))
counts = dict(zip(texts, (len(json.loads(l)["ids"]) for l in p.stdout.splitlines())))
assert len(counts) == len(texts)
json.dump({r["id"]: [counts[r["context"]], counts[r["prompt"]]] for r in rows}, open(cache + ".tmp", "w"))
PY
  mv "$cache.tmp" "$cache"
}

# --- data -------------------------------------------------------------------
need() { [[ " $only " == *" $1 "* ]]; }
if need qmsum || need passkey || need needle; then
  [ -f "$data/qmsum.jsonl" ] ||
    e2llm convert --format qmsum --input "$shared/data/qmsum/test.jsonl" --output "$data/qmsum.jsonl" >&2
fi
if need govreport && [ ! -f "$data/govreport.jsonl" ]; then
  e2llm convert --format govreport --input "$shared/data/govreport/leval_gov_report_summ.jsonl" \
    --output "$data/govreport.jsonl" >&2
fi
if need quality; then
  stamp quality "instruction=$quality_instruction"
  if [ ! -f "$data/quality.jsonl" ]; then
    e2llm convert --format quality --input "$shared/data/quality/leval_quality.jsonl" \
      --output "$data/quality-converted.jsonl" >&2
    python3 - "$data/quality-converted.jsonl" "$data/quality.jsonl" "$quality_instruction" <<'PY'
import json, os, sys
src, dst, instruction = sys.argv[1:]
with open(dst + ".tmp", "w") as f:
    for line in open(src):
        r = json.loads(line)
        if instruction:
            r["prompt"] = r["prompt"].rstrip() + "\n\n" + instruction
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
os.replace(dst + ".tmp", dst)
PY
  fi
fi

# Passkey and needle: lengths in decoder tokens from word counts (`e2llm synth
# --lengths` counts words). The words per token are measured on the haystack,
# then each length's word count is scaled once by target / measured mean.
if need passkey || need needle; then
  stamp synthetic "lengths=$token_lengths depths=$depths samples=$samples seed=$seed model=$model"
  if [ ! -f "$data/haystack.txt" ]; then
    python3 "$root/scripts/unique_contexts.py" "$data/qmsum.jsonl" "$data/haystack.txt" --one-line
  fi
  for task in passkey needle; do
    need $task || continue
    [ -f "$data/$task.jsonl" ] && continue
    echo "== generating $task data (lengths $token_lengths tokens)" >&2
    python3 - "$task" "$data" "$model" "$token_lengths" "$depths" "$samples" "$seed" "${e2[@]}" <<'PY'
import json, os, subprocess, sys
task, data, model, lengths, depths, samples, seed = sys.argv[1:8]
cmd = sys.argv[8:]
lengths = [int(x) for x in lengths.split()]
depths, samples, seed = depths.split(), int(samples), int(seed)

def tokens(texts):
    p = subprocess.run(cmd + ["tokenize", "--model", model, "--no-add-special-tokens"], check=True, text=True,
                       capture_output=True, input="".join(json.dumps({"text": t}) + "\n" for t in texts))
    return [len(json.loads(l)["ids"]) for l in p.stdout.splitlines()]

def run(args):  # e2llm quietly, its messages shown on failure
    p = subprocess.run(cmd + args, text=True, capture_output=True)
    if p.returncode:
        sys.exit(f"{' '.join(cmd + args)}: exit {p.returncode}\n{p.stdout}{p.stderr}")

haystack = os.path.join(data, "haystack.txt")
ratio_file = os.path.join(data, "words-per-token.json")
if not os.path.exists(ratio_file):
    meetings = open(haystack).read().splitlines()
    n_words, n_tokens = sum(len(m.split()) for m in meetings), sum(tokens(meetings))
    json.dump({"words": n_words, "tokens": n_tokens, "words_per_token": n_words / n_tokens},
              open(ratio_file, "w"), indent=1)
ratio = json.load(open(ratio_file))["words_per_token"]

def synth(words):  # {length: words} -> examples, each with meta.length (tokens, nominal) and meta.sample
    by_words = {w: length for length, w in words.items()}
    assert len(by_words) == len(words), "two lengths give the same word count"
    tmp = os.path.join(data, f"{task}.synth.jsonl")
    base = ["synth", "--task", task, "--lengths", *map(str, words.values()), "--depths", *depths, "--output", tmp]
    out = []
    run(base + ["--haystack", haystack, "--samples", str(samples), "--seed", str(seed)])
    for i, line in enumerate(open(tmp)):
        r = json.loads(line)
        r["meta"]["length"] = by_words[int(r["id"].split("-")[1].rstrip("w"))]
        r["meta"]["sample"] = i % samples
        out.append(r)
    os.remove(tmp)
    order = {float(d): i for i, d in enumerate(depths)}
    out.sort(key=lambda r: (r["meta"]["length"], order[float(r["meta"]["depth"])], r["meta"]["sample"]))
    for r, n in zip(out, tokens([r["context"] for r in out])):
        r["meta"]["tokens"] = n
    return out

def means(rows):
    return {l: sum(r["meta"]["tokens"] for r in rows if r["meta"]["length"] == l) /
               sum(1 for r in rows if r["meta"]["length"] == l) for l in lengths}

words = {l: round(l * ratio) for l in lengths}
rows = synth(words)
first = means(rows)
words = {l: round(words[l] * l / first[l]) for l in lengths}
rows = synth(words)
final = means(rows)
assert len({r["id"] for r in rows}) == len(rows), "duplicate ids"
info = {"words_per_token": ratio, "lengths": []}
for l in lengths:
    n = [r["meta"]["tokens"] for r in rows if r["meta"]["length"] == l]
    info["lengths"].append({"tokens": l, "words": words[l], "first_pass_mean_tokens": round(first[l], 1),
                            "mean_tokens": round(final[l], 1), "min_tokens": min(n), "max_tokens": max(n)})
json.dump(info, open(os.path.join(data, f"{task}.lengths.json"), "w"), indent=1)
with open(os.path.join(data, f"{task}.jsonl.tmp"), "w") as f:
    f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
os.replace(os.path.join(data, f"{task}.jsonl.tmp"), os.path.join(data, f"{task}.jsonl"))
for x in info["lengths"]:
    print(f"   {task} {x['tokens']} tokens: {x['words']} words -> {x['mean_tokens']} tokens on average "
          f"({x['min_tokens']}-{x['max_tokens']}; first pass {x['first_pass_mean_tokens']})", file=sys.stderr)
PY
  done
fi

# The examples whose whole text fits the window: OUT/data/DATASET-full-wWINDOW-nNEW.jsonl.
# (`eval --method full` would skip the others too, one prefill-free tokenization
# each; filtering first keeps the table's n and the heat map's cells to them.)
full_data() {  # dataset -> prints the file
  local ds=$1 n=${new_tokens[$1]}
  local dst="$data/$ds-full-w$window-n$n.jsonl"
  if [ ! -f "$dst" ]; then
    token_counts "$data/$ds.jsonl"
    python3 - "$data/$ds.jsonl" "${data}/$ds.tokens.json" "$dst" "$window" "$n" "$chat_overhead" "$fit_margin" <<'PY'
import json, os, sys
src, counts, dst = sys.argv[1:4]
window, new, overhead, margin = map(int, sys.argv[4:8])
counts = json.load(open(counts))
kept = 0
with open(dst + ".tmp", "w") as f:
    for line in open(src):
        r = json.loads(line)
        context, prompt = counts[r["id"]]
        if context + 1 + prompt + overhead + margin <= window - new:  # 1: the "\n\n" between them
            f.write(line)
            kept += 1
os.replace(dst + ".tmp", dst)
print(f"   {os.path.basename(dst)}: {kept} examples fit a {window}-token window with {new} new tokens",
      file=sys.stderr)
PY
  fi
  echo "$dst"
}

# --- runs -------------------------------------------------------------------
# The ids answered, as the length of the data file's prefix they cover
# (eval answers in file order, so that prefix is what a stopped run finished).
answered_prefix() {  # data.jsonl predictions.jsonl
  python3 - "$1" "$2" <<'PY'
import json, os, sys
done = set()
if os.path.exists(sys.argv[2]):
    for line in open(sys.argv[2]):
        try:
            done.add(json.loads(line)["id"])
        except (ValueError, KeyError):
            pass  # a torn last line; eval drops it
k = 0
for line in open(sys.argv[1]):
    if json.loads(line)["id"] not in done:
        break
    k += 1
print(k)
PY
}

run_eval() {  # dataset method data.jsonl
  local ds=$1 method=$2 file=$3
  local dir=$out/$ds/$method
  mkdir -p "$dir"
  local total
  total=$(grep -c . "$file" || true)
  [ "$limit" != 0 ] && [ "$limit" -lt "$total" ] && total=$limit
  if [ "$total" = 0 ]; then
    echo "no example fits a $window-token window with ${new_tokens[$ds]} new tokens" > "$dir/skipped.txt"
    echo "== $ds/$method: skipped ($(cat "$dir/skipped.txt"))" >&2
    return 0
  fi
  rm -f "$dir/skipped.txt"
  local answer_repetition=1:0
  [ "${repeats[$ds]}" = 1 ] && answer_repetition=$repetition
  local args=(eval --method "$method" --data "$file" --output "$dir" --metric "${metric[$ds]}"
    --max-new-tokens "${new_tokens[$ds]}" --dataset-name "$ds" --no-progress
    --repetition-penalty "${answer_repetition%%:*}" --no-repeat-ngram-size "${answer_repetition##*:}")
  if [ "$method" = e2llm ]; then
    [ -n "$checkpoint" ] && args+=(--checkpoint "$checkpoint")
  else
    args+=(--model "$model" --chat --window "$window")
    [ "$method" = rag ] && args+=(--rag-chunk-size "$rag_chunk")
  fi
  local before after rc start elapsed
  before=$(answered_prefix "$file" "$dir/predictions.jsonl")
  if [ "$before" -ge "$total" ]; then
    echo "== $ds/$method: $total of $total answered" >&2
  else
    echo "== $ds/$method: $before of $total answered, running$([ "$max_time" != 0 ] && echo " (at most $max_time s)")" >&2
  fi
  local timer=()
  # TERM, not INT: a job started in the background (`cmd &` in a script, nohup)
  # inherits SIGINT ignored, and eval would answer on until the SIGKILL.
  [ "$max_time" != 0 ] && timer=(timeout --signal=TERM --kill-after=120 "$max_time")
  start=$(date +%s.%N)
  rc=0
  {
    echo "### $(date -Is) ${e2[*]} ${args[*]} --limit $total"
    "${timer[@]}" "${e2[@]}" "${args[@]}" --limit "$total"
  } >> "$dir/eval.log" 2>&1 || rc=$?
  elapsed=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)")
  after=$(answered_prefix "$file" "$dir/predictions.jsonl")
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -Is)" "$elapsed" "$rc" "$before" "$after" >> "$dir/invocations.tsv"
  if [ "$rc" = 0 ]; then
    echo "done $total" > "$dir/status"
  else
    if [ "$after" -gt 0 ]; then
      # Score the answered prefix (nothing left to answer: no model is loaded).
      "${e2[@]}" "${args[@]}" --limit "$after" >> "$dir/eval.log" 2>&1 || true
    fi
    if [ "$rc" = 124 ] || [ "$rc" = 130 ] || [ "$rc" = 137 ] || [ "$rc" = 143 ]; then
      echo "partial $after $total stopped after ${elapsed} s (MAX_TIME or a signal)" > "$dir/status"
      echo "== $ds/$method: stopped (MAX_TIME or a signal) at $after of $total; run again to continue" >&2
    else
      echo "failed $after $total exit $rc (see eval.log)" > "$dir/status"
      echo "== $ds/$method: FAILED (exit $rc), $after of $total answered; last lines of $dir/eval.log:" >&2
      tail -n 3 "$dir/eval.log" >&2
    fi
  fi
}

for ds in $only; do
  for method in $methods; do
    file=$data/$ds.jsonl
    [ "$method" = full ] && file=$(full_data "$ds")
    run_eval "$ds" "$method" "$file"
  done
done

# --- tables and heat maps ------------------------------------------------------
python3 - "$out" "$root/bench/plot_heatmap.gnuplot" "$script_start" "$model" "$window" "$rag_chunk" \
  "${DOCS:-0}" "$root/docs" "${e2[@]}" <<'PY'
import json, os, shutil, subprocess, sys, time
out, gp, script_start, model, window, rag_chunk, docs, docs_dir = sys.argv[1:9]
cmd = sys.argv[9:]
datasets = ["qmsum", "govreport", "quality", "passkey", "needle"]
methods = ["e2llm", "truncate", "rag", "full"]
data = os.path.join(out, "data")

def jsonl(path):
    rows = []
    if os.path.exists(path):
        for line in open(path):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    return rows

def seconds(s):
    s = float(s)
    return f"{s / 3600:.1f} h" if s >= 36000 else f"{s / 60:.0f} min" if s >= 600 else f"{s:.0f} s"

def run_info(ds, m):
    d = os.path.join(out, ds, m)
    if not os.path.isdir(d):
        return None
    info = {"dir": d}
    if os.path.exists(os.path.join(d, "skipped.txt")):
        info["skipped"] = open(os.path.join(d, "skipped.txt")).read().strip()
        return info
    preds = jsonl(os.path.join(d, "predictions.jsonl"))
    info["preds"] = preds
    info["answer_s"] = sum(p.get("seconds", 0) for p in preds)
    log = os.path.join(d, "eval.log")  # each call's command line: "### DATE e2llm [--threads N] eval ..."
    calls = [l for l in open(log) if l.startswith("### ")] if os.path.exists(log) else []
    info["threads"] = sorted({(l.split("--threads ", 1)[1].split()[0] if "--threads " in l else "all") for l in calls})
    inv = [l.split("\t") for l in open(os.path.join(d, "invocations.tsv"))] if os.path.exists(
        os.path.join(d, "invocations.tsv")) else []
    info["elapsed_s"] = sum(float(x[1]) for x in inv)
    status = open(os.path.join(d, "status")).read().split() if os.path.exists(os.path.join(d, "status")) else []
    info["status"] = status
    metrics = os.path.join(d, "metrics.json")
    info["scores"] = json.load(open(metrics))["rows"][0]["scores"] if os.path.exists(metrics) else None
    return info

def given(info, m):
    p = info["preds"]
    if not p:
        return ""
    ctx = sum(x.get("context_tokens", 0) for x in p) / len(p)
    if m == "e2llm":  # context_tokens are the encoder's there
        return f"{ctx:,.0f} enc. → {sum(x.get('soft_tokens', 0) for x in p) / len(p):,.0f} soft"
    return f"{ctx:,.0f} → {sum(x.get('kept_tokens', 0) for x in p) / len(p):,.0f}"

def state(info):
    s = info["status"]
    if not s:
        return "not run"
    if s[0] == "done":
        return ""
    return f"{s[0]} {s[1]}/{s[2]}"

lines = []
p = lines.append
p(f"machine: {' / '.join(l.strip() for l in open(os.path.join(out, 'machine.txt')))}")
settings = {}  # from the runs' run.json: what the rows were really run with
for ds in datasets:
    for m in methods:
        f = os.path.join(out, ds, m, "run.json")
        if os.path.exists(f):
            r = json.load(open(f))
            for key in ("model", "window", "rag_chunk_size", "checkpoint"):
                if key in r:
                    settings.setdefault(key, set()).add(str(r[key]))
            settings.setdefault("budget", {}).setdefault(ds, set()).add(str(r["max_new_tokens"]))
join = lambda key: ", ".join(sorted(settings.get(key, [])))
p(f"decoder: {join('model') or model}; baselines: --chat, window {join('window') or window} tokens, "
  f"RAG chunks {join('rag_chunk_size') or rag_chunk} tokens; greedy")
if settings.get("checkpoint"):
    p(f"E2LLM checkpoint: {join('checkpoint')}")
if settings.get("budget"):
    p("answer budget (max new tokens, every method): " +
      ", ".join(f"{ds} {'/'.join(sorted(v))}" for ds, v in settings["budget"].items()))
for task in ("passkey", "needle"):
    f = os.path.join(data, f"{task}.lengths.json")
    if os.path.exists(f):
        L = json.load(open(f))
        p(f"{task}: {L['words_per_token']:.4f} haystack words per SmolLM2 token; lengths " + ", ".join(
            f"{x['tokens']} ({x['words']} words, mean {x['mean_tokens']:.0f} tokens)" for x in L["lengths"]))
p("")
p("context: mean decoder tokens of the text → tokens given to the decoder (e2llm: MiniLM tokens → soft tokens); "
  "answer time: sum of the per-example seconds; elapsed: the eval runs' wall time (model loading included)")

tables = [
    ("Summarization (ROUGE F x 100)", ["qmsum", "govreport"],
     [("ROUGE-1", "rouge1_f"), ("ROUGE-2", "rouge2_f"), ("ROUGE-L", "rougeL_f"), ("geo mean", "rouge_geo_mean")]),
    ("QuALITY (x 100)", ["quality"], [("accuracy", "accuracy"), ("option text EM", "option_text_em")]),
    ("Passkey and needle (accuracy x 100)", ["passkey", "needle"], [("accuracy", "accuracy")]),
]
for title, dss, cols in tables:
    rows = []
    for ds in dss:
        for m in methods:
            info = run_info(ds, m)
            if info is None:
                continue
            if "skipped" in info:
                rows.append(f"| {ds} | {m} | 0 |" + " |" * len(cols) + f" | | | {info['skipped']} |")
                continue
            sc = info["scores"] or {}
            n = int(sc.get("n", 0))
            vals = "".join(f" {sc[k]:.2f} |" if k in sc else " |" for _, k in cols)
            per = info["answer_s"] / len(info["preds"]) if info["preds"] else 0
            threads = "/".join(info["threads"]) or "?"
            rows.append(f"| {ds} | {m} | {n} |{vals} {given(info, m)} | {seconds(info['answer_s'])} "
                        f"({per:.1f} s each, {threads} threads) | {seconds(info['elapsed_s'])} | {state(info)} |")
    if rows:
        p("")
        p(f"### {title}")
        p("")
        p("| dataset | method | n |" + "".join(f" {c} |" for c, _ in cols) +
          " context | answer time | elapsed | status |")
        p("|---|---|---:|" + "---:|" * len(cols) + "---:|---:|---:|---|")
        lines.extend(rows)

# Per-example scores of the synthetic runs: per length, and the heat maps.
pictures = []
for task in ("passkey", "needle"):
    grid_file = os.path.join(data, f"{task}.jsonl")
    if not os.path.exists(grid_file):
        continue
    grid = jsonl(grid_file)
    lengths = sorted({r["meta"]["length"] for r in grid})
    depths = sorted({float(r["meta"]["depth"]) for r in grid})
    per_cell = {(r["meta"]["length"], float(r["meta"]["depth"])): 0 for r in grid}
    for r in grid:
        per_cell[(r["meta"]["length"], float(r["meta"]["depth"]))] += 1
    where = {r["id"]: (r["meta"]["length"], float(r["meta"]["depth"])) for r in grid}
    drawn, table = [], []
    hm = os.path.join(out, "heatmap")
    os.makedirs(hm, exist_ok=True)
    for m in methods:
        info = run_info(task, m)
        if info is None or not info.get("preds"):
            continue
        answered = {x["id"] for x in info["preds"]}
        refs = os.path.join(hm, f"{task}-{m}.refs.jsonl")
        with open(refs, "w") as f:
            f.writelines(json.dumps({"id": r["id"], "answers": r["answers"]}) + "\n" for r in grid
                         if r["id"] in answered)
        per = os.path.join(hm, f"{task}-{m}.scores.jsonl")
        subprocess.run(cmd + ["score", "--metric", task, "--predictions", os.path.join(info["dir"], "predictions.jsonl"),
                              "--references", refs, "--per-example", per], check=True, stdout=subprocess.DEVNULL)
        acc = {}
        for x in jsonl(per):
            acc.setdefault(where[x["id"]], []).append(x["accuracy"])
        fits = None
        if m == "full":  # the cells whose texts fit the window
            fits = {where[r["id"]] for r in jsonl(json.load(open(os.path.join(info["dir"], "run.json")))["data"])}
        with open(os.path.join(hm, f"{task}-{m}.dat"), "w") as f:
            for xi, l in enumerate(lengths):
                for yi, d in enumerate(depths):
                    a = acc.get((l, d))
                    if a:
                        f.write(f'{xi} {yi} {100 * sum(a) / len(a):.1f} "{100 * sum(a) / len(a):.0f}%\\n({len(a)})"\n')
                    else:
                        why = "n/a" if fits is not None and (l, d) not in fits else "not run"
                        f.write(f'{xi} {yi} -1 "{why}"\n')
        cells = []
        for l in lengths:
            a = [v for (ll, _), vs in acc.items() if ll == l for v in vs]
            cells.append(f"{100 * sum(a) / len(a):.0f} ({len(a)})" if a else "")
        table.append(f"| {task} | {m} |" + "".join(f" {c} |" for c in cells))
        drawn.append(m)
    if not drawn:
        continue
    k = lambda l: f"{l // 1024}k" if l % 1024 == 0 else str(l)
    p("")
    p(f"### {task}: accuracy x 100 per length in tokens (n answered)")
    p("")
    p("| task | method |" + "".join(f" {k(l)} |" for l in lengths))
    p("|---|---|" + "---:|" * len(lengths))
    lines.extend(table)
    png = os.path.join(out, f"heatmap-{task}.png")
    samples = max(per_cell.values())
    title = (f"{task} in QMSum test meetings, {os.path.basename(model).split('.')[0]}: accuracy "
             f"(examples answered; {samples} per cell)")
    subprocess.run(["gnuplot", "-e", f"prefix='{os.path.join(hm, task)}'; methods='{' '.join(drawn)}'; "
                    f"xlabels='{' '.join(k(l) for l in lengths)}'; "
                    f"ylabels='{' '.join(f'{100 * d:g}' for d in depths)}'; title='{title}'; outfile='{png}'", gp],
                   check=True)
    pictures.append(png)
    if docs == "1":
        shutil.copy(png, os.path.join(docs_dir, f"results-{task}.png"))

p("")
for png in pictures:
    p(f"heat map: {png}" + (f" (copied to docs/results-{os.path.basename(png)[8:]})" if docs == "1" else ""))
p(f"this invocation: {time.time() - float(script_start):.0f} s")
text = "\n".join(lines) + "\n"
open(os.path.join(out, "results.md"), "w").write(text)
print(text, end="")
PY
