#!/usr/bin/env bash
# Quantized GGUF decoding against llama.cpp in one run (issue #14; figures in
# docs/decoder.md): for each model, e2llm's decode and prefill tokens/s
# (quantized and float32), decoding with rank-8 LoRA adapters (an E2LLM
# answer), decoding after a ~4k-token prompt, the quantized
# kernels alone, prefill of a ~7k-token text, and peak memory, beside llama.cpp's llama-bench / llama-completion on
# the same file, and the machine's read bandwidth (the decoding limit is
# bandwidth / bytes of weights per token). Prints a Markdown table.
# Usage: bench/quantized_decoding.sh [build-dir]
#   MODELS   .gguf names in the model cache (default: SmolLM2 Q4_1 and Gemma 3 Q4_K_M)
#   THREADS  threads for every run (default 2)
#   ROUNDS   short-prompt decode measured again this many times, e2llm and llama.cpp
#            alternating, so that a drift of the machine shows in both (default 3)
# Needs: the models (scripts/fetch_models.sh), llama.cpp (bench/llama_cpp.sh
# builds it outside the repository), /usr/bin/time, python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
cache=${E2LLM_MODEL_CACHE:-$HOME/.cache/e2llm/models}
read -r -a models <<< "${MODELS:-SmolLM2-135M-Instruct.Q4_1.gguf gemma-3-270m-Q4_K_M.gguf}"
die() { echo "quantized_decoding.sh: $*" >&2; exit 1; }
[ -x "$build/e2llm" ] || die "no $build/e2llm: build first"
[ -x /usr/bin/time ] || die "/usr/bin/time missing: apt-get install time"
llama_bench=$("$root/bench/llama_cpp.sh" | tail -n 1)
llama_completion=$(dirname "$llama_bench")/llama-completion
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A real ~7k-token prompt: the start of the longest QMSum test transcript.
python3 - "$root/../shared/data/qmsum/test.jsonl" "$work/long.txt" "$work/4k.txt" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def text(r):
    t = r.get("meeting_transcripts") or r.get("transcript") or r.get("context") or ""
    return " ".join(f"{u.get('speaker', '')}: {u.get('content', '')}" for u in t) if isinstance(t, list) else str(t)
words = max((text(r) for r in rows), key=len).split()
open(sys.argv[2], "w").write(" ".join(words[:5300]))  # ~0.76 words per SmolLM2 token
open(sys.argv[3], "w").write(" ".join(words[:3100]))  # ~4k tokens: decoding with a long KV cache
PY

{
  echo "machine: $("$build/e2llm" info | grep -E '^CPU' | tr -s ' ')"
  "$build/e2llm" info | grep -E '^quantized' | tr -s ' '
  date -u +"date: %Y-%m-%d %H:%M UTC"
} >&2
"$build/bench/bench_bandwidth" --threads "$threads" --reps 5 | tail -n 1 > "$work/bandwidth.json"

for name in "${models[@]}"; do
  model=$cache/$name
  [ -f "$model" ] || die "$model missing: run scripts/fetch_models.sh"
  echo "== $name" >&2
  E2LLM_BENCH_MODEL=$model E2LLM_BENCH_THREADS=$threads "$build/bench/bench_decoder" --benchmark_min_time=1 --benchmark_format=json \
    --benchmark_filter='Decode/(quantized|quantized_lora|fp32)/|Prefill/(quantized|fp32)/512|QuantizedMatvecs' \
    > "$work/$name.e2llm.json" 2>/dev/null
  "$llama_bench" -m "$model" -t "$threads" -p 512 -n 32 -r 3 -o json > "$work/$name.llama.json" 2>/dev/null
  "$llama_bench" -m "$model" -t "$threads" -p 7168 -n 0 -r 1 -o json > "$work/$name.llama7k.json" 2>/dev/null
  # Decoding after ~4k tokens, where attention over the cache is a real part of a step.
  "$llama_bench" -m "$model" -t "$threads" -d 4096 -p 0 -n 32 -r 2 -o json > "$work/$name.llama4k.json" 2>/dev/null
  "$build/e2llm" --threads "$threads" generate --model "$model" --prompt-file "$work/4k.txt" \
    --max-new-tokens 32 --ignore-eos --stats 2> "$work/$name.quantized.4k.txt" > /dev/null
  for weights in quantized float32; do
    "$build/e2llm" --threads "$threads" generate --model "$model" --weights "$weights" --prompt-file "$work/long.txt" \
      --max-new-tokens 1 --stats 2> "$work/$name.$weights.7k.txt" > /dev/null
    /usr/bin/time -f "%M" -o "$work/$name.$weights.rss" "$build/e2llm" --threads "$threads" generate --model "$model" \
      --weights "$weights" --prompt "Once upon a time" --max-new-tokens 32 --ignore-eos > /dev/null 2>&1
  done
  for round in $(seq "$rounds"); do
    E2LLM_BENCH_MODEL=$model E2LLM_BENCH_THREADS=$threads "$build/bench/bench_decoder" --benchmark_min_time=1 \
      --benchmark_format=json --benchmark_filter='Decode/quantized/' > "$work/$name.round$round.e2llm.json" 2>/dev/null
    "$llama_bench" -m "$model" -t "$threads" -p 0 -n 32 -r 3 -o json > "$work/$name.round$round.llama.json" 2>/dev/null
  done
  /usr/bin/time -f "%M" -o "$work/$name.llama.rss" "$llama_completion" -m "$model" -t "$threads" -p "Once upon a time" \
    -n 32 -no-cnv --no-warmup > /dev/null 2>&1 < /dev/null || echo "(llama-completion failed)" > "$work/$name.llama.rss"
done

python3 - "$work" "$threads" "$rounds" "${models[@]}" <<'PY'
import json, os, re, statistics, sys
work, threads, rounds, models = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
bw = json.load(open(os.path.join(work, "bandwidth.json")))
read = max(r["best_gbs"] for r in bw["results"] if r["kernel"] == "read" and r["threads"] == int(threads))
print(f"read bandwidth, {threads} threads: {read:.1f} GB/s\n")
print(f"| model | | e2llm quantized | e2llm float32 | llama.cpp |")
print("|---|---|---:|---:|---:|")
def rss(path):
    t = open(path).read().strip().splitlines()
    return f"{int(t[-1]) / 1024:.0f} MiB" if t and t[-1].isdigit() else "—"
def decode_4k(path):
    m = re.search(r"prompt (\d+) tokens, .*decode ([\d.]+) tokens/s", open(path).read())
    return f"{float(m.group(2)):.1f} (after {m.group(1)} tokens)" if m else "—"
def prefill_7k(path):
    m = re.search(r"prompt (\d+) tokens, prefill ([\d.]+) tokens/s", open(path).read())
    return f"{float(m.group(2)):.0f} ({m.group(1)} tokens)" if m else "—"
for name in models:
    e = {b["name"]: b for b in json.load(open(os.path.join(work, f"{name}.e2llm.json")))["benchmarks"]}
    get = lambda prefix, key: next((b[key] for n, b in e.items() if n.startswith(prefix)), float("nan"))
    llama = {("pp" if r["n_prompt"] else "tg"): r["avg_ts"] for r in json.load(open(os.path.join(work, f"{name}.llama.json")))}
    llama7k = json.load(open(os.path.join(work, f"{name}.llama7k.json")))[0]
    size = os.path.getsize(os.path.join(os.environ.get("E2LLM_MODEL_CACHE", os.path.expanduser("~/.cache/e2llm/models")), name))
    limit = read * 1e9 / size
    q_decode = get("BM_Decode/quantized/", "tokens/s")
    print(f"| {name} | decode tokens/s (e2llm after 128 tokens, llama.cpp tg32) | {q_decode:.1f} | "
          f"{get('BM_Decode/fp32/', 'tokens/s'):.1f} | {llama['tg']:.1f} |")
    print(f"| | share of the bandwidth limit ({limit:.0f} tokens/s = read GB/s / file size) | "
          f"{100 * q_decode / limit:.0f}% | | {100 * llama['tg'] / limit:.0f}% |")
    if rounds:
        ours = [json.load(open(os.path.join(work, f"{name}.round{r}.e2llm.json")))["benchmarks"][0]["tokens/s"]
                for r in range(1, rounds + 1)]
        theirs = [json.load(open(os.path.join(work, f"{name}.round{r}.llama.json")))[0]["avg_ts"]
                  for r in range(1, rounds + 1)]
        spread = lambda v: f"{statistics.median(v):.1f} ({min(v):.1f}–{max(v):.1f})"
        print(f"| | the same, {rounds} alternating rounds: median (range) | {spread(ours)} | | {spread(theirs)} |")
    print(f"| | decode tokens/s with rank-8 LoRA on every projection (as an E2LLM model answers) | "
          f"{get('BM_Decode/quantized_lora/', 'tokens/s'):.1f} | | |")
    llama4k = json.load(open(os.path.join(work, f"{name}.llama4k.json")))[0]
    print(f"| | decode tokens/s after a ~4k-token prompt (llama.cpp: -d 4096 tg32) | "
          f"{decode_4k(os.path.join(work, f'{name}.quantized.4k.txt'))} | | {llama4k['avg_ts']:.1f} |")
    print(f"| | quantized kernels alone, tokens/s | {get('BM_QuantizedMatvecs', 'tokens/s'):.1f} | | |")
    print(f"| | prefill 512 tokens, tokens/s | {get('BM_Prefill/quantized/512', 'tokens/s'):.0f} | "
          f"{get('BM_Prefill/fp32/512', 'tokens/s'):.0f} | {llama['pp']:.0f} |")
    print(f"| | prefill ~7k tokens, tokens/s | {prefill_7k(os.path.join(work, f'{name}.quantized.7k.txt'))} | "
          f"{prefill_7k(os.path.join(work, f'{name}.float32.7k.txt'))} | {llama7k['avg_ts']:.0f} (7168) |")
    print(f"| | peak RSS, 4-token prompt + 32 tokens (file {size / 2**20:.0f} MiB) | "
          f"{rss(os.path.join(work, f'{name}.quantized.rss'))} | {rss(os.path.join(work, f'{name}.float32.rss'))} | "
          f"{rss(os.path.join(work, f'{name}.llama.rss'))} |")
PY
