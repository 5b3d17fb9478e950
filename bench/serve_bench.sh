#!/usr/bin/env bash
# The serving benchmark (docs/serving.md): `e2llm serve` with the shipped
# model (models/e2llm-minilm-smollm2: all-MiniLM-L6-v2 + SmolLM2-135M-Instruct
# Q4_1, from scripts/fetch_models.sh) and bench/serve_bench.py with the first
# QMSum test meeting.
# Usage: bench/serve_bench.sh [build-dir]
#   REQUESTS=N   questions per client at each concurrency (default 4)
#   MODEL=DIR    another E2LLM checkpoint
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
model=${MODEL:-$root/models/e2llm-minilm-smollm2}
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

"$build/e2llm" info | grep -E "^(e2llm|LibTorch|threads|CPU) "
grep -m1 "model name" /proc/cpuinfo || true
"$build/e2llm" convert --format qmsum --input "$root/../shared/data/qmsum/test.jsonl" --output "$work/test.jsonl" >/dev/null
python3 -c 'import json, sys; open(sys.argv[2], "w").write(json.loads(open(sys.argv[1]).readline())["context"])' \
  "$work/test.jsonl" "$work/meeting.txt"
"$build/e2llm" serve --model "$model" --port 0 --store "$work/store" --parallel 8 --max-queue 64 \
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
curl -s "http://127.0.0.1:$port/metrics" | grep -E "^e2llm_(decode_steps|generated_tokens|encoder_chunks|read_hits)_total"
kill "$server"; wait "$server" 2>/dev/null || true; server=""
# The peer in the same run: the same decoder decoding one sequence alone, no server.
echo "peer: e2llm generate, one sequence, same decoder:"
decoder=$(python3 - "$model" <<'PY'
import json, os, sys
d = sys.argv[1]
if os.path.isfile(os.path.join(d, "latest")):  # a training output folder: its newest step
    d = os.path.join(d, open(os.path.join(d, "latest")).read().strip())
print(json.load(open(os.path.join(d, "checkpoint.json")))["config"]["model"]["decoder"])
PY
)
"$build/e2llm" generate --model "$decoder" --prompt "The meeting was about" --max-new-tokens 32 --greedy --stats \
  2>&1 >/dev/null | tail -n 1
