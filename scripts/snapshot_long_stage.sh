#!/usr/bin/env bash
# Keeps the long stage of scripts/train_shipped_model.sh in the repository: exports
# the run's latest checkpoint (trained tensors only, ~13 MB) into
# snapshots/e2llm-minilm-smollm2-long and records there how many long-stage steps
# those tensors have had in all (steps-done), so that the next machine goes on
# from here for the steps that are left instead of starting the stage again.
# Run it before a session ends (after the training has stopped at a checkpoint),
# then update the snapshot's README.md with what was measured and commit both.
# Usage: scripts/snapshot_long_stage.sh [OUT] [build-dir]   (OUT default runs/shipped)
set -euo pipefail
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/runs/shipped}
build=${2:-$root/build}
snapshot="$root/snapshots/e2llm-minilm-smollm2-long"
[ -f "$out/run/latest" ] || { echo "snapshot_long_stage: no long-stage checkpoint in $out/run" >&2; exit 1; }
[ -x "$build/e2llm" ] || { echo "snapshot_long_stage: $build/e2llm not built (scripts/setup.sh)" >&2; exit 1; }
latest="$out/run/$(cat "$out/run/latest")"
run_steps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/checkpoint.json"))["step"])' "$latest")
# Steps the run's starting tensors had already had (train_shipped_model.sh writes
# this when it starts from the snapshot; a run from the short stage starts at 0).
before=$(cat "$out/long-steps-before" 2>/dev/null || echo 0)
# The tensors and their step count change together: both are written into a
# new folder that then takes the old one's place (a crash before that leaves the
# old snapshot as it was; between the two renames, git checks the old one out again).
staging="$snapshot.tmp"
rm -rf "$staging" "$snapshot.old"
"$build/e2llm" export --checkpoint "$latest" --output "$staging" --force
echo $(( before + run_steps )) > "$staging/steps-done"
[ -f "$snapshot/README.md" ] && cp "$snapshot/README.md" "$staging/README.md"
[ -d "$snapshot" ] && mv "$snapshot" "$snapshot.old"
mv "$staging" "$snapshot"
rm -rf "$snapshot.old"
echo "snapshot_long_stage: $snapshot holds $(cat "$snapshot/steps-done") long-stage steps ($before before this run, $run_steps in it)" >&2
