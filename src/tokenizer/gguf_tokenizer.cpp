// The vocabulary a GGUF file embeds (tokenizer.ggml.*), turned into the same
// pipeline transformers builds from it (integrations/gguf), so ids match
// AutoTokenizer.from_pretrained(..., gguf_file=...) exactly:
//   gpt2  -> byte-level BPE with the file's merges (and its split regex when
//            tokenizer.ggml.pre names a known one);
//   llama -> SentencePiece-style BPE with byte fallback, merges rebuilt from
//            the vocabulary (Gemma: ordered by position, not score);
//   bert  -> WordPiece with BERT's normalizer (transformers cannot load these;
//            this follows llama.cpp's BERT vocabularies).
// Control tokens become special added tokens, user-defined ones plain added
// tokens, as transformers does.
#include <malloc.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/io/gguf.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/loaders.h"
#include "tokenizer/pipeline_tokenizer.h"
#include "tokenizer/unicode.h"

namespace e2llm::text {
namespace {

using nlohmann::json;

constexpr int64_t kControl = 3, kUserDefined = 4;

const char* const kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const char* split_regex_for(const std::string& pre) {
  static const std::unordered_map<std::string, const char*> kSplits = {
      {"llama3", kLlama3Split},    {"llama-v3", kLlama3Split}, {"llama-bpe", kLlama3Split},
      {"falcon3", kLlama3Split},   {"dbrx", kLlama3Split},     {"smaug-bpe", kLlama3Split},
      {"qwen2", kQwen2Split},      {"deepseek-r1-qwen", kQwen2Split}};
  auto it = kSplits.find(pre);
  return it == kSplits.end() ? nullptr : it->second;
}

struct GgufVocab {
  std::string model, pre, arch;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int64_t> types;
  std::vector<std::string> merges;
  SpecialTokenIds special;
};

GgufVocab read_vocab(const GgufFile& f) {
  GgufVocab v;
  E2LLM_CHECK(f.has("tokenizer.ggml.model") && f.has("tokenizer.ggml.tokens"),
              "{}: no embedded vocabulary (tokenizer.ggml.model / tokenizer.ggml.tokens missing)", f.path());
  v.model = f.get_string("tokenizer.ggml.model");
  v.pre = f.has("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "";
  v.arch = f.has("general.architecture") ? f.get_string("general.architecture") : "";
  v.tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (f.has("tokenizer.ggml.scores")) v.scores = f.get_float_array("tokenizer.ggml.scores");
  if (f.has("tokenizer.ggml.token_type")) v.types = f.get_int_array("tokenizer.ggml.token_type");
  if (f.has("tokenizer.ggml.merges")) v.merges = f.get_string_array("tokenizer.ggml.merges");
  auto id = [&](const char* key) -> std::optional<int64_t> {
    std::string k = std::string("tokenizer.ggml.") + key;
    return f.has(k) ? std::optional<int64_t>(f.get_int(k)) : std::nullopt;
  };
  v.special.bos = id("bos_token_id");
  v.special.eos = id("eos_token_id");
  v.special.pad = id("padding_token_id");
  v.special.unk = id("unknown_token_id");
  v.special.sep = id("seperator_token_id");
  v.special.cls = id("cls_token_id");
  v.special.mask = id("mask_token_id");
  E2LLM_CHECK(v.scores.empty() || v.scores.size() == v.tokens.size(), "{}: {} scores for {} tokens", f.path(),
              v.scores.size(), v.tokens.size());
  E2LLM_CHECK(v.types.empty() || v.types.size() == v.tokens.size(), "{}: {} token types for {} tokens", f.path(),
              v.types.size(), v.tokens.size());
  return v;
}

using MergeList = std::vector<std::pair<std::string, std::string>>;

MergeList split_merges(const std::vector<std::string>& merges, const std::string& path) {
  MergeList out;
  out.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    size_t space = merges[i].find(' ', 1);
    E2LLM_CHECK(space != std::string::npos, "{}: tokenizer.ggml.merges[{}] '{}' is not 'left right'", path, i,
                merges[i]);
    out.emplace_back(merges[i].substr(0, space), merges[i].substr(space + 1));
  }
  return out;
}

// transformers' generate_merges: every split of a token into two vocabulary
// tokens, best score first, then longer left part, then longer right part;
// ties keep vocabulary order.
// Each distinct spelling's id: its last occurrence's (transformers keys the vocabulary by token).
using IdOf = std::unordered_map<std::string_view, int64_t>;
IdOf last_ids(const std::vector<std::string>& tokens) {
  IdOf id_of;
  id_of.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) id_of[tokens[i]] = static_cast<int64_t>(i);
  return id_of;
}

std::vector<BpeMerge> merges_from_vocab(const std::vector<std::string>& tokens, const std::vector<double>& scores,
                                        const IdOf& last_id) {
  struct Candidate {  // 32 bytes: Gemma 3's vocabulary gives ~0.5M of them
    double score;
    uint32_t left_chars, right_chars;
    uint32_t left_id, right_id, token;
  };
  std::vector<Candidate> all;
  std::vector<int64_t> first_seen;  // dict order: a token's first occurrence
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (seen.insert(tokens[i]).second) first_seen.push_back(static_cast<int64_t>(i));
  std::vector<Candidate> local;
  for (int64_t first : first_seen) {
    std::string_view t = tokens[static_cast<size_t>(first)];
    const auto id = static_cast<uint32_t>(last_id.at(t));
    local.clear();
    size_t total_chars = count_code_points(t);
    uint32_t left_chars = 0;
    for (size_t pos = 0; pos < t.size();) {
      pos += utf8_sequence_length(static_cast<unsigned char>(t[pos]), 1);
      ++left_chars;
      if (pos >= t.size()) break;
      auto l = last_id.find(t.substr(0, pos)), r = last_id.find(t.substr(pos));
      if (l == last_id.end() || r == last_id.end()) continue;
      local.push_back({scores[id], left_chars, static_cast<uint32_t>(total_chars - left_chars),
                       static_cast<uint32_t>(l->second), static_cast<uint32_t>(r->second), id});
    }
    std::stable_sort(local.begin(), local.end(), [](const Candidate& a, const Candidate& b) {
      return a.left_id != b.left_id ? a.left_id < b.left_id : a.right_id < b.right_id;
    });
    all.insert(all.end(), local.begin(), local.end());
  }
  std::stable_sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_chars != b.left_chars) return a.left_chars > b.left_chars;
    return a.right_chars > b.right_chars;
  });
  std::vector<BpeMerge> out;
  out.reserve(all.size());
  for (const Candidate& c : all) out.push_back({c.left_id, c.right_id, c.token});
  return out;
}

// Control tokens as special added tokens; user-defined ones that are in the
// vocabulary as plain (unnormalized) added tokens.
void add_gguf_added_tokens(const GgufVocab& v, const IdOf& id_of, bool byte_level, AddedVocabulary& added) {
  if (v.types.empty()) return;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.types[i] != kControl) continue;
    std::string scratch;
    if (byte_level && !from_byte_level(v.tokens[i], scratch)) continue;  // llama.cpp mislabel
    auto it = id_of.find(v.tokens[i]);
    if (it == id_of.end() || v.tokens[i].empty()) continue;
    added.add({v.tokens[i], it->second, true, false, false, false, false});
  }
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.types[i] != kUserDefined || v.tokens[i].empty()) continue;
    auto it = id_of.find(v.tokens[i]);
    if (it == id_of.end() || added.by_content(v.tokens[i])) continue;
    added.add({v.tokens[i], it->second, false, false, false, false, false});
  }
}

json bos_template(const GgufVocab& v, const std::vector<std::string>& spelled) {
  if (!v.special.bos || *v.special.bos < 0 || static_cast<size_t>(*v.special.bos) >= spelled.size())
    return json{{"type", "TemplateProcessing"}, {"single", json::array({{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}};
  const std::string& bos = spelled[static_cast<size_t>(*v.special.bos)];
  return json{{"type", "TemplateProcessing"},
              {"single", json::array({{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                      {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
              {"special_tokens", {{bos, {{"id", bos}, {"ids", {*v.special.bos}}, {"tokens", {bos}}}}}}};
}

Pipeline byte_level_pipeline(const GgufVocab& v, const std::string& path) {
  const auto& alphabet = ByteLevelAlphabet::get();
  std::vector<std::string> spelled;
  spelled.reserve(v.tokens.size());
  for (const std::string& t : v.tokens) {
    bool in_alphabet = true;
    for (size_t i = 0; i < t.size() && in_alphabet;) {
      size_t len;
      in_alphabet = alphabet.byte_of_char(decode_utf8_at(t, i, len)) >= 0;
      i += len;
    }
    spelled.push_back(in_alphabet ? t : to_byte_level(t));
  }
  Pipeline p;
  add_gguf_added_tokens(v, last_ids(spelled), true, p.added);
  p.model = make_bpe_model(spelled, split_merges(v.merges, path), BpeOptions{}, path + ": tokenizer.ggml");
  if (const char* split = split_regex_for(v.pre)) {
    p.pre_tokenizer = make_pre_tokenizer(
        json{{"type", "Sequence"},
             {"pretokenizers",
              {{{"type", "Split"}, {"pattern", {{"Regex", split}}}, {"behavior", "Isolated"}, {"invert", false}},
               {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}},
        path);
  } else {
    p.pre_tokenizer = make_pre_tokenizer(json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}, path);
  }
  p.decoder = make_decoder(json{{"type", "ByteLevel"}}, path);
  return p;
}

Pipeline sentencepiece_pipeline(const GgufVocab& v, const std::string& path) {
  const bool gemma = v.arch.starts_with("gemma") && v.arch != "gemma4";
  std::vector<std::string> spelled = v.tokens;
  std::vector<double> scores(spelled.size(), 0.0);
  if (gemma) {
    // Gemma stores runs of spaces as real spaces; its merges rank by position.
    for (std::string& t : spelled) {
      bool blank = t.find(' ') != std::string::npos &&
                   std::all_of(t.begin(), t.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; });
      if (blank) {
        size_t n = count_code_points(t);
        t.clear();
        for (size_t k = 0; k < n; ++k) t += "\u2581";
      }
    }
  }
  IdOf last_id = last_ids(spelled);
  if (gemma) {
    for (size_t i = 0; i < spelled.size(); ++i) scores[i] = -static_cast<double>(last_id.at(spelled[i]));
  } else {
    E2LLM_CHECK(!v.scores.empty(), "{}: llama vocabulary without tokenizer.ggml.scores", path);
    // transformers keys scores by token: a repeated token keeps its last score.
    for (size_t i = 0; i < spelled.size(); ++i) scores[i] = v.scores[static_cast<size_t>(last_id.at(spelled[i]))];
  }
  BpeOptions options;
  options.unk_token = "<unk>";
  options.fuse_unk = true;
  options.byte_fallback = true;
  Pipeline p;
  add_gguf_added_tokens(v, last_id, false, p.added);
  std::vector<BpeMerge> derived;
  if (v.merges.empty()) derived = merges_from_vocab(spelled, scores, last_id);
  last_id = IdOf();  // freed before the model builds its own tables, which is when memory peaks
  const std::string where = path + ": tokenizer.ggml";
  p.model = v.merges.empty() ? make_bpe_model(spelled, derived, options, where)
                             : make_bpe_model(spelled, split_merges(v.merges, path), options, where);
  if (gemma) {
    p.normalizer = make_normalizer(json{{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}, path);
    p.pre_tokenizer = make_pre_tokenizer(
        json{{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "MergedWithPrevious"}, {"invert", false}}, path);
    p.decoder = make_decoder(json{{"type", "Sequence"},
                                  {"decoders",
                                   {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                                    {{"type", "ByteFallback"}},
                                    {{"type", "Fuse"}}}}},
                             path);
  } else {
    p.pre_tokenizer = make_pre_tokenizer(
        json{{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", false}}, path);
    p.decoder = make_decoder(json{{"type", "Sequence"},
                                  {"decoders",
                                   {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                                    {{"type", "ByteFallback"}},
                                    {{"type", "Fuse"}},
                                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}},
                             path);
  }
  p.post_processor = make_post_processor(bos_template(v, spelled), path);
  return p;
}

Pipeline bert_pipeline(const GgufVocab& v, const std::string& path) {
  json vocab = json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = i;
  Pipeline p;
  add_gguf_added_tokens(v, last_ids(v.tokens), false, p.added);
  p.normalizer = make_normalizer(json{{"type", "BertNormalizer"}, {"lowercase", true}}, path);
  p.pre_tokenizer = make_pre_tokenizer(json{{"type", "BertPreTokenizer"}}, path);
  p.model = make_model(json{{"type", "WordPiece"}, {"vocab", vocab}, {"unk_token", "[UNK]"}}, path);
  p.decoder = make_decoder(json{{"type", "WordPiece"}}, path);
  if (v.special.cls && v.special.sep)
    p.post_processor = make_post_processor(
        json{{"type", "BertProcessing"},
             {"cls", {v.tokens.at(static_cast<size_t>(*v.special.cls)), *v.special.cls}},
             {"sep", {v.tokens.at(static_cast<size_t>(*v.special.sep)), *v.special.sep}}},
        path);
  return p;
}

}  // namespace

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  auto file = GgufFile::open(path);
  GgufVocab v = read_vocab(*file);
  Pipeline p;
  if (v.model == "gpt2") p = byte_level_pipeline(v, path);
  else if (v.model == "llama") p = sentencepiece_pipeline(v, path);
  else if (v.model == "bert") p = bert_pipeline(v, path);
  else fail("{}: tokenizer.ggml.model '{}' is not supported (supported: gpt2, llama, bert)", path, v.model);
  auto tokenizer = std::make_unique<PipelineTokenizer>(std::move(p), v.special);
  v = GgufVocab();
  file.reset();  // its parsed metadata (every token string again) before the trim, not after
  // Building the tables of a large vocabulary (Gemma 3's 262k tokens, whose
  // merges are derived from it) frees ~100 MB of temporaries in small blocks,
  // which glibc keeps in the heap; returned now, the weights' pages touched
  // later do not come on top of them.
  ::malloc_trim(0);
  return tokenizer;
}

}  // namespace e2llm::text
