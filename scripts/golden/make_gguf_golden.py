#!/usr/bin/env python3
"""Golden references for e2llm's GGUF reader (tests/unit/test_gguf*.cpp).

Writes into tests/golden/gguf/:
  dequant.gguf                one tensor per ggml type (random blocks with finite f16 scales)
                              plus metadata of every value type, written by gguf.GGUFWriter
  dequant_expected.safetensors  gguf.quants.dequantize() of each tensor (float32, GGUF-reversed shape)
  metadata_expected.json      the metadata values written above
and, when the real models are in $E2LLM_MODEL_CACHE (default ~/.cache/e2llm/models):
  real_models.json            for SmolLM2-135M-Instruct.Q4_1.gguf and gemma-3-270m-Q4_K_M.gguf:
                              transformers' config, its GGUF -> HF tensor-name map, and for a few
                              tensors the gguf-package dequantization and the tensor transformers'
                              load_gguf_checkpoint() returns (shape, float64 sum, sample values).

Run: /opt/golden-venv/bin/python scripts/golden/make_gguf_golden.py [--synthetic-only]
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file

import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "gguf")
CACHE = os.environ.get("E2LLM_MODEL_CACHE", os.path.expanduser("~/.cache/e2llm/models"))

# Byte offsets of the f16 scale fields inside one block of each type.
F16_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
ELEMENT_TYPES = {Q.F32: np.float32, Q.F16: np.float16}


def random_blocks(rng, qtype, n_blocks):
    """Random bytes for the packed quants, real-looking finite f16 scales."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        scale = (rng.standard_normal(n_blocks) * 0.02).astype(np.float16)
        blocks[:, off:off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    return blocks


def quantized_tensor(rng, qtype):
    """(rows, bytes per row) uint8 array holding `rows` rows of 2 blocks each."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    rows, blocks_per_row = 3, 2
    blocks = random_blocks(rng, qtype, rows * blocks_per_row)
    return blocks.reshape(rows, blocks_per_row * type_size)


def make_dequant_golden():
    rng = np.random.default_rng(20240906)
    writer = gguf.GGUFWriter(os.path.join(OUT, "dequant.gguf"), "llama")
    expected = {}
    for qtype in [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q4_K, Q.Q5_K, Q.Q6_K]:
        name = f"t_{qtype.name.lower()}"
        if qtype in ELEMENT_TYPES:
            data = rng.standard_normal((3, 40)).astype(ELEMENT_TYPES[qtype])
            writer.add_tensor(name, data)
            expected[name] = dequantize(data, qtype)
        elif qtype == Q.BF16:
            raw = (rng.standard_normal((3, 40)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
            data = raw.view(np.uint8).reshape(3, -1)
            writer.add_tensor(name, data, raw_dtype=qtype)
            expected[name] = dequantize(data, qtype).reshape(3, 40)
        else:
            data = quantized_tensor(rng, qtype)
            writer.add_tensor(name, data, raw_dtype=qtype)
            expected[name] = dequantize(data, qtype)
        expected[name] = np.ascontiguousarray(expected[name], dtype=np.float32)
        assert np.isfinite(expected[name]).all(), name
    metadata = add_metadata(writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    save_file(expected, os.path.join(OUT, "dequant_expected.safetensors"))
    with open(os.path.join(OUT, "metadata_expected.json"), "w") as f:
        json.dump(metadata, f, indent=1)
        f.write("\n")


def add_metadata(writer):
    """One key of every value type; returns {key: [type name, value]}."""
    m = {}
    def put(key, type_name, value, add):
        add(key, value)
        m[key] = [type_name, value]
    put("test.u8", "u8", 200, writer.add_uint8)
    put("test.i8", "i8", -100, writer.add_int8)
    put("test.u16", "u16", 60000, writer.add_uint16)
    put("test.i16", "i16", -30000, writer.add_int16)
    put("test.u32", "u32", 4000000000, writer.add_uint32)
    put("test.i32", "i32", -2000000000, writer.add_int32)
    put("test.f32", "f32", float(np.float32(0.1)), writer.add_float32)
    put("test.bool", "bool", True, writer.add_bool)
    put("test.string", "string", "héllo wörld", writer.add_string)
    put("test.u64", "u64", 2**63 - 5, writer.add_uint64)
    put("test.i64", "i64", -(2**62), writer.add_int64)
    put("test.f64", "f64", 1e-300, writer.add_float64)
    put("test.strings", "array", ["a", "", "ccc"], writer.add_array)
    put("test.ints", "array", [1, -2, 3], writer.add_array)         # gguf-py writes i32
    put("test.floats", "array", [0.5, -1.25], writer.add_array)      # f32
    put("test.nested", "array", [[1, 2], [3]], writer.add_array)
    return m


def summary(t):
    t = np.asarray(t, dtype=np.float32)
    flat = t.reshape(-1)
    idx = np.linspace(0, flat.size - 1, 16).astype(np.int64)
    return {"shape": list(t.shape), "sum": float(flat.astype(np.float64).sum()),
            "first": [float(x) for x in flat[:16]],
            "sample_index": [int(i) for i in idx], "sample": [float(flat[i]) for i in idx]}


def make_real_golden():
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import (
        TENSOR_PROCESSORS, TensorProcessor, get_gguf_hf_weights_map, load_gguf_checkpoint)

    files = {
        "SmolLM2-135M-Instruct.Q4_1.gguf": {
            "gguf": ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.3.attn_norm.weight"],
            "hf": ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                   "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight",
                   "model.layers.5.mlp.gate_proj.weight", "model.layers.2.post_attention_layernorm.weight",
                   "model.norm.weight"]},
        "gemma-3-270m-Q4_K_M.gguf": {
            "gguf": ["blk.0.attn_k.weight", "blk.0.attn_output.weight", "blk.0.attn_v.weight",
                     "blk.0.ffn_down.weight", "blk.0.attn_q_norm.weight"],
            "hf": ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                   "model.layers.1.self_attn.o_proj.weight", "model.layers.0.mlp.down_proj.weight",
                   "model.layers.0.self_attn.q_norm.weight", "model.layers.0.self_attn.k_norm.weight",
                   "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
                   "model.layers.0.pre_feedforward_layernorm.weight",
                   "model.layers.0.post_feedforward_layernorm.weight", "model.norm.weight"]},
    }
    out = {}
    for fname, want in files.items():
        path = os.path.join(CACHE, fname)
        if not os.path.exists(path):
            print(f"skip {fname}: not in {CACHE}", file=sys.stderr)
            continue
        reader = gguf.GGUFReader(path)
        by_name = {t.name: t for t in reader.tensors}
        entry = {"dequant": {}, "hf": {}}
        for n in want["gguf"]:
            t = by_name[n]
            entry["dequant"][n] = dict(summary(dequantize(t.data, t.tensor_type)), type=t.tensor_type.name)
        parsed = load_gguf_checkpoint(path)
        entry["config"] = parsed["config"]
        config = AutoConfig.from_pretrained(CACHE, gguf_file=fname)
        entry["full_config"] = json.loads(config.to_json_string(use_diff=False))
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        arch = reader.fields["general.architecture"].contents()
        processor = TENSOR_PROCESSORS.get(arch, TensorProcessor)(config=parsed["config"])
        name_map = get_gguf_hf_weights_map(model, processor)
        entry["name_map"] = {t.name: name_map[t.name] for t in reader.tensors if t.name in name_map}
        tensors = load_gguf_checkpoint(path, return_tensors=True, model_to_load=model)["tensors"]
        for n in want["hf"]:
            entry["hf"][n] = summary(tensors[n].numpy())
        out[fname] = entry
        del tensors
    with open(os.path.join(OUT, "real_models.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make_dequant_golden()
    if "--synthetic-only" not in sys.argv:
        make_real_golden()
