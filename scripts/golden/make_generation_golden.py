#!/usr/bin/env python3
"""Golden references for e2llm's generation half (sampling, chat templates, greedy output).

Run with /opt/golden-venv/bin/python from the repository root:
    python scripts/golden/make_generation_golden.py [sampling] [chat] [smollm2]
Writes tests/golden/generation/. The C++ tests compare against these files; CI never runs Python.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "generation")


def hf_processors(cfg: dict, prompt_len: int):
    """The real processor chain transformers builds in generate() for these settings."""
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=8, intermediate_size=16,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
    model = transformers.LlamaForCausalLM(config)
    gen = transformers.GenerationConfig(
        do_sample=not cfg["greedy"], temperature=cfg["temperature"], top_k=cfg["top_k"],
        top_p=cfg["top_p"], min_p=cfg["min_p"] if cfg["min_p"] > 0 else None,
        repetition_penalty=cfg["repetition_penalty"])
    return model._get_logits_processor(gen, input_ids_seq_length=prompt_len, device="cpu")


SAMPLING_CASES = [
    dict(name="greedy_penalty", greedy=True, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, repetition_penalty=1.3),
    dict(name="temperature", greedy=False, temperature=0.7, top_k=0, top_p=1.0, min_p=0.0, repetition_penalty=1.0),
    dict(name="top_k", greedy=False, temperature=1.0, top_k=5, top_p=1.0, min_p=0.0, repetition_penalty=1.0),
    dict(name="top_k_ties", greedy=False, temperature=1.0, top_k=3, top_p=1.0, min_p=0.0, repetition_penalty=1.0),
    dict(name="top_p", greedy=False, temperature=1.0, top_k=0, top_p=0.8, min_p=0.0, repetition_penalty=1.0),
    dict(name="min_p", greedy=False, temperature=1.0, top_k=0, top_p=1.0, min_p=0.1, repetition_penalty=1.0),
    dict(name="all", greedy=False, temperature=0.8, top_k=20, top_p=0.9, min_p=0.05, repetition_penalty=1.2),
    dict(name="hot_all", greedy=False, temperature=1.7, top_k=40, top_p=0.95, min_p=0.02, repetition_penalty=0.8),
]


def make_sampling():
    torch.manual_seed(1234)
    batch, vocab, seen_len = 4, 64, 10
    logits = torch.randn(batch, vocab) * 3.0
    # Ties at the top-k boundary and exact zeros (the penalty's sign test) on purpose.
    logits[1, :6] = torch.tensor([5.0, 4.0, 3.0, 3.0, 3.0, 1.0])
    logits[2, 7] = 0.0
    seen = torch.randint(0, vocab, (batch, seen_len))
    seen[2, 0] = 7
    tensors = {"logits": logits.contiguous(), "seen_ids": seen.contiguous()}
    for case in SAMPLING_CASES:
        processors = hf_processors(case, seen_len)
        tensors["out." + case["name"]] = processors(seen, logits.clone()).contiguous()
    save_file(tensors, os.path.join(OUT, "sampling.safetensors"))
    with open(os.path.join(OUT, "sampling_cases.json"), "w") as f:
        json.dump(SAMPLING_CASES, f, indent=1)


# Chat templates as published in each model's tokenizer_config.json (or GGUF metadata).
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")
QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
GEMMA3_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""


def smollm2_template():
    """SmolLM2-135M-Instruct's template, read from the real GGUF when it is fetched."""
    import gguf
    cache = os.environ.get("E2LLM_MODEL_CACHE", os.path.expanduser("~/.cache/e2llm/models"))
    reader = gguf.GGUFReader(os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf"))
    return reader.fields["tokenizer.chat_template"].contents()


CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": " Be kind. \n"},
     {"role": "user", "content": "  Hi there \n"},
     {"role": "assistant", "content": "Hello, how can I help?  "},
     {"role": "user", "content": "Summarise: caf\u00e9 \u5317\u4eac \U0001F600"}],
    [{"role": "user", "content": "First"}, {"role": "assistant", "content": "Second"},
     {"role": "user", "content": "Third\n\nwith lines"}],
]


def render_with_transformers(template, bos, eos, messages, add_generation_prompt):
    from tokenizers import Tokenizer, models
    backend = Tokenizer(models.WordLevel({"<unk>": 0, bos or "<bos_unused>": 1, eos: 2}, unk_token="<unk>"))
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos or None, eos_token=eos)
    tok.chat_template = template
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def make_chat(out_dir):
    templates = {
        "llama2": (LLAMA2_TEMPLATE, "<s>", "</s>"),
        "llama3": (LLAMA3_TEMPLATE, "<|begin_of_text|>", "<|eot_id|>"),
        "qwen2": (QWEN2_TEMPLATE, "", "<|im_end|>"),
        "smollm2": (smollm2_template(), "<|im_start|>", "<|im_end|>"),
        "gemma3": (GEMMA3_TEMPLATE, "<bos>", "<eos>"),
    }
    cases = []
    for name, (source, bos, eos) in templates.items():
        for messages in CONVERSATIONS:
            for add_generation_prompt in (True, False):
                cases.append({"template": name, "messages": messages, "add_generation_prompt": add_generation_prompt,
                              "expected": render_with_transformers(source, bos, eos, messages, add_generation_prompt)})
    result = {"templates": {n: {"source": s, "bos_token": b, "eos_token": e} for n, (s, b, e) in templates.items()},
              "cases": cases}
    with open(os.path.join(out_dir, "chat_templates.json"), "w") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)


SMOLLM2_PROMPTS = [
    {"chat": False, "text": "The capital of France is"},
    {"chat": False, "text": "def fibonacci(n):"},
    {"chat": True, "text": "What is the tallest mountain in the world?"},
    {"chat": True, "text": "Write a haiku about the sea."},
]


def make_smollm2(out_dir, new_tokens=32):
    """Greedy continuations of the real SmolLM2-135M-Instruct GGUF by transformers (dequantized fp32)."""
    cache = os.environ.get("E2LLM_MODEL_CACHE", os.path.expanduser("~/.cache/e2llm/models"))
    torch.set_num_threads(2)
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = transformers.AutoTokenizer.from_pretrained(cache, gguf_file=name)
    model = transformers.AutoModelForCausalLM.from_pretrained(cache, gguf_file=name, dtype=torch.float32)
    model.eval()
    cases = []
    for p in SMOLLM2_PROMPTS:
        if p["chat"]:
            ids = tok.apply_chat_template([{"role": "user", "content": p["text"]}], add_generation_prompt=True,
                                          tokenize=True, return_dict=False)
            if hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
        else:
            ids = tok(p["text"])["input_ids"]
        ids = list(ids)
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 max_new_tokens=new_tokens, do_sample=False, eos_token_id=[],
                                 pad_token_id=tok.pad_token_id)
        new = out[0, len(ids):].tolist()
        cases.append({**p, "prompt_ids": ids, "generated_ids": new,
                      "generated_text": tok.decode(new, skip_special_tokens=False)})
        print(p["text"], "->", repr(cases[-1]["generated_text"]))
    with open(os.path.join(out_dir, "smollm2_greedy.json"), "w") as f:
        json.dump({"model": name, "max_new_tokens": new_tokens, "cases": cases}, f, indent=1, ensure_ascii=False)


def main(argv):
    os.makedirs(OUT, exist_ok=True)
    parts = argv[1:] or ["sampling", "chat", "smollm2"]
    if "sampling" in parts:
        make_sampling()
    if "chat" in parts:
        make_chat(OUT)
    if "smollm2" in parts:
        make_smollm2(OUT)
    print("transformers", transformers.__version__, "torch", torch.__version__)


if __name__ == "__main__":
    main(sys.argv)
