#!/usr/bin/env python3
"""The peer of bench_decoder_training (same step, same inputs): transformers + PEFT.

SmolLM2-135M-Instruct from the same GGUF file (dequantized to fp32), frozen, LoRA rank 8
(alpha 16) on the seven projections; T soft tokens (requires_grad) then an answer of N target
tokens; forward, cross-entropy on the answer from the positions before it, backward. Prints
seconds per step, peak resident memory and the loss (which must equal bench_decoder_training's:
same inputs, and LoRA's B starts at zero).

Usage: /opt/golden-venv/bin/python bench/bench_decoder_training_transformers.py \
           --tokens T [--answer N] [--steps K] [--checkpointing 0|1] [--attention sdpa|eager]
Threads: $THREADS (default 2). Never part of CI (bench/decoder_training.sh runs it).
"""
import argparse
import os
import resource
import time

import peft
import torch
import transformers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, required=True)
    parser.add_argument("--answer", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--checkpointing", type=int, default=1)
    parser.add_argument("--attention", default="sdpa")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))

    cache = os.environ.get("E2LLM_MODEL_CACHE", os.path.expanduser("~/.cache/e2llm/models"))
    model = transformers.AutoModelForCausalLM.from_pretrained(
        cache, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=torch.float32, attn_implementation=args.attention,
        use_cache=False)
    model.requires_grad_(False)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = peft.get_peft_model(model, peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets))
    if args.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    base = model.get_base_model()

    # The shared formula (bench_decoder_training.cpp).
    t = torch.arange(args.tokens, dtype=torch.float32).unsqueeze(1)
    j = torch.arange(base.config.hidden_size, dtype=torch.float32).unsqueeze(0)
    soft = torch.sin(0.37 * t + 0.11 * j) * 0.02
    answer = (torch.arange(args.answer) * 7919 + 13) % base.config.vocab_size

    seconds = 0.0
    for step in range(args.steps + 1):  # step 0 warms up and is not counted
        start = time.perf_counter()
        soft_in = soft.clone().requires_grad_(True)
        x = torch.cat([soft_in, base.get_input_embeddings()(answer)]).unsqueeze(0)
        h = base.model(inputs_embeds=x).last_hidden_state
        logits = base.lm_head(h[0, args.tokens - 1:args.tokens - 1 + args.answer])
        loss = torch.nn.functional.cross_entropy(logits, answer)
        loss.backward()
        if step > 0:
            seconds += time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"transformers-{args.attention} tokens={args.tokens} answer={args.answer} checkpointing={args.checkpointing} "
          f"s_per_step={seconds / args.steps:.3f} peak_rss_mb={peak_mb:.0f} loss={loss.item():.5f}")


if __name__ == "__main__":
    main()
