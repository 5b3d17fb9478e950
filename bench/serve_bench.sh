#!/usr/bin/env bash
# The serving benchmark (docs/serving.md): trains a 1-step E2LLM checkpoint on
# the real models (all-MiniLM-L6-v2 + SmolLM2-135M-Instruct Q4_1, from
# scripts/fetch_models.sh; timing does not depend on the weights), starts
# `e2llm serve` on it and runs bench/serve_bench.py with a QMSum test meeting.
# Usage: bench/serve_bench.sh [build-dir]    (REQUESTS=N per client, default 4)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

"$build/e2llm" info | grep -E "^(e2llm|LibTorch|threads|CPU) "
grep -m1 "model name" /proc/cpuinfo || true
"$build/e2llm" convert --format qmsum --input "$root/../shared/data/qmsum/train.jsonl" --output "$work/train.jsonl" >/dev/null
"$build/e2llm" convert --format qmsum --input "$root/../shared/data/qmsum/test.jsonl" --output "$work/test.jsonl" >/dev/null
python3 - "$work" "$root/configs/minilm-smollm2-qmsum.json" <<'PY'
import json, sys
work, base = sys.argv[1], sys.argv[2]
c = json.load(open(base))
c["training"].update({"max_steps": 1, "grad_accum": 1, "output_dir": f"{work}/ckpt", "eval_every": 0,
                      "metrics_log": f"{work}/metrics.jsonl", "checkpoint_every": 1})
c["data"] = {"train": f"{work}/train.jsonl"}
json.dump(c, open(f"{work}/config.json", "w"))
first = json.loads(open(f"{work}/test.jsonl").readline())
open(f"{work}/meeting.txt", "w").write(first["context"])
PY
echo "training a 1-step checkpoint (timing does not depend on the weights)..."
"$build/e2llm" train --config "$work/config.json" --quiet
"$build/e2llm" serve --model "$work/ckpt" --port 0 --store "$work/store" --parallel 8 --max-queue 64 \
  2>"$work/serve.log" &
server=$!
port=""
for _ in $(seq 600); do
  port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/serve.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.5
done
[ -n "$port" ] || { cat "$work/serve.log"; exit 1; }
python3 "$root/bench/serve_bench.py" "$port" "$work/meeting.txt" --requests "${REQUESTS:-4}"
curl -s "http://127.0.0.1:$port/metrics" | grep -E "^e2llm_(decode_steps|generated_tokens|encoder_chunks)_total"
kill "$server"; wait "$server" 2>/dev/null || true; server=""
# The peer in the same run: the same decoder decoding one sequence alone, no server.
echo "peer: e2llm generate, one sequence, same decoder:"
"$build/e2llm" generate --model "$(python3 -c 'import json,os,sys; print(os.path.expanduser(json.load(open(sys.argv[1]))["model"]["decoder"]))' "$work/config.json")" \
  --prompt "The meeting was about" --max-new-tokens 32 --greedy --stats 2>&1 >/dev/null | tail -n 1
