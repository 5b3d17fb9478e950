#!/usr/bin/env python3
"""Hugging Face `tokenizers` speed on the text bench/bench_tokenizer.cpp uses
(the first QMSum train transcript), single thread, for docs/tokenizers.md.
Run: RAYON_NUM_THREADS=1 /opt/golden-venv/bin/python scripts/golden/bench_tokenizer_hf.py"""
import json
import os
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from tokenizers import Tokenizer  # noqa: E402

CACHE = os.environ.get("E2LLM_MODEL_CACHE", os.path.expanduser("~/.cache/e2llm/models"))
SHARED = os.environ.get("E2LLM_SHARED_DIR", "../shared")
G = "tests/golden/tokenizer/"


def transcript():
    with open(os.path.join(SHARED, "data/qmsum/train.jsonl")) as f:
        turns = json.loads(f.readline())["meeting_transcripts"]
    return "".join(f"{t['speaker']}: {t['content']}\n" for t in turns)


def load_gguf(name):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(CACHE, gguf_file=name).backend_tokenizer


def main():
    text = transcript()
    cases = [
        ("WordPiece/all-MiniLM-L6-v2", lambda: Tokenizer.from_file(f"{CACHE}/all-MiniLM-L6-v2/tokenizer.json")),
        ("ByteLevelBPE/SmolLM2.gguf", lambda: load_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")),
        ("SentencePieceBPE/gemma3.gguf", lambda: load_gguf("gemma-3-270m-Q4_K_M.gguf")),
        ("ByteLevelBPE/fixture", lambda: Tokenizer.from_file(G + "bytelevel_bpe.tokenizer.json")),
        ("BPEByteFallback/fixture", lambda: Tokenizer.from_file(G + "bpe_byte_fallback.tokenizer.json")),
        ("Unigram/fixture", lambda: Tokenizer.from_file(G + "unigram.tokenizer.json")),
    ]
    for name, load in cases:
        tok = load()
        tok.no_truncation()
        tok.no_padding()
        n = len(tok.encode(text, add_special_tokens=False).ids)
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < 2.0:
            tok.encode(text, add_special_tokens=False)
            reps += 1
        dt = (time.perf_counter() - start) / reps
        print(f"{name:32s} {n:7d} tokens  {dt * 1e3:8.2f} ms  {n / dt / 1e6:6.3f} M tokens/s")


if __name__ == "__main__":
    main()
