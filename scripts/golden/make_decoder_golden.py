#!/usr/bin/env python3
"""Golden logits for e2llm's decoder tests, made with Hugging Face transformers.

Writes tests/golden/decoder/<family>/ : config.json + model.safetensors of a tiny
random model (fp32), and for each case config_<case>.json (same weights,
different RoPE etc.) with logits_<case>.safetensors holding input_ids,
attention_mask, position_ids (a full row and a left-padded row) and the fp32
logits (and bf16 logits where noted). llama/ also holds a PEFT LoRA adapter
(peft_adapter/) and the logits with it.

Run:  /opt/golden-venv/bin/python scripts/golden/make_decoder_golden.py
      ... --real-model ~/.cache/e2llm/models/SmolLM2-135M-Instruct.Q4_1.gguf
      ... --check-writer DIR   (a model folder written by e2llm's write_random_decoder)
      ... --check-adapter DIR  (a model folder + adapter written by the LoRA test)
"""
import argparse
import copy
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file, load_file

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "decoder")
SEQ = 24
PAD = 6

BASE = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
            rms_norm_eps=1e-6, bos_token_id=0, eos_token_id=1, pad_token_id=None)

FAMILIES = {
    "llama": dict(model_type="llama", attention_bias=True, mlp_bias=True),
    "mistral": dict(model_type="mistral", sliding_window=8),
    "qwen2": dict(model_type="qwen2", tie_word_embeddings=True),
    "qwen3": dict(model_type="qwen3"),
    "gemma3": dict(model_type="gemma3_text", query_pre_attn_scalar=8, sliding_window=4,
                   layer_types=["sliding_attention", "full_attention"]),
}

# Cases per family: name -> config overrides (same weights).
CASES = {
    "llama": {
        "default": {},
        "linear": {"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}},
        "dynamic": {"max_position_embeddings": 16,
                    "rope_parameters": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}},
        "llama3": {"rope_parameters": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 32,
                                       "rope_theta": 10000.0}},
        "yarn": {"rope_parameters": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                                     "rope_theta": 10000.0}},
    },
    "mistral": {"default": {}},
    "qwen2": {"default": {}},
    "qwen3": {"default": {}},
    "gemma3": {"default": {}, "softcap": {"attn_logit_softcapping": 5.0, "final_logit_softcapping": 3.0}},
}
BF16_CASES = {("llama", "default"), ("gemma3", "default")}


def make_config(family, overrides):
    d = dict(BASE)
    d.update(FAMILIES[family])
    d.update(overrides)
    model_type = d.pop("model_type")
    return transformers.AutoConfig.for_model(model_type, **d)


def inputs(vocab):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, vocab, (2, SEQ), generator=g)
    mask = torch.ones(2, SEQ, dtype=torch.long)
    mask[1, :PAD] = 0
    ids[1, :PAD] = 0
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, pos


def randomize(model):
    """Weights with some spread (HF's 0.02 init makes every logit ~0)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                base = 0.0 if "gemma" in model.config.model_type else 1.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                std = 0.1 if "embed" in name and "gemma" in model.config.model_type else (
                    1.0 if "embed" in name else p.shape[1] ** -0.5)
                p.copy_(std * torch.randn(p.shape, generator=g))


def logits_of(model, ids, mask, pos):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, position_ids=pos).logits.float()


def make_family(family):
    folder = os.path.join(ROOT, family)
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    config = make_config(family, {})
    config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    randomize(model)
    model.save_pretrained(folder, safe_serialization=True)
    for f in os.listdir(folder):
        if f not in ("config.json", "model.safetensors") and not f.startswith(("config_", "logits_", "peft")):
            os.remove(os.path.join(folder, f))
    ids, mask, pos = inputs(config.vocab_size)
    state = model.state_dict()
    for case, overrides in CASES[family].items():
        cfg = make_config(family, overrides)
        m = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
        m.load_state_dict(state)
        cfg.save_pretrained(os.path.join(folder, "tmp_cfg"))
        os.replace(os.path.join(folder, "tmp_cfg", "config.json"), os.path.join(folder, f"config_{case}.json"))
        os.rmdir(os.path.join(folder, "tmp_cfg"))
        out = {"input_ids": ids, "attention_mask": mask, "position_ids": pos, "logits": logits_of(m, ids, mask, pos)}
        if (family, case) in BF16_CASES:
            out["logits_bf16"] = logits_of(copy.deepcopy(m).to(torch.bfloat16), ids, mask, pos)
        save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(folder, f"logits_{case}.safetensors"))
    if family == "llama":
        make_peft(model, folder, ids, mask, pos)
    print(family, "ok")


def make_peft(model, folder, ids, mask, pos):
    import peft
    cfg = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM",
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    pm = peft.get_peft_model(copy.deepcopy(model), cfg)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    pm.eval()
    pm.save_pretrained(os.path.join(folder, "peft_adapter"))
    out = {"input_ids": ids, "attention_mask": mask, "position_ids": pos, "logits": logits_of(pm, ids, mask, pos)}
    save_file(out, os.path.join(folder, "logits_peft.safetensors"))


def check_writer(folder):
    model, info = transformers.AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    print(folder, type(model).__name__, "loading problems:", bad or "none")
    return 1 if bad else 0


def check_adapter(folder):
    """folder/model (base), folder/adapter (ours), folder/logits.safetensors (ours, with input_ids)."""
    import peft
    base = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(folder, "model"), attn_implementation="eager")
    pm = peft.PeftModel.from_pretrained(base, os.path.join(folder, "adapter")).eval()
    ref = load_file(os.path.join(folder, "logits.safetensors"))
    with torch.no_grad():
        logits = pm(input_ids=ref["input_ids"]).logits
    diff = (logits - ref["logits"]).abs().max().item()
    print("PEFT loads our adapter; max |logits diff| =", diff)
    return 0 if diff < 1e-4 else 1


def make_real(path):
    folder, name = os.path.dirname(path), os.path.basename(path)
    tok = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32).eval()
    prompts = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,"]
    out = {}
    for i, p in enumerate(prompts):
        ids = tok(p, return_tensors="pt").input_ids
        with torch.no_grad():
            last = model(input_ids=ids).logits[0, -1].float()
            gen = model.generate(ids, max_new_tokens=32, do_sample=False, eos_token_id=None,
                                 pad_token_id=tok.eos_token_id)
        out[f"prompt{i}_ids"] = ids[0]
        if last.numel() > 100_000:  # keep the golden small: the 64 largest logits only
            top = last.topk(64)
            out[f"prompt{i}_top_ids"] = top.indices
            out[f"prompt{i}_top_logits"] = top.values
        else:
            out[f"prompt{i}_last_logits"] = last
        out[f"prompt{i}_greedy"] = gen[0, ids.shape[1]:]
        print(repr(p), "->", repr(tok.decode(gen[0, ids.shape[1]:])))
    stem = name.split(".")[0].replace("-Q4_K_M", "")
    dest = os.path.join(ROOT, "real")
    os.makedirs(dest, exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(dest, f"{stem}.safetensors"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--real-model")
    ap.add_argument("--check-writer")
    ap.add_argument("--check-adapter")
    ap.add_argument("--families", default=",".join(FAMILIES))
    a = ap.parse_args()
    if a.check_writer:
        sys.exit(check_writer(a.check_writer))
    if a.check_adapter:
        sys.exit(check_adapter(a.check_adapter))
    if a.real_model:
        make_real(a.real_model)
        return
    for family in a.families.split(","):
        make_family(family)
    with open(os.path.join(ROOT, "README.md"), "w") as f:
        f.write(f"""# Decoder goldens

Made by `scripts/golden/make_decoder_golden.py` with transformers {transformers.__version__},
torch {torch.__version__}, seeds fixed in the script. Each family folder: a tiny random model
(config.json + model.safetensors, fp32), `config_<case>.json` variants sharing its weights and
`logits_<case>.safetensors` (input_ids, attention_mask, position_ids: row 0 full, row 1 left-padded
by {PAD}; fp32 logits from eager attention; `logits_bf16` where the model was run in bfloat16).
`llama/peft_adapter` is a PEFT LoRA adapter (r=4, alpha=8, all projections, random lora_B),
`llama/logits_peft.safetensors` its logits. `real/` holds goldens of real GGUF models.
""")


if __name__ == "__main__":
    main()
