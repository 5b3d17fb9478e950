#!/usr/bin/env python3
"""The PyTorch reference for bench/bench_encoder.cpp: what sentence-transformers
runs per batch (transformers' BertModel forward, then mean pooling and
normalisation; tokenization excluded, as in the C++ bench) at 512-token chunks,
same architectures (all-MiniLM-L6-v2 and bge-small-en-v1.5 shapes, random
weights), same threads, fp32 and bf16.
Run: /opt/golden-venv/bin/python scripts/golden/bench_encoder_st.py [--threads 2]
"""
import argparse, time

import torch
from transformers import BertConfig, BertModel


def flops_per_chunk(layers, t=512, h=384, i=1536):
    return layers * (2.0 * t * (4 * h * h + 2 * h * i) + 4.0 * t * t * h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name, layers in (("minilm", 6), ("bge_small", 12)):
        cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=layers, num_attention_heads=12,
                         intermediate_size=1536, max_position_embeddings=512)
        model = BertModel(cfg).eval()
        ids = torch.randint(1000, 30000, (args.batch, 512))
        mask = torch.ones_like(ids)
        for dtype in (torch.float32, torch.bfloat16):
            m = model.to(dtype)
            with torch.inference_mode():
                m(input_ids=ids, attention_mask=mask)  # warm-up
                n, start = 0, time.perf_counter()
                while time.perf_counter() - start < args.seconds:
                    out = m(input_ids=ids, attention_mask=mask).last_hidden_state
                    pooled = torch.nn.functional.normalize((out * mask[..., None]).sum(1) / mask.sum(1, keepdim=True), dim=-1)
                    n += args.batch
                dt = time.perf_counter() - start
            label = "fp32" if dtype == torch.float32 else "bf16"
            print(f"{name}_{label}: {n / dt:.2f} chunks/s, {n * flops_per_chunk(layers) / dt / 1e9:.1f} GFLOP/s "
                  f"(torch {torch.__version__}, {args.threads} threads, attn={m.config._attn_implementation})")


if __name__ == "__main__":
    main()
