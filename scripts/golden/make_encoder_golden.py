#!/usr/bin/env python3
"""Golden references for e2llm's encoder (tests/golden/encoder/).

1. Tiny random models of every family with their last hidden states for a
   padded batch: bert and xlm-roberta through `transformers`, GTE-v1.5
   ("NewModel", whose code transformers does not ship) through a faithful
   reimplementation of Alibaba-NLP/new-impl's modeling.py written here.
2. all-MiniLM-L6-v2 sentence embeddings from sentence-transformers for >= 100
   texts (512-token QMSum chunks, short and non-English sentences), with the
   token ids it used, so the C++ test can compare without our tokenizer too.
3. --check-writer DIR: load model folders written by e2llm's
   write_random_encoder() with transformers and require no missing/unexpected keys.

Run: /opt/golden-venv/bin/python scripts/golden/make_encoder_golden.py
"""
import argparse, json, math, os, random, sys

import torch
import torch.nn as tnn
import torch.nn.functional as F
from safetensors.torch import save_file, load_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "golden", "encoder")
TINY = dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=80, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0)


def perturb_(model, seed):
    """Random weights everywhere (LayerNorms off the identity) so errors show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight") or name.endswith("_ln.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif "embeddings" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=g))


def batch_inputs(pad_id, lengths=(17, 9, 3), vocab=128, seed=1):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.full((len(lengths), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(lengths), T), dtype=torch.long)
    for i, n in enumerate(lengths):
        tok = torch.randint(3, vocab, (n,), generator=g)
        tok[tok == pad_id] = 5
        ids[i, :n] = tok
        mask[i, :n] = 1
    return ids, mask


# ---- GTE-v1.5 NewModel, re-implemented from new-impl's published modeling.py ----
class GteRef(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        h, inter = c["hidden_size"], c["intermediate_size"]
        self.embeddings = tnn.Module()
        self.embeddings.word_embeddings = tnn.Embedding(c["vocab_size"], h)
        if c["type_vocab_size"] > 0:
            self.embeddings.token_type_embeddings = tnn.Embedding(c["type_vocab_size"], h)
        self.embeddings.LayerNorm = tnn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.encoder = tnn.Module()
        self.encoder.layer = tnn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            layer = tnn.Module()
            layer.attention = tnn.Module()
            layer.attention.qkv_proj = tnn.Linear(h, 3 * h)
            layer.attention.o_proj = tnn.Linear(h, h)
            layer.mlp = tnn.Module()
            layer.mlp.up_gate_proj = tnn.Linear(h, 2 * inter, bias=False)
            layer.mlp.down_proj = tnn.Linear(inter, h)
            layer.attn_ln = tnn.LayerNorm(h, eps=c["layer_norm_eps"])
            layer.mlp_ln = tnn.LayerNorm(h, eps=c["layer_norm_eps"])
            self.encoder.layer.append(layer)

    def inv_freq(self, seq_len):
        # NTKScalingRotaryEmbedding: the cache spans max_pos * factor, so with
        # factor > 1 the scaled frequencies are always the ones in use.
        c = self.c
        dim = c["hidden_size"] // c["num_attention_heads"]
        base = c["rope_theta"]
        inv = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
        rs = c.get("rope_scaling")
        if rs is None:
            return inv
        factor, mixed_b = rs["factor"], rs.get("mixed_b")
        cached = max(int(c["max_position_embeddings"] * factor), seq_len)
        if cached > c["max_position_embeddings"]:
            base = base * (factor if mixed_b is None else 1)
            inv = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
            if mixed_b is None:
                inv = inv / factor ** (2 / dim)
            else:
                a = torch.tensor(factor).log() / (dim / 2) ** mixed_b
                inv = inv / (a * torch.arange(1, dim // 2 + 1).float() ** mixed_b).exp()
        return inv

    def forward(self, ids, mask):
        c = self.c
        B, T = ids.shape
        nh = c["num_attention_heads"]; d = c["hidden_size"] // nh
        x = self.embeddings.word_embeddings(ids)
        if c["type_vocab_size"] > 0:
            x = x + self.embeddings.token_type_embeddings(torch.zeros_like(ids))
        x = self.embeddings.LayerNorm(x)
        t = torch.arange(T, dtype=torch.float32)
        freqs = torch.einsum("i,j->ij", t, self.inv_freq(T))
        emb = torch.cat((freqs, freqs), -1)
        cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min

        def rot(v):
            return torch.cat((-v[..., d // 2:], v[..., :d // 2]), -1)

        for layer in self.encoder.layer:
            q, k, v = layer.attention.qkv_proj(x).split(c["hidden_size"], -1)
            q, k, v = (u.view(B, T, nh, d) for u in (q, k, v))
            q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
            s = torch.matmul(q.transpose(1, 2), k.permute(0, 2, 3, 1)) / math.sqrt(d) + bias
            ctx = torch.matmul(s.softmax(-1), v.transpose(1, 2)).transpose(1, 2).reshape(B, T, -1)
            x = layer.attn_ln(x + layer.attention.o_proj(ctx))
            up, gate = layer.mlp.up_gate_proj(x).split(c["intermediate_size"], -1)
            x = layer.mlp_ln(x + layer.mlp.down_proj(F.gelu(gate) * up))
        return x


def gte_config():
    c = dict(TINY, model_type="new", architectures=["NewModel"], type_vocab_size=2,
             layer_norm_eps=1e-12, pad_token_id=0, hidden_act="gelu", position_embedding_type="rope",
             rope_theta=500.0, rope_scaling={"type": "ntk", "factor": 2.0}, layer_norm_type="layer_norm",
             pack_qkv=True, logn_attention_scale=False, logn_attention_clip1=False, unpad_inputs=False,
             use_memory_efficient_attention=False)
    return c


def save_case(name, folder_state, config, ids, mask, hidden):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file({k: v.contiguous() for k, v in folder_state.items()}, os.path.join(folder, "model.safetensors"),
              metadata={"format": "pt"})
    save_file({"input_ids": ids, "attention_mask": mask, "last_hidden_state": hidden.contiguous()},
              os.path.join(folder, "expected.safetensors"))


def make_tiny():
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel
    torch.manual_seed(0)
    cases = []
    cfg = BertConfig(**TINY, type_vocab_size=2, pad_token_id=0, hidden_act="gelu")
    cases.append(("bert", BertModel(cfg), cfg, 0))
    cfg = XLMRobertaConfig(**TINY, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                           layer_norm_eps=1e-5, hidden_act="gelu")
    cases.append(("xlm-roberta", XLMRobertaModel(cfg), cfg, 1))
    for i, (name, model, cfg, pad) in enumerate(cases):
        perturb_(model, 10 + i)
        model.eval()
        ids, mask = batch_inputs(pad)
        with torch.no_grad():
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        folder = os.path.join(OUT, name)
        model.save_pretrained(folder, safe_serialization=True)
        save_file({"input_ids": ids, "attention_mask": mask, "last_hidden_state": hidden.contiguous()},
                  os.path.join(folder, "expected.safetensors"))
    c = gte_config()
    model = GteRef(c)
    perturb_(model, 20)
    model.eval()
    ids, mask = batch_inputs(0)
    with torch.no_grad():
        hidden = model(ids, mask)
    save_case("gte", model.state_dict(), c, ids, mask, hidden)


def minilm_texts(tokenizer):
    texts = []
    rng = random.Random(7)
    with open(os.path.join(ROOT, "..", "shared", "data", "qmsum", "val.jsonl")) as f:
        meetings = [json.loads(line) for _, line in zip(range(8), f)]
    for m in meetings:
        words = " ".join(f"{t['speaker']}: {t['content']}" for t in m["meeting_transcripts"]).split()
        for _ in range(5):
            start = rng.randrange(0, max(1, len(words) - 600))
            n = rng.choice([30, 120, 250, 600])  # 600 words: truncated at 512 tokens
            texts.append(" ".join(words[start:start + n]))
    texts += [
        "The quick brown fox jumps over the lazy dog.", "A man is playing a guitar.",
        "Meeting summaries should mention the decisions that were made.", "What did the team decide about the remote control?",
        "Der schnelle braune Fuchs springt über den faulen Hund.", "Le conseil municipal a voté le budget hier soir.",
        "El gato duerme en la ventana mientras llueve.", "Il treno per Milano parte alle otto.",
        "Москва — столица России.", "東京は日本の首都です。", "我们明天在会议室讨论这个项目。",
        "서울은 대한민국의 수도입니다.", "القاهرة هي عاصمة مصر.", "Ελλάδα είναι μια χώρα της Ευρώπης.",
        "Jag tycker om att läsa böcker på vintern.", "Dziś jest piękny dzień na spacer.",
        "Bugün hava çok güzel.", "हिंदी भारत की एक भाषा है।", "naïve café résumé façade coöperate",
        "E2LLM compresses long contexts with an encoder.", "1234567890 3.14159 2.71828",
        "emoji 😀 and symbols ©®™ ∑∫√", "ALL CAPS SENTENCE WITH NUMBERS 42", "a", "",
    ]
    i = 0
    while len(texts) < 110:
        texts.append(f"Sentence number {i} talks about topic {rng.choice(['budget', 'design', 'marketing', 'speech'])}.")
        i += 1
    return texts


def make_minilm():
    from sentence_transformers import SentenceTransformer
    cache = os.environ.get("E2LLM_MODEL_CACHE", os.path.expanduser("~/.cache/e2llm/models"))
    path = os.path.join(cache, "all-MiniLM-L6-v2")
    if not os.path.isdir(path):
        print(f"skip MiniLM golden: {path} missing", file=sys.stderr)
        return
    model = SentenceTransformer(path, device="cpu")
    model.max_seq_length = 512
    texts = minilm_texts(model.tokenizer)
    emb = model.encode(texts, batch_size=16, convert_to_tensor=True, normalize_embeddings=False).float()
    enc = model.tokenizer(texts, truncation=True, max_length=512)
    lengths = torch.tensor([len(x) for x in enc["input_ids"]], dtype=torch.int32)
    flat = torch.tensor([t for x in enc["input_ids"] for t in x], dtype=torch.int32)
    folder = os.path.join(OUT, "all-MiniLM-L6-v2")
    os.makedirs(folder, exist_ok=True)
    save_file({"embeddings": emb.contiguous(), "token_ids": flat, "lengths": lengths},
              os.path.join(folder, "expected.safetensors"))
    with open(os.path.join(folder, "texts.jsonl"), "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    print(f"MiniLM: {len(texts)} texts, {int(lengths.max())} tokens max")


def check_writer(root):
    """Folders written by e2llm's write_random_encoder must load cleanly."""
    from transformers import AutoConfig, BertModel, XLMRobertaModel
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        cfg = json.load(open(os.path.join(folder, "config.json")))
        state = load_file(os.path.join(folder, "model.safetensors"))
        if cfg["model_type"] == "new":
            model = GteRef(cfg)
        else:
            model = {"bert": BertModel, "xlm-roberta": XLMRobertaModel}[cfg["model_type"]](AutoConfig.for_model(**cfg))
        result = model.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
        print(f"{name}: missing={missing} unexpected={result.unexpected_keys}")
        assert not missing and not result.unexpected_keys, name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-writer", help="folder of model folders written by e2llm")
    args = ap.parse_args()
    if args.check_writer:
        check_writer(args.check_writer)
        return
    make_tiny()
    make_minilm()
    import transformers, sentence_transformers, safetensors
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(f"""# Encoder golden references

Made by `scripts/golden/make_encoder_golden.py` (seeded; rerun to regenerate) with
torch {torch.__version__}, transformers {transformers.__version__},
sentence-transformers {sentence_transformers.__version__}, safetensors {safetensors.__version__}.

- `bert/`, `xlm-roberta/`: tiny random `BertModel` / `XLMRobertaModel` (hidden 32, 2 layers, 4 heads,
  vocab 128) saved with `save_pretrained`; `expected.safetensors` holds a right-padded batch
  (`input_ids`, `attention_mask`, lengths 17/9/3) and `transformers`' `last_hidden_state`.
- `gte/`: the same for GTE-v1.5 `NewModel` (RoPE with NTK factor 2, fused qkv, gated GELU MLP),
  computed by the script's reimplementation of Alibaba-NLP/new-impl's modeling.py.
- `all-MiniLM-L6-v2/`: `texts.jsonl` (QMSum val chunks up to 512 tokens, short, non-English
  and edge-case texts), and sentence-transformers' embeddings (max_seq_length 512, mean pooling,
  normalized) with the token ids and lengths its tokenizer produced.
""")


if __name__ == "__main__":
    main()
