#!/usr/bin/env python3
"""The efficiency benchmark (issue #15, docs/efficiency.md).

For context lengths of real text (QMSum meeting transcripts, concatenated and
cut to N decoder tokens) and one question, each method answers with exactly
--new-tokens generated tokens, every run in its own process, and the driver
records the answer latency, its split, the time to first token and the
process's peak resident memory:

  e2llm         E2LLM: chunk, encode, pool, adapt, decode (e2llm eval --method e2llm)
  e2llm-stored  E2LLM with the document already encoded: a question to
                `e2llm serve` about a stored document (POST /v1/documents first)
  full          the same decoder reading the whole text (e2llm eval --method full)
  llama.cpp     llama.cpp's llama-completion reading the whole text (same GGUF)
  rag           bm25 retrieval into a 2048-token window (e2llm eval --method rag)
  truncate      head and tail in a 2048-token window (e2llm eval --method truncate)

  bench/efficiency.py run --out DIR      measure (resumable: rows already in
                                         DIR/results.jsonl are not run again)
  bench/efficiency.py report --out DIR   tables (markdown) and plots (gnuplot)

Timing does not depend on the weights, so without --checkpoint the driver
trains a 1-step E2LLM checkpoint per decoder (MiniLM encoder, as
configs/minilm-smollm2-qmsum.json). Only the Python standard library is used.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_CACHE = Path(os.environ.get("E2LLM_MODEL_CACHE", Path.home() / ".cache/e2llm/models"))
KNOWN_DECODERS = {
    "smollm2": MODEL_CACHE / "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": MODEL_CACHE / "gemma-3-270m-Q4_K_M.gguf",
}
METHODS = ["e2llm", "e2llm-stored", "full", "llama.cpp", "rag", "truncate"]
QUESTION = "What did the group decide, and what will each member do next?"
EXCEEDS = "exceeds window"


# ---------------------------------------------------------------- parsing

def parse_lengths(text: str) -> list[int]:
    """'1k,2k,500' -> [1000, 2000, 500] (k = 1000 decoder tokens)."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        m = re.fullmatch(r"(\d+)(k?)", part)
        if not m or int(m.group(1)) == 0:
            raise ValueError(f"bad length '{part}': give tokens like 512 or 4k")
        out.append(int(m.group(1)) * (1000 if m.group(2) else 1))
    return out


def format_length(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def parse_named(items: list[str], what: str) -> dict[str, str]:
    """['smollm2=/a/b.gguf'] -> {'smollm2': '/a/b.gguf'}."""
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"{what} '{item}': give NAME=PATH")
        out[name] = path
    return out


_LLAMA_PERF = re.compile(r"(sampling|load|prompt eval|eval|total) time\s*=\s*([0-9.]+) ms(?: /\s*(\d+) (?:tokens|runs))?")


def parse_llama_perf(stderr: str) -> dict:
    """llama.cpp's closing perf lines -> seconds and counts.

    Reads 'prompt eval time = X ms / N tokens', 'eval time = X ms / N runs',
    'sampling time', 'load time' and 'total time' (total = everything after
    loading). Raises ValueError when the prompt or eval line is missing."""
    found = {}
    for line in stderr.splitlines():
        m = _LLAMA_PERF.search(line)
        if m:
            found[m.group(1)] = (float(m.group(2)) / 1000.0, int(m.group(3)) if m.group(3) else None)
    if "prompt eval" not in found or "eval" not in found:
        raise ValueError("no llama.cpp perf lines ('prompt eval time', 'eval time') in its output")
    prefill, prompt_tokens = found["prompt eval"]
    decode, runs = found["eval"]
    sampling = found.get("sampling", (0.0, None))[0]
    total = found["total"][0] if "total" in found else prefill + decode + sampling
    return {"prompt_tokens": prompt_tokens, "prefill_s": prefill, "decode_s": decode,
            "new_tokens": (runs or 0) + 1,  # the first token comes from the prompt pass
            "latency_s": total, "ttft_s": prefill, "load_s": found.get("load", (None, None))[0]}


def row_from_prediction(pred: dict) -> dict:
    """One line of e2llm eval's predictions.jsonl -> the timing fields of a row.

    'seconds' is the whole answer (text in, last token out, model loading
    excluded); the first token comes out of the prefill, so the time to first
    token is everything but the decode steps."""
    latency = float(pred["seconds"])
    decode = float(pred.get("decode_s", 0.0))
    row = {"latency_s": latency, "ttft_s": latency - decode, "decode_s": decode,
           "prefill_s": float(pred.get("prefill_s", 0.0)), "new_tokens": pred.get("new_tokens")}
    if "encode_s" in pred:
        row["encode_s"] = float(pred["encode_s"])
    for key in ("chunks", "soft_tokens", "kept_tokens", "prompt_tokens"):
        if key in pred:
            row[key] = pred[key]
    return row


def row_from_stream(events: list[dict], started: float, first_token: float | None, finished: float) -> dict:
    """A streamed chat completion from e2llm serve -> row fields.

    events are the parsed `data:` chunks; the last one with 'usage' carries the
    server's timings (ms)."""
    usage = next((e for e in reversed(events) if e.get("usage")), None)
    if usage is None:
        raise ValueError("the stream has no usage chunk")
    t = usage.get("timings", {})
    latency = finished - started
    return {"latency_s": latency,
            "ttft_s": (first_token if first_token is not None else finished) - started,
            "encode_s": t.get("encode_ms", 0.0) / 1000.0, "prefill_s": t.get("prefill_ms", 0.0) / 1000.0,
            "decode_s": t.get("decode_ms", 0.0) / 1000.0,
            "new_tokens": usage["usage"]["completion_tokens"],
            "chunks_encoded": t.get("chunks_encoded"), "chunks_from_store": t.get("chunks_from_store")}


def sse_data(lines) -> list[dict]:
    """Server-sent-event lines -> the JSON of each `data:` line, up to [DONE]."""
    out = []
    for line in lines:
        line = line.strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        out.append(json.loads(data))
    return out


# ---------------------------------------------------------------- results

def row_key(row: dict) -> tuple:
    return (row["decoder"], int(row["length"]), row["method"])


def read_results(path: Path) -> list[dict]:
    """results.jsonl; a torn last line (a crash mid-write) is ignored."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return rows


def append_result(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def latest_rows(rows: list[dict]) -> dict[tuple, dict]:
    """The last row of each (decoder, length, method): a rerun replaces an earlier one."""
    return {row_key(r): r for r in rows}


def cell(row: dict | None, field: str, scale: float = 1.0, digits: int = 2) -> str:
    if row is None:
        return "–"
    if row.get("status") != "ok":
        return row.get("status", "failed")
    value = row.get(field)
    return "–" if value is None else f"{value * scale:.{digits}f}"


def crossover(rows: dict[tuple, dict], decoder: str, lengths: list[int], method: str, peer: str) -> int | None:
    """The shortest length from which `method` answers faster than `peer` at
    every longer measured length too (lengths where the peer cannot read the
    text count as faster)."""
    answer = None
    for n in sorted(lengths, reverse=True):
        a, b = rows.get((decoder, n, method)), rows.get((decoder, n, peer))
        if not a or a.get("status") != "ok" or not b:
            break
        if b.get("status") == "ok" and a["latency_s"] >= b["latency_s"]:
            break
        answer = n
    return answer


def markdown_tables(rows_list: list[dict]) -> str:
    rows = latest_rows(rows_list)
    out = []
    for decoder in sorted({k[0] for k in rows}):
        lengths = sorted({k[1] for k in rows if k[0] == decoder})
        methods = [m for m in METHODS if any((decoder, n, m) in rows for n in lengths)]
        header = "| method | " + " | ".join(format_length(n) for n in lengths) + " |"
        rule = "|---|" + "---:|" * len(lengths)

        def table(title, field, scale=1.0, digits=2):
            out.append(f"**{decoder}: {title}**\n")
            out.append(header)
            out.append(rule)
            for m in methods:
                out.append(f"| {m} | " + " | ".join(cell(rows.get((decoder, n, m)), field, scale, digits)
                                                    for n in lengths) + " |")
            out.append("")

        table("answer latency, s (32 new tokens)", "latency_s")
        table("time to first token, s", "ttft_s")
        table("peak resident memory, MiB", "peak_rss_mib", digits=0)
        out.append(f"**{decoder}: where the time goes, s (encode / prefill / decode)**\n")
        out.append(header)
        out.append(rule)
        for m in methods:
            cells = []
            for n in lengths:
                r = rows.get((decoder, n, m))
                if r is None or r.get("status") != "ok":
                    cells.append(cell(r, "latency_s"))
                else:
                    cells.append(f"{r.get('encode_s', 0.0):.2f} / {r['prefill_s']:.2f} / {r['decode_s']:.2f}")
            out.append(f"| {m} | " + " | ".join(cells) + " |")
        out.append("")
        for peer in ("full", "llama.cpp"):
            if any(k[0] == decoder and k[2] == peer for k in rows):
                n = crossover(rows, decoder, lengths, "e2llm", peer)
                out.append(f"- E2LLM answers faster than {peer} from "
                           f"{format_length(n) + ' tokens on' if n else 'no measured length'}.")
        out.append("")
    return "\n".join(out)


def gnuplot_script(rows_list: list[dict], decoder: str, field: str, ylabel: str, png: Path, data_dir: Path) -> str:
    """A gnuplot script drawing `field` against length, log-log, one line per
    method; writes one data file per method into data_dir."""
    rows = latest_rows(rows_list)
    lengths = sorted({k[1] for k in rows if k[0] == decoder})
    tics = ", ".join(f"'{format_length(n)}' {n}" for n in lengths)
    plots = []
    for m in METHODS:
        points = sorted((k[1], r[field]) for k, r in rows.items()
                        if k[0] == decoder and k[2] == m and r.get("status") == "ok" and r.get(field) is not None)
        if not points:
            continue
        data = data_dir / f"{decoder}-{field}-{m}.dat"
        data.write_text("".join(f"{n} {v}\n" for n, v in points))
        plots.append(f"'{data}' using 1:2 with linespoints lw 2 title '{m}'")
    return "\n".join([
        "set terminal pngcairo size 800,520 font ',11'",
        f"set output '{png}'",
        "set logscale xy",
        f"set xrange [{lengths[0] * 0.8}:{lengths[-1] * 1.25}]" if lengths else "",
        f"set xtics ({tics})" if lengths else "",
        "set grid",
        "set key left top",
        "set xlabel 'context length (decoder tokens)'",
        f"set ylabel '{ylabel}'",
        f"set title '{decoder}: {ylabel}, one process per point'",
        "plot " + ", \\\n     ".join(plots) if plots else "",
    ]) + "\n"


# ---------------------------------------------------------------- running

class Measured:
    def __init__(self, rc: int, wall_s: float, peak_rss_mib: float, stdout: str, stderr: str):
        self.rc, self.wall_s, self.peak_rss_mib, self.stdout, self.stderr = rc, wall_s, peak_rss_mib, stdout, stderr


def run_measured(cmd: list[str], work: Path, timeout: float | None = None) -> Measured:
    """Runs cmd as its own process and reads its peak RSS from wait4()."""
    out_path, err_path = work / "stdout.txt", work / "stderr.txt"
    start = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = None if timeout is None else start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(proc.returncode, time.monotonic() - start, usage.ru_maxrss / 1024.0,
                    out_path.read_text(errors="replace"), err_path.read_text(errors="replace"))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out).resolve()
        self.e2llm = str(Path(args.build).resolve() / "e2llm")
        self.threads = args.threads
        self.out.mkdir(parents=True, exist_ok=True)
        self.results = self.out / "results.jsonl"

    def e2llm_cmd(self, *args: str) -> list[str]:
        return [self.e2llm, "--threads", str(self.threads), *args]

    def check(self, cmd: list[str], what: str, **kw) -> str:
        p = subprocess.run(cmd, capture_output=True, text=True, **kw)
        if p.returncode != 0:
            raise SystemExit(f"efficiency: {what} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
        return p.stdout

    # -- inputs

    def corpus(self, tokens: int) -> str:
        """The source text: --text FILE, or QMSum transcripts (test, then
        train), only as many as `tokens` decoder tokens need. Kept short on
        purpose: a child process starts with this process's peak RSS as the
        floor of its own (fork copies the address space), so the driver must
        stay small for the children's peak memory to mean anything."""
        if self.args.text:
            return Path(self.args.text).read_text()
        chars = tokens * 8  # English transcripts take ~4.5 characters per token
        contexts, seen, total = [], set(), 0
        for split in ("test", "train"):
            with open(self.qmsum(split)) as lines:  # line by line: train is large
                for line in lines:
                    if total >= chars:
                        break
                    ctx = json.loads(line)["context"]
                    if ctx not in seen:
                        seen.add(ctx)
                        contexts.append(ctx)
                        total += len(ctx)
        return "\n\n".join(contexts)[:chars]

    def qmsum(self, split: str) -> Path:
        """QMSum's split converted to e2llm's JSONL (once)."""
        converted = self.out / f"qmsum-{split}.jsonl"
        if not converted.exists():
            raw = Path(self.args.shared) / "data/qmsum" / f"{split}.jsonl"
            if not raw.exists():
                raise SystemExit(f"efficiency: {raw} not found (give --shared DIR, or --text FILE and --checkpoint)")
            self.check(self.e2llm_cmd("convert", "--format", "qmsum", "--input", str(raw), "--output", str(converted)),
                       f"e2llm convert {raw}")
        return converted

    def cut_texts(self, decoder: str, path: str, lengths: list[int]) -> dict[int, str]:
        """The corpus cut at token boundaries to each length in the decoder's tokens."""
        text = self.corpus(max(lengths))
        out = self.check(self.e2llm_cmd("tokenize", "--model", path, "--byte-offsets", "--no-add-special-tokens"),
                         f"e2llm tokenize ({decoder})", input=json.dumps({"text": text}))
        offsets = json.loads(out.splitlines()[0])["offsets"]
        raw = text.encode()
        cut = {}
        for n in lengths:
            if n > len(offsets):
                raise SystemExit(f"efficiency: the text has {len(offsets)} {decoder} tokens, fewer than {n}")
            cut[n] = raw[: offsets[n - 1][1]].decode(errors="replace")
        return cut

    def window(self, path: str) -> int:
        if Path(path).is_dir():
            return int(json.loads((Path(path) / "config.json").read_text())["max_position_embeddings"])
        meta = json.loads(self.check(self.e2llm_cmd("inspect", "--json", "--no-tensors", "--metadata", path),
                                     f"e2llm inspect {path}"))["metadata"]
        lengths = [v for k, v in meta.items() if k.endswith(".context_length")]
        if not lengths:
            raise SystemExit(f"efficiency: {path} names no context_length")
        return int(lengths[0])

    def checkpoint(self, decoder: str, path: str) -> str:
        given = parse_named(self.args.checkpoint, "--checkpoint")
        if decoder in given:
            return given[decoder]
        ckpt = self.out / f"ckpt-{decoder}"
        if (ckpt / "latest").exists() or any(ckpt.glob("step-*")):
            return str(ckpt)
        log(f"training a 1-step E2LLM checkpoint on {decoder} (timing does not depend on the weights)")
        train = self.qmsum("train")
        config = json.loads((ROOT / "configs/minilm-smollm2-qmsum.json").read_text())
        config["model"]["decoder"] = path
        config["training"].update({"max_steps": 1, "grad_accum": 1, "output_dir": str(ckpt), "eval_every": 0,
                                   "checkpoint_every": 1, "metrics_log": str(self.out / f"train-{decoder}.jsonl")})
        config["data"] = {"train": str(train)}
        cfg = self.out / f"train-{decoder}.json"
        cfg.write_text(json.dumps(config, indent=2))
        self.check(self.e2llm_cmd("train", "--config", str(cfg), "--quiet"), f"e2llm train ({decoder})")
        return str(ckpt)

    # -- methods

    def eval_method(self, method: str, work: Path, data: Path, decoder_path: str, ckpt: str | None,
                    window: int) -> dict:
        cmd = self.e2llm_cmd("eval", "--method", method, "--data", str(data), "--output", str(work / "eval"),
                             "--metric", "rouge", "--max-new-tokens", str(self.args.new_tokens), "--ignore-eos",
                             "--no-progress")
        cmd += ["--checkpoint", ckpt] if method == "e2llm" else ["--model", decoder_path]
        if method == "full":
            cmd += ["--window", str(window)]
        m = run_measured(cmd, work)
        if m.rc != 0:
            raise RuntimeError(f"e2llm eval --method {method} failed (exit {m.rc}): {m.stderr[-2000:]}")
        pred = json.loads((work / "eval/predictions.jsonl").read_text().splitlines()[0])
        if "skipped" in pred:  # the text does not fit the decoder: no timing to report
            raise RuntimeError(f"e2llm eval --method {method} skipped the text: {pred['skipped']}")
        return {**row_from_prediction(pred), "peak_rss_mib": m.peak_rss_mib, "process_s": m.wall_s}

    def llama_method(self, work: Path, text: str, tokens: int, decoder_path: str, window: int) -> dict:
        prompt = work / "prompt.txt"
        prompt.write_text(text + "\n\n" + QUESTION)  # eval's layout without --chat
        # KV cache for the prompt and the answer, as e2llm allocates it.
        ctx = min(window, tokens + 512 + self.args.new_tokens)
        cmd = [self.args.llama_cpp, "-m", decoder_path, "-f", str(prompt), "-n", str(self.args.new_tokens),
               "--ignore-eos", "-t", str(self.threads), "-c", str(ctx), "--temp", "0", "-no-cnv",
               "--no-display-prompt", "--simple-io"]
        m = run_measured(cmd, work)
        if m.rc != 0:
            raise RuntimeError(f"llama-completion failed (exit {m.rc}): {m.stderr[-2000:]}")
        return {**parse_llama_perf(m.stderr), "peak_rss_mib": m.peak_rss_mib, "process_s": m.wall_s}

    def stored_method(self, work: Path, text: str, ckpt: str) -> dict:
        store = work / "store"
        err_path = work / "serve.log"
        start = time.monotonic()
        with open(err_path, "w") as err:
            proc = subprocess.Popen(self.e2llm_cmd("serve", "--model", ckpt, "--port", "0", "--store", str(store),
                                                   "--parallel", "1", "--max-body-mb", "64"),
                                    stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        try:
            port = self.wait_listening(proc, err_path)
            base = f"http://127.0.0.1:{port}"
            t0 = time.monotonic()
            doc = self.post(base + "/v1/documents", {"text": text})
            encode_wall = time.monotonic() - t0
            body = {"model": "e2llm", "messages": [{"role": "user", "content": QUESTION}],
                    "documents": [doc["id"]], "max_tokens": self.args.new_tokens, "temperature": 0,
                    "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
            req = urllib.request.Request(base + "/v1/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
            started, first, lines = time.monotonic(), None, []
            with urllib.request.urlopen(req, timeout=3600) as resp:
                for raw in resp:
                    line = raw.decode()
                    lines.append(line)
                    if first is None and '"content"' in line and '"content":""' not in line:
                        first = time.monotonic()
            row = row_from_stream(sse_data(lines), started, first, time.monotonic())
            row["document_encode_s"] = encode_wall
            row["chunks"] = doc.get("chunks")
            row["soft_tokens"] = doc.get("soft_tokens")
        finally:
            proc.send_signal(signal.SIGTERM)
            _, _, usage = os.wait4(proc.pid, 0)
        row["peak_rss_mib"] = usage.ru_maxrss / 1024.0
        row["process_s"] = time.monotonic() - start
        if row.get("chunks_encoded"):
            raise RuntimeError(f"the stored document was encoded again ({row['chunks_encoded']} chunks)")
        return row

    @staticmethod
    def wait_listening(proc, log_path: Path) -> int:
        for _ in range(2400):
            if proc.poll() is not None:
                raise RuntimeError(f"e2llm serve exited: {log_path.read_text()[-2000:]}")
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log_path.read_text())
            if m:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/health", timeout=5) as r:
                        if r.status == 200:
                            return int(m.group(1))
                except OSError:
                    pass
            time.sleep(0.25)
        raise RuntimeError("e2llm serve did not become ready in 10 minutes")

    @staticmethod
    def post(url: str, body: dict) -> dict:
        req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=3600) as r:
            return json.loads(r.read())

    # -- the loop

    def run(self) -> int:
        args = self.args
        lengths = parse_lengths(args.lengths)
        methods = [m.strip() for m in args.methods.split(",")]
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise SystemExit(f"efficiency: unknown method(s) {unknown}; choose from {METHODS}")
        if "llama.cpp" in methods and not (args.llama_cpp and os.access(args.llama_cpp, os.X_OK)):
            raise SystemExit("efficiency: method llama.cpp needs --llama-cpp PATH to llama-completion "
                             "(bench/llama_cpp.sh builds it), or leave llama.cpp out of --methods")
        decoders = parse_named(args.decoder, "--decoder") if args.decoder else \
            {k: str(v) for k, v in KNOWN_DECODERS.items()}
        for name, path in decoders.items():
            if not Path(path).exists():
                raise SystemExit(f"efficiency: decoder {name}: {path} not found (scripts/fetch_models.sh fetches it)")
        info = self.check(self.e2llm_cmd("info"), "e2llm info")
        (self.out / "machine.txt").write_text(info)
        redo = {m.strip() for m in args.redo.split(",") if m.strip()}
        done = {row_key(r) for r in read_results(self.results)
                if r.get("status") in ("ok", EXCEEDS) and r["method"] not in redo}
        deadline = time.monotonic() + args.max_time if args.max_time else None
        # Shortest lengths first, so a run cut short by --max-time leaves whole columns.
        todo = [(d, n, m) for n in lengths for d in decoders for m in methods if (d, n, m) not in done]
        log(f"{len(todo)} runs to do ({len(done)} already in {self.results})")
        texts, windows, ckpts = {}, {}, {}
        for i, (decoder, n, method) in enumerate(todo):
            if deadline and time.monotonic() > deadline:
                log(f"--max-time reached; {len(todo) - i} runs left, rerun the same command to continue")
                return 3
            path = decoders[decoder]
            if decoder not in texts:
                texts[decoder] = self.cut_texts(decoder, path, lengths)
                windows[decoder] = self.window(path)
            row = {"decoder": decoder, "decoder_path": path, "length": n, "method": method,
                   "driver_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                   "threads": self.threads, "new_tokens": args.new_tokens, "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
            needs_all = method in ("full", "llama.cpp")
            if needs_all and n + 64 + args.new_tokens > windows[decoder]:
                row["status"] = EXCEEDS
                append_result(self.results, row)
                continue
            work = self.out / "runs" / f"{decoder}-{format_length(n)}-{method}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            data = work / "data.jsonl"
            data.write_text(json.dumps({"id": f"len{n}", "context": texts[decoder][n], "prompt": QUESTION,
                                        "answers": ["-"], "meta": {"task": "efficiency"}}) + "\n")
            log(f"[{i + 1}/{len(todo)}] {decoder} {format_length(n)} {method} ...")
            try:
                if method in ("e2llm", "e2llm-stored") and decoder not in ckpts:
                    ckpts[decoder] = self.checkpoint(decoder, path)
                if method == "llama.cpp":
                    row.update(self.llama_method(work, texts[decoder][n], n, path, windows[decoder]))
                elif method == "e2llm-stored":
                    row.update(self.stored_method(work, texts[decoder][n], ckpts[decoder]))
                else:
                    row.update(self.eval_method(method, work, data, path, ckpts.get(decoder), windows[decoder]))
                row["status"] = "ok"
                log(f"    latency {row['latency_s']:.2f} s, first token {row['ttft_s']:.2f} s, "
                    f"peak {row['peak_rss_mib']:.0f} MiB")
            except (RuntimeError, ValueError, OSError) as e:
                row["status"] = "failed"
                row["error"] = str(e)[-2000:]
                log(f"    FAILED: {str(e)[-500:]}")
            append_result(self.results, row)
        return 0 if all(r.get("status") != "failed" for r in read_results(self.results)) else 1


def report(args) -> int:
    out = Path(args.out).resolve()
    rows = read_results(out / "results.jsonl")
    if not rows:
        raise SystemExit(f"efficiency: no results in {out}/results.jsonl (run first)")
    tables = markdown_tables(rows)
    (out / "tables.md").write_text(tables)
    print(tables)
    if args.plots:
        plots = Path(args.plots)
        plots.mkdir(parents=True, exist_ok=True)
        gnuplot = shutil.which("gnuplot")
        if not gnuplot:
            raise SystemExit("efficiency: gnuplot not found (apt-get install gnuplot-nox) for --plots")
        data_dir = out / "plot-data"
        data_dir.mkdir(exist_ok=True)
        for decoder in sorted({r["decoder"] for r in rows}):
            for field, label in (("latency_s", "answer latency (s)"), ("peak_rss_mib", "peak memory (MiB)")):
                png = plots / f"efficiency-{decoder}-{'latency' if field == 'latency_s' else 'memory'}.png"
                script = gnuplot_script(rows, decoder, field, label, png, data_dir)
                subprocess.run([gnuplot], input=script, text=True, check=True)
                print(f"wrote {png}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="measure every decoder x length x method not yet in DIR/results.jsonl")
    r.add_argument("--out", required=True, help="results folder (results.jsonl, runs/, checkpoints)")
    r.add_argument("--lengths", default="1k,2k,4k,8k,16k,32k", help="context lengths in decoder tokens (k = 1000)")
    r.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {','.join(METHODS)}")
    r.add_argument("--decoder", action="append", default=[], metavar="NAME=PATH",
                   help="a decoder (.gguf or HF folder); repeatable; default: smollm2 and gemma3 from the model cache")
    r.add_argument("--checkpoint", action="append", default=[], metavar="NAME=DIR",
                   help="the E2LLM checkpoint for decoder NAME (default: train a 1-step one in --out)")
    r.add_argument("--llama-cpp", default="", metavar="PATH", help="llama-completion (bench/llama_cpp.sh builds it)")
    r.add_argument("--build", default=str(ROOT / "build"), help="build folder holding e2llm")
    r.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared folder with data/qmsum")
    r.add_argument("--text", default="", help="source text instead of QMSum transcripts")
    r.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every method")
    r.add_argument("--new-tokens", type=int, default=32, help="tokens every answer generates")
    r.add_argument("--redo", default="", metavar="METHODS",
                   help="measure these methods again although results.jsonl has them (the newest row counts)")
    r.add_argument("--max-time", type=float, default=0, help="start no new run after this many seconds (0: no limit)")
    g = sub.add_parser("report", help="markdown tables from DIR/results.jsonl, and plots with --plots")
    g.add_argument("--out", required=True, help="the results folder of `run`")
    g.add_argument("--plots", default="", metavar="DIR", help="draw latency and memory PNGs here (gnuplot)")
    args = p.parse_args(argv)
    if args.command == "run":
        return Bench(args).run()
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
