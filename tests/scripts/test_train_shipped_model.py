"""Tests of how scripts/train_shipped_model.sh and scripts/snapshot_long_stage.sh
carry the long training stage from one machine to the next (docs/model.md).

Run by CTest (tests/CMakeLists.txt) as `python3 -m unittest` in this folder.
Both scripts run for real, in a copy of the repository's layout, against a
stand-in `e2llm` that records each `train` call and writes the checkpoints a
real run would (step numbers only): what is checked is the scripts' own logic,
where a long stage starts from, for how many steps, and what the snapshot says."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LONG_STEPS = json.loads((REPO / "configs/e2llm-minilm-smollm2.json").read_text())["training"]["max_steps"]

# Trains 20 steps per call (or to max_steps), as `--max-time` would stop a real
# run; `export` copies the checkpoint's step and the answer defaults it is given;
# `eval` scores a checkpoint by how far its step is from $FAKE_BEST_STEP, and a
# repetition setting by whether it is $FAKE_BEST_SETTING.
FAKE_E2LLM = r'''#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
def arg(name, default=None):
    return args[args.index(name) + 1] if name in args else default
if "info" in args:
    print("CPU        fake"); sys.exit(0)
if "export" in args:
    src, out = arg("--checkpoint"), arg("--output")
    step = json.load(open(os.path.join(src, "checkpoint.json")))["step"]
    os.makedirs(os.path.join(out, "step-%08d" % step), exist_ok=True)
    json.dump({"step": step, "repetition": f"{arg('--repetition-penalty')}:{arg('--no-repeat-ngram-size')}"},
              open(os.path.join(out, "step-%08d" % step, "checkpoint.json"), "w"))
    open(os.path.join(out, "latest"), "w").write("step-%08d" % step)
    sys.exit(0)
if "convert" in args:
    with open(arg("--output"), "w") as f:
        f.writelines('{"id": "q%d"}\n' % i for i in range(50))
    sys.exit(0)
if "eval" in args:
    step = json.load(open(os.path.join(arg("--checkpoint"), "checkpoint.json")))["step"]
    if "--repetition-penalty" in args:
        setting = f"{arg('--repetition-penalty')}:{arg('--no-repeat-ngram-size')}"
        score = 20.0 if setting == os.environ["FAKE_BEST_SETTING"] else 10.0
    else:
        score = 10.0 - abs(step - int(os.environ["FAKE_BEST_STEP"]))
    os.makedirs(arg("--output"), exist_ok=True)
    names = ("rouge1_f", "rouge2_f", "rougeL_f", "rouge_geo_mean")
    json.dump({"rows": [{"scores": dict({n: score for n in names}, n=40)}]},
              open(os.path.join(arg("--output"), "metrics.json"), "w"))
    with open(os.path.join(arg("--output"), "predictions.jsonl"), "w") as f:
        f.write(json.dumps({"prediction": "an answer"}) + "\n")
    sys.exit(0)
assert "train" in args, args
config = json.load(open(args[args.index("--config") + 1]))
run = config["training"]["output_dir"]
step = 0
if "--resume" in args:
    step = json.load(open(os.path.join(run, open(os.path.join(run, "latest")).read(), "checkpoint.json")))["step"]
step = min(step + 20, config["training"]["max_steps"])
with open(os.environ["FAKE_TRAIN_LOG"], "a") as log:
    log.write(json.dumps({"config": args[args.index("--config") + 1], "resume": "--resume" in args,
                          "init_from": config["training"].get("init_from"),
                          "max_steps": config["training"]["max_steps"], "now_at": step}) + "\n")
os.makedirs(os.path.join(run, "step-%08d" % step), exist_ok=True)
json.dump({"step": step}, open(os.path.join(run, "step-%08d" % step, "checkpoint.json"), "w"))
open(os.path.join(run, "latest"), "w").write("step-%08d" % step)
'''


class LongStageAcrossMachines(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.root = self.tmp / "repo"
        for part in ("scripts/train_shipped_model.sh", "scripts/snapshot_long_stage.sh", "scripts/measure_repetition.sh",
                     "configs/e2llm-minilm-smollm2.json", "configs/e2llm-minilm-smollm2-short.json"):
            (self.root / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / part, self.root / part)
        self.build = self.tmp / "build"
        self.build.mkdir()
        (self.build / "e2llm").write_text(FAKE_E2LLM)
        (self.build / "e2llm").chmod(0o755)
        self.log = self.tmp / "train-log.jsonl"
        self.long_snapshot = self.root / "snapshots/e2llm-minilm-smollm2-long"

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def out_dir(self, name):
        out = self.tmp / name
        (out / "data").mkdir(parents=True)
        for mix in ("short-mix", "train-mix"):  # present: the data stage is skipped
            (out / "data" / f"{mix}.jsonl").write_text('{"id": "passkey-1"}\n')
        return out

    def train(self, out, **env):
        run_env = dict(os.environ, FAKE_TRAIN_LOG=str(self.log), MAX_TIME="60", **env)
        return subprocess.run(["bash", str(self.root / "scripts/train_shipped_model.sh"), str(out), str(self.build)],
                              env=run_env, capture_output=True, text=True, check=True)

    def snapshot(self, out):
        subprocess.run(["bash", str(self.root / "scripts/snapshot_long_stage.sh"), str(out), str(self.build)],
                       capture_output=True, text=True, check=True)
        return int((self.long_snapshot / "steps-done").read_text())

    def calls(self):
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def test_a_new_machine_goes_on_from_the_long_snapshot_for_the_steps_left(self):
        self.long_snapshot.mkdir(parents=True)
        (self.long_snapshot / "steps-done").write_text("150\n")
        out = self.out_dir("out")
        result = self.train(out)
        self.assertIn(f"step 150 of {LONG_STEPS}", result.stderr)
        first = self.calls()[-1]
        self.assertEqual(first["init_from"], str(self.long_snapshot))
        self.assertEqual(first["max_steps"], LONG_STEPS - 150)
        self.assertFalse(first["resume"])
        self.assertFalse((out / "short").exists(), "the short stage must not run again")

        # A newer snapshot committed meanwhile does not change a run already going.
        (self.long_snapshot / "steps-done").write_text("999\n")
        self.train(out)
        second = self.calls()[-1]
        self.assertTrue(second["resume"])
        self.assertEqual(second["max_steps"], LONG_STEPS - 150)
        self.assertEqual(second["now_at"], 40)

        (self.long_snapshot / "README.md").write_text("what was measured\n")
        self.assertEqual(self.snapshot(out), 150 + 40)
        self.assertTrue((self.long_snapshot / "latest").exists())
        # The tensors and steps-done are replaced together; the README stays, nothing else is left.
        self.assertEqual((self.long_snapshot / "README.md").read_text(), "what was measured\n")
        self.assertEqual(sorted(p.name for p in self.long_snapshot.parent.iterdir()), ["e2llm-minilm-smollm2-long"])

    def test_a_long_stage_started_elsewhere_counts_from_zero_and_resumes_without_the_short_stage(self):
        out = self.out_dir("out")
        init = self.tmp / "some-model"
        self.train(out, INIT_FROM=str(init))
        self.assertEqual(self.calls()[-1]["init_from"], str(init))
        self.assertEqual(self.calls()[-1]["max_steps"], LONG_STEPS)
        # Resumed without INIT_FROM, and with a long snapshot present: the run goes on as it began.
        self.long_snapshot.mkdir(parents=True)
        (self.long_snapshot / "steps-done").write_text("150\n")
        self.train(out)
        last = self.calls()[-1]
        self.assertTrue(last["resume"])
        self.assertEqual(last["max_steps"], LONG_STEPS)
        self.assertEqual(len(self.calls()), 2, "the short stage must not run")
        self.assertEqual(self.snapshot(out), 40)

    def test_the_finished_stage_exports_the_best_checkpoint_with_its_best_repetition_setting(self):
        self.long_snapshot.mkdir(parents=True)
        (self.long_snapshot / "steps-done").write_text(f"{LONG_STEPS - 40}\n")
        out = self.out_dir("out")
        env = dict(EXPORT="1", FAKE_BEST_STEP="20", FAKE_BEST_SETTING="1.1:3")
        self.train(out, **env)  # step 20 of the 40 left: not finished, nothing chosen yet
        self.assertFalse((out / "best.txt").exists())
        result = self.train(out, **env)
        self.assertIn("best on QMSum val: step-00000020", result.stderr)
        model = self.root / "models/e2llm-minilm-smollm2"
        self.assertEqual((model / "latest").read_text(), "step-00000020")
        exported = json.loads((model / "step-00000020/checkpoint.json").read_text())
        self.assertEqual(exported["repetition"], "1.1:3")
        self.assertEqual((out / "repetition-step-00000020/best.txt").read_text(), "1.1:3\n")

    def test_a_snapshot_with_every_step_is_an_error_that_says_to_export_it(self):
        self.long_snapshot.mkdir(parents=True)
        (self.long_snapshot / "steps-done").write_text(f"{LONG_STEPS}\n")
        with self.assertRaises(subprocess.CalledProcessError) as failure:
            self.train(self.out_dir("out"))
        self.assertIn("export it", failure.exception.stderr)
        self.assertFalse(self.log.exists(), "nothing may train")


class ScriptsSayHowToUseThem(unittest.TestCase):
    def test_help_prints_the_usage(self):
        for script in ("train_shipped_model.sh", "snapshot_long_stage.sh"):
            result = subprocess.run(["bash", str(REPO / "scripts" / script), "--help"],
                                    capture_output=True, text=True, check=True)
            self.assertIn(f"Usage: scripts/{script}", result.stdout)

    def test_a_snapshot_without_a_checkpoint_or_a_build_is_an_error_that_names_it(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run(["bash", str(REPO / "scripts/snapshot_long_stage.sh"), tmp, tmp],
                                    capture_output=True, text=True)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn(f"no long-stage checkpoint in {tmp}/run", result.stderr)
            (Path(tmp) / "run").mkdir()
            (Path(tmp) / "run" / "latest").write_text("step-00000001")
            result = subprocess.run(["bash", str(REPO / "scripts/snapshot_long_stage.sh"), tmp, tmp],
                                    capture_output=True, text=True)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn(f"{tmp}/e2llm not built", result.stderr)


if __name__ == "__main__":
    unittest.main()
