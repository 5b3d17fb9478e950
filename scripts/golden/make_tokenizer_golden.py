#!/usr/bin/env python3
"""Golden references for e2llm's tokenizers (tests/golden/tokenizer/).

Run with /opt/golden-venv/bin/python from the repository root. It
  1. trains small fixture tokenizers on QMSum text (committed beside the goldens):
     byte-level BPE (RoBERTa style), BPE with byte fallback (Llama 2 style),
     Unigram (T5 style) as tokenizer.json, and SentencePiece BPE / Unigram
     tokenizer.model files;
  2. encodes a fixed corpus with Hugging Face `tokenizers` (or `sentencepiece`
     for the .model files) and writes ids, tokens, offsets (code points, as HF
     reports them for Python strings) and decodes, one JSON line per text.
Real models come from $E2LLM_MODEL_CACHE (default ~/.cache/e2llm/models);
the ones that are missing are skipped.
"""
import json
import os
import sys

import sentencepiece as spm
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from tokenizers import AddedToken

OUT = "tests/golden/tokenizer"
SHARED = os.environ.get("E2LLM_SHARED_DIR", "../shared")
CACHE = os.environ.get("E2LLM_MODEL_CACHE", os.path.expanduser("~/.cache/e2llm/models"))


def qmsum_texts(n_meetings=12):
    with open(os.path.join(SHARED, "data/qmsum/train.jsonl")) as f:
        for i, line in enumerate(f):
            if i >= n_meetings:
                break
            turns = json.loads(line)["meeting_transcripts"]
            yield "\n".join(f"{t['speaker']}: {t['content']}" for t in turns)


def corpus(special_words):
    qm = next(qmsum_texts(1))
    texts = [
        "",
        "Hello, world! This is a simple English sentence.",
        "The quick brown fox jumps over the lazy dog; it's 3.14159 times faster, isn't it? (Yes.)",
        qm[:800],
        qm[5000:5400],
        "def add(a, b):\n    return a + b  # sum\n\nif __name__ == '__main__':\n\tprint(add(1, 2))\n",
        "for (int i = 0; i < n; ++i) { x[i] = y[i] * 2; }  // C++ <vector> &&",
        "Emoji: 😀 🥰 👍🏽 👨‍👩‍👧 ❤️ 🚀🚀🚀 🫠",
        "中文：我们今天讨论了项目进度。日本語のテキスト、カタカナ。한국어 문장입니다.",
        "العربية: هذه جملة باللغة العربية.",
        "हिन्दी: यह एक हिंदी वाक्य है।",
        "Combining: e\u0301te\u0301, café, naïve, Ångström, ÉCOLE, İstanbul, straße, ǅ",
        "Spaces:  two   three    four\t\ttabs\n\nnewlines\r\n  \n   trailing   ",
        "   leading spaces",
        "\n",
        " ",
        "ALLCAPS and MiXeD CaSe, numbers 1234567890 and 12,345.67",
        "supercalifragilisticexpialidocious " + "a" * 120 + " antidisestablishmentarianism",
        "Control\u0000chars\u0007and\u200bzero\ufeffwidth\u00adsoft",
        "URLs: https://example.com/path?q=1&r=2 and mail@example.org",
        "Quotes: “curly” ‘single’ «guillemets» — dash – en…",
    ]
    for w in special_words:
        texts.append(f"Special {w} inside text{w}glued {w}")
    return texts


def offsets_cp(enc):
    return [list(o) for o in enc.offsets]


def write_hf(name, tok, texts, both_special=True):
    tok.no_padding()
    tok.no_truncation()
    rows = []
    for text in texts:
        for add_special in ([True, False] if both_special else [True]):
            enc = tok.encode(text, add_special_tokens=add_special)
            rows.append({
                "text": text,
                "add_special_tokens": add_special,
                "ids": enc.ids,
                "tokens": enc.tokens,
                "offsets": offsets_cp(enc),
                "special_tokens_mask": enc.special_tokens_mask,
                "decoded": tok.decode(enc.ids, skip_special_tokens=True),
                "decoded_with_special": tok.decode(enc.ids, skip_special_tokens=False),
            })
    path = os.path.join(OUT, f"{name}.golden.jsonl")
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} rows")


def train_text_file():
    path = "/tmp/e2llm_qmsum_train.txt"
    with open(path, "w") as f:
        for t in qmsum_texts():
            f.write(t + "\n")
    return path


def byte_level_bpe(train_file):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([train_file], trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    tok.add_tokens([AddedToken("hello_word", single_word=True)])
    return tok


def bpe_byte_fallback(train_file):
    base = Tokenizer(models.BPE())
    base.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=[])
    base.train([train_file], trainer)
    model = json.loads(base.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 1)])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ["<unk>", "<s>", "</s>"]])
    return tok


def unigram(train_file):
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    tok.train([train_file], trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return tok


def wordpiece_cased(train_file):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=20))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(),
                                                 pre_tokenizers.Digits(individual_digits=True)])
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    tok.train([train_file], trainer)
    tok.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    return tok


def write_spm(name, model_path, texts):
    sp = spm.SentencePieceProcessor(model_file=model_path)
    rows = []
    for text in texts:
        proto = sp.encode(text, return_type="proto")
        rows.append({
            "text": text,
            "ids": [p.id for p in proto.pieces],
            "tokens": [p.piece for p in proto.pieces],
            "byte_offsets": [[p.begin, p.end] for p in proto.pieces],
            "decoded": sp.decode([p.id for p in proto.pieces]),
        })
    path = os.path.join(OUT, f"{name}.golden.jsonl")
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} rows; vocab {sp.get_piece_size()}")


def train_spm(name, train_file, model_type):
    prefix = os.path.join(OUT, name)
    spm.SentencePieceTrainer.train(input=train_file, model_prefix=prefix, vocab_size=800, model_type=model_type,
                                   byte_fallback=(model_type == "bpe"), character_coverage=0.9995,
                                   input_sentence_size=20000, shuffle_input_sentence=False,
                                   max_sentence_length=100000, minloglevel=2,
                                   normalization_rule_name="identity")
    os.remove(prefix + ".vocab")
    return prefix + ".model"


def main():
    os.makedirs(OUT, exist_ok=True)
    train_file = train_text_file()
    fixtures = {
        "bytelevel_bpe": (byte_level_bpe, ["<s>", "</s>", "<mask>", "hello_word"]),
        "bpe_byte_fallback": (bpe_byte_fallback, ["<s>", "</s>", "<unk>"]),
        "unigram": (unigram, ["</s>", "<pad>"]),
        "wordpiece_cased": (wordpiece_cased, ["[CLS]", "[SEP]"]),
    }
    for name, (build, specials) in fixtures.items():
        tok = build(train_file)
        tok.save(os.path.join(OUT, f"{name}.tokenizer.json"), pretty=False)
        tok = Tokenizer.from_file(os.path.join(OUT, f"{name}.tokenizer.json"))
        write_hf(name, tok, corpus(specials))

    for model_type in ["bpe", "unigram"]:
        model = train_spm(f"spm_{model_type}", train_file, model_type)
        write_spm(f"spm_{model_type}", model, corpus(["<s>", "</s>"]))

    minilm = os.path.join(CACHE, "all-MiniLM-L6-v2/tokenizer.json")
    if os.path.exists(minilm):
        write_hf("all-MiniLM-L6-v2", Tokenizer.from_file(minilm), corpus(["[CLS]", "[SEP]", "[MASK]"]))

    from transformers import AutoTokenizer
    for name, gguf, specials in [("SmolLM2", "SmolLM2-135M-Instruct.Q4_1.gguf", ["<|im_start|>", "<|endoftext|>"]),
                                 ("gemma3", "gemma-3-270m-Q4_K_M.gguf", ["<start_of_turn>", "<bos>", "<eos>"])]:
        if not os.path.exists(os.path.join(CACHE, gguf)):
            print(f"skip {name}: {gguf} not in {CACHE}", file=sys.stderr)
            continue
        tok = AutoTokenizer.from_pretrained(CACHE, gguf_file=gguf).backend_tokenizer
        write_hf(name, tok, corpus(specials))


if __name__ == "__main__":
    main()
