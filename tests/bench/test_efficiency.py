"""Unit tests of bench/efficiency.py's parsing, results and tables (issue #15).

Run by CTest (tests/CMakeLists.txt) as `python3 -m unittest` in this folder;
the end-to-end smoke run is EfficiencyBench in tests/unit/test_efficiency_bench.cpp."""
import json
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import efficiency as eff  # noqa: E402

# The closing lines of a real llama-completion run (llama.cpp in llama-cpp-python
# 0.3.36, SmolLM2-135M Q4_1, 15-token prompt, -n 32 --ignore-eos).
LLAMA_STDERR = """\
0.02.009.923 I generate: n_ctx = 512, n_batch = 2048, n_predict = 32, n_keep = 0
0.07.925.985 I common_perf_print:    sampling time =      29.24 ms
0.07.926.006 I common_perf_print:    samplers time =       2.64 ms /    47 tokens
0.07.926.019 I common_perf_print:        load time =    1116.25 ms
0.07.926.033 I common_perf_print: prompt eval time =     791.64 ms /    15 tokens (   52.78 ms per token,    18.95 tokens per second)
0.07.926.046 I common_perf_print:        eval time =    5048.28 ms /    31 runs   (  162.85 ms per token,     6.14 tokens per second)
0.07.926.058 I common_perf_print:       total time =    5920.72 ms /    46 tokens
0.07.926.071 I common_perf_print: unaccounted time =      51.56 ms /   0.9 %      (total - sampling - prompt eval - eval) / (total)
"""


def ok_row(decoder, length, method, latency, **extra):
    return {"decoder": decoder, "length": length, "method": method, "status": "ok", "latency_s": latency,
            "ttft_s": latency / 2, "prefill_s": latency / 4, "decode_s": latency / 2, "peak_rss_mib": 100.0 * length,
            **extra}


class Parsing(unittest.TestCase):
    def test_lengths(self):
        self.assertEqual(eff.parse_lengths("1k, 2k,500"), [1000, 2000, 500])
        for bad in ("", "0", "1m", "k", "-1k"):
            with self.assertRaises(ValueError, msg=bad):
                eff.parse_lengths(bad)
        self.assertEqual(eff.format_length(32000), "32k")
        self.assertEqual(eff.format_length(500), "500")

    def test_named(self):
        self.assertEqual(eff.parse_named(["a=/x=y.gguf"], "--decoder"), {"a": "/x=y.gguf"})
        with self.assertRaisesRegex(ValueError, "NAME=PATH"):
            eff.parse_named(["justapath"], "--decoder")

    def test_llama_perf(self):
        r = eff.parse_llama_perf(LLAMA_STDERR)
        self.assertEqual(r["prompt_tokens"], 15)
        self.assertAlmostEqual(r["prefill_s"], 0.79164)
        self.assertAlmostEqual(r["decode_s"], 5.04828)
        self.assertEqual(r["new_tokens"], 32)
        self.assertAlmostEqual(r["latency_s"], 5.92072)  # 'total time': after loading
        self.assertAlmostEqual(r["ttft_s"], 0.79164)
        self.assertAlmostEqual(r["load_s"], 1.11625)
        with self.assertRaisesRegex(ValueError, "prompt eval"):
            eff.parse_llama_perf("llama_model_load: error loading model\n")

    def test_prediction_row(self):
        pred = {"id": "len1000", "prediction": "x", "method": "e2llm", "chunks": 5, "soft_tokens": 7,
                "new_tokens": 32, "encode_s": 0.5, "prefill_s": 0.25, "decode_s": 1.5, "seconds": 2.5}
        r = eff.row_from_prediction(pred)
        self.assertAlmostEqual(r["ttft_s"], 1.0)
        self.assertEqual((r["latency_s"], r["encode_s"], r["chunks"], r["new_tokens"]), (2.5, 0.5, 5, 32))
        baseline = eff.row_from_prediction({"seconds": 3.0, "prefill_s": 1.0, "decode_s": 1.5, "kept_tokens": 9})
        self.assertNotIn("encode_s", baseline)
        self.assertEqual(baseline["kept_tokens"], 9)

    def test_stream_row(self):
        lines = ['data: {"choices":[{"delta":{"role":"assistant"}}]}\n', "\n",
                 'data: {"choices":[{"delta":{"content":"Hi"}}]}\n',
                 'data: {"choices":[],"usage":{"completion_tokens":32},"timings":{"encode_ms":0,'
                 '"prefill_ms":120,"decode_ms":900,"chunks_encoded":0,"chunks_from_store":4}}\n',
                 "data: [DONE]\n", 'data: {"after": "done"}\n']
        events = eff.sse_data(lines)
        self.assertEqual(len(events), 3)
        r = eff.row_from_stream(events, 10.0, 10.25, 11.5)
        self.assertAlmostEqual(r["ttft_s"], 0.25)
        self.assertAlmostEqual(r["latency_s"], 1.5)
        self.assertAlmostEqual(r["prefill_s"], 0.12)
        self.assertEqual((r["new_tokens"], r["chunks_encoded"], r["chunks_from_store"]), (32, 0, 4))
        with self.assertRaisesRegex(ValueError, "usage"):
            eff.row_from_stream(events[:2], 0, None, 1)


class Results(unittest.TestCase):
    def test_torn_line_ignored_and_last_row_wins(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "results.jsonl"
            eff.append_result(path, {**ok_row("s", 1000, "full", 9.0), "status": "failed"})
            eff.append_result(path, ok_row("s", 1000, "full", 4.0))
            with open(path, "a") as f:
                f.write('{"decoder": "s", "len')  # a crash mid-write
            rows = eff.read_results(path)
            self.assertEqual(len(rows), 2)
            latest = eff.latest_rows(rows)
            self.assertEqual(latest[("s", 1000, "full")]["latency_s"], 4.0)

    def test_crossover(self):
        rows = eff.latest_rows([ok_row("s", 1000, "e2llm", 2.0), ok_row("s", 1000, "full", 1.0),
                                ok_row("s", 2000, "e2llm", 2.5), ok_row("s", 2000, "full", 3.0),
                                ok_row("s", 4000, "e2llm", 3.0),
                                {"decoder": "s", "length": 4000, "method": "full", "status": eff.EXCEEDS}])
        self.assertEqual(eff.crossover(rows, "s", [1000, 2000, 4000], "e2llm", "full"), 2000)
        # Slower again at the longest length: no crossover.
        rows[("s", 4000, "full")] = ok_row("s", 4000, "full", 2.0)
        self.assertIsNone(eff.crossover(rows, "s", [1000, 2000, 4000], "e2llm", "full"))

    def test_tables(self):
        rows = [ok_row("smollm2", 1000, "e2llm", 2.0, encode_s=0.5), ok_row("smollm2", 1000, "full", 4.0),
                ok_row("smollm2", 16000, "e2llm", 3.0, encode_s=1.0),
                {"decoder": "smollm2", "length": 16000, "method": "full", "status": eff.EXCEEDS},
                {"decoder": "smollm2", "length": 16000, "method": "rag", "status": "failed", "error": "x"}]
        md = eff.markdown_tables(rows)
        self.assertIn("| method | 1k | 16k |", md)
        self.assertIn("| e2llm | 2.00 | 3.00 |", md)
        self.assertIn("| full | 4.00 | exceeds window |", md)
        self.assertIn("| rag | – | failed |", md)
        self.assertIn("| e2llm | 0.50 / 0.50 / 1.00 | 1.00 / 0.75 / 1.50 |", md)  # encode / prefill / decode
        self.assertIn("| full | 100000 | exceeds window |", md)  # peak MiB
        self.assertIn("E2LLM answers faster than full from 1k tokens on.", md)
        self.assertNotIn("llama.cpp", md)

    def test_gnuplot_script(self):
        rows = [ok_row("g", 1000, "e2llm", 2.0), ok_row("g", 2000, "e2llm", 2.5),
                {"decoder": "g", "length": 2000, "method": "full", "status": eff.EXCEEDS}]
        with tempfile.TemporaryDirectory() as d:
            script = eff.gnuplot_script(rows, "g", "latency_s", "s", Path(d) / "x.png", Path(d))
            self.assertIn("set logscale xy", script)
            self.assertIn("title 'e2llm'", script)
            self.assertNotIn("title 'full'", script)
            self.assertEqual((Path(d) / "g-latency_s-e2llm.dat").read_text(), "1000 2.0\n2000 2.5\n")


class Processes(unittest.TestCase):
    def test_peak_memory_and_exit_code_of_a_child(self):
        with tempfile.TemporaryDirectory() as d:
            m = eff.run_measured([sys.executable, "-c", "b = bytearray(200 << 20); b[::4096] = b'x' * len(b[::4096]);"
                                  " print('hi'); raise SystemExit(3)"], Path(d))
            self.assertEqual(m.rc, 3)
            self.assertEqual(m.stdout, "hi\n")
            self.assertGreater(m.peak_rss_mib, 200)
            self.assertLess(m.peak_rss_mib, 1000)


if __name__ == "__main__":
    unittest.main()
