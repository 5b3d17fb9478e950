#!/usr/bin/env python3
"""transformers' own prefill / decode tokens/s for SmolLM2-135M-Instruct (GGUF dequantized), 2 threads,
to set beside build/bench/bench_decoder. Same prompts (ids (i*7919+13) % vocab) and lengths.
Run: /opt/golden-venv/bin/python bench/bench_decoder_transformers.py  (never part of CI)."""
import os
import time

import torch
import transformers

THREADS = int(os.environ.get("THREADS", "2"))


def timed(fn, repeats):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main():
    torch.set_num_threads(THREADS)
    cache = os.environ.get("E2LLM_MODEL_CACHE", os.path.expanduser("~/.cache/e2llm/models"))
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    base = transformers.AutoModelForCausalLM.from_pretrained(cache, gguf_file=name, dtype=torch.float32).eval()
    vocab = base.config.vocab_size
    for dtype in (torch.float32, torch.bfloat16):
        model = base.to(dtype)
        for n in (128, 512):
            ids = torch.tensor([[(i * 7919 + 13) % vocab for i in range(n)]])
            with torch.inference_mode():
                seconds = timed(lambda: model(ids, use_cache=True), 3)
            print(f"transformers prefill {str(dtype):15s} T={n:4d}: {n / seconds:9.1f} tokens/s")
        prompt, steps = 128, 32
        ids = torch.tensor([[(i * 7919 + 13) % vocab for i in range(prompt)]])

        def decode():
            out = model(ids, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            start = time.perf_counter()
            for _ in range(steps):
                out = model(nxt, past_key_values=past, use_cache=True)
                past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            return time.perf_counter() - start

        with torch.inference_mode():
            decode()
            seconds = min(decode() for _ in range(3))
        print(f"transformers decode  {str(dtype):15s} after {prompt}: {steps / seconds:9.1f} tokens/s")
    print("transformers", transformers.__version__, "torch", torch.__version__, "threads", THREADS)


if __name__ == "__main__":
    main()
