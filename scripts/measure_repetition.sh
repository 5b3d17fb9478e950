#!/usr/bin/env bash
# Measures what a repetition penalty and a no-repeat n-gram size (transformers'
# meanings, docs/decoder.md) do to an E2LLM model's answers on QMSum val: ROUGE,
# answer length and how often an answer repeats its own 3-grams. The best
# setting by ROUGE geometric mean is what `e2llm export --repetition-penalty P
# --no-repeat-ngram-size N` records as the model's answer defaults (docs/model.md).
# Each setting's answers go to OUT/<setting>/ through `e2llm eval`, so a killed
# run continues where it stopped when started again. The best setting is also
# written to OUT/best.txt as PENALTY:NGRAM (scripts/train_shipped_model.sh reads it).
# Usage: scripts/measure_repetition.sh CHECKPOINT [OUT] [build-dir]
#   QUERIES   QMSum val queries, from the first (default 40: the ones
#             scripts/train_shipped_model.sh chooses its checkpoint on)
#   SETTINGS  "PENALTY:NGRAM ..." (default below; 1:0 is neither)
#   MAX_NEW_TOKENS  answer budget (default 128, as the checkpoint choice)
#   THREADS   CPU threads (default: all cores)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
checkpoint=$1
out=${2:-$root/runs/repetition}
e2llm=${3:-$root/build}/e2llm
queries=${QUERIES:-40}
settings=${SETTINGS:-1:0 1.1:0 1.2:0 1.3:0 1:3 1:4 1.1:3 1.2:4}
max_new_tokens=${MAX_NEW_TOKENS:-128}
threads=${THREADS:-0}
[ -e "$checkpoint" ] || { echo "measure_repetition: $checkpoint: no such checkpoint" >&2; exit 1; }
[ -x "$e2llm" ] || { echo "measure_repetition: $e2llm not built (scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$out"
data="$out/qmsum-val-$queries.jsonl"
if [ ! -f "$data" ]; then
  "$e2llm" convert --format qmsum --input "$root/../shared/data/qmsum/val.jsonl" --output "$out/qmsum-val.jsonl"
  head -n "$queries" "$out/qmsum-val.jsonl" > "$data.tmp"
  mv "$data.tmp" "$data"
fi

for setting in $settings; do
  penalty=${setting%%:*} ngram=${setting##*:}
  echo "measure_repetition: repetition penalty $penalty, no-repeat n-gram size $ngram" >&2
  "$e2llm" --threads "$threads" eval --method e2llm --checkpoint "$checkpoint" --data "$data" --metric rouge --output "$out/$setting" \
    --max-new-tokens "$max_new_tokens" --repetition-penalty "$penalty" --no-repeat-ngram-size "$ngram" \
    --no-progress > /dev/null
done

python3 - "$out" "$checkpoint" $settings <<'PY' | tee "$out/table.md"
import json, os, sys
out, checkpoint, settings = sys.argv[1], sys.argv[2], sys.argv[3:]

def repeated_trigrams(text):
    words = text.lower().split()
    grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return 0.0 if not grams else 1 - len(set(grams)) / len(grams)

rows = []
for setting in settings:
    scores = json.load(open(f"{out}/{setting}/metrics.json"))["rows"][0]["scores"]
    answers = [json.loads(line)["prediction"] for line in open(f"{out}/{setting}/predictions.jsonl")]
    words = sum(len(a.split()) for a in answers) / len(answers)
    repeats = 100 * sum(repeated_trigrams(a) for a in answers) / len(answers)
    rows.append((setting, scores, words, repeats))
print(f"QMSum val, first {int(rows[0][1]['n'])} queries; checkpoint {checkpoint}\n")
print("| repetition penalty | no-repeat n-gram size | ROUGE-1 | ROUGE-2 | ROUGE-L | geometric mean "
      "| words per answer | repeated 3-grams |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for setting, s, words, repeats in rows:
    penalty, ngram = setting.split(":")
    print(f"| {penalty} | {ngram} | {s['rouge1_f']:.2f} | {s['rouge2_f']:.2f} | {s['rougeL_f']:.2f} "
          f"| {s['rouge_geo_mean']:.2f} | {words:.1f} | {repeats:.1f}% |")
best = max(rows, key=lambda r: r[1]["rouge_geo_mean"])[0]
penalty, ngram = best.split(":")
with open(f"{out}/best.txt.tmp", "w") as f:
    f.write(best + "\n")
os.replace(f"{out}/best.txt.tmp", f"{out}/best.txt")
print(f"\nbest: repetition penalty {penalty}, no-repeat n-gram size {ngram}; record it with\n"
      f"  e2llm export --checkpoint {checkpoint} --output MODEL --repetition-penalty {penalty} "
      f"--no-repeat-ngram-size {ngram}")
PY
