// Tokenizer entry points shared by every kind: loading by path, input
// validation, code-point offsets, batch encoding and streaming decode.
#include "e2llm/tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "tokenizer/loaders.h"
#include "tokenizer/pipeline_tokenizer.h"
#include "tokenizer/unicode.h"

namespace e2llm {
namespace {

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path, const TokenizerOptions& options) {
  nlohmann::json j = read_json_file(path);
  if (options.split_digits) {
    // The same document Hugging Face's tokenizers would read had the step been
    // written into the file.
    nlohmann::json steps = nlohmann::json::array();
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) steps.push_back(j["pre_tokenizer"]);
    steps.push_back({{"type", "Digits"}, {"individual_digits", true}});
    j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", steps}};
  }
  return text::PipelineTokenizer::from_json(j, path);
}

// Code-point index of every byte offset, so byte spans convert in O(1). A
// byte inside a character maps to that character, as in HF's conversion (a
// byte-level token ending mid-character ends at the character's start).
std::vector<uint32_t> code_point_index(std::string_view text) {
  std::vector<uint32_t> index(text.size() + 1);
  uint32_t cp = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    bool lead = !is_utf8_continuation(static_cast<unsigned char>(text[i]));
    index[i] = lead ? cp : cp - 1;
    cp += lead;
  }
  index[text.size()] = cp;
  return index;
}

}  // namespace

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::string& path, const TokenizerOptions& options) {
  if (is_directory(path)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model"})
      if (file_exists(path + "/" + name)) return from_file(path + "/" + name, options);
    fail("{}: folder holds neither tokenizer.json nor tokenizer.model", path);
  }
  E2LLM_CHECK(file_exists(path), "{}: no such tokenizer file", path);
  const bool json_file = !path.ends_with(".gguf") && !path.ends_with(".model");
  E2LLM_CHECK(json_file || !options.split_digits,
              "{}: splitting numbers into digits needs a tokenizer.json, not a {} file", path,
              path.ends_with(".gguf") ? "GGUF" : "SentencePiece");
  if (path.ends_with(".gguf")) return text::load_gguf_tokenizer(path);
  if (path.ends_with(".model")) return text::load_sentencepiece_model(path);
  return load_tokenizer_json(path, options);
}

std::unique_ptr<Tokenizer> Tokenizer::from_json_string(std::string_view json, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", origin, e.what());
  }
  return text::PipelineTokenizer::from_json(j, origin);
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  text::require_valid_utf8(text, "tokenizer input");
  Encoding e = encode_valid(text, add_special_tokens);
  std::vector<uint32_t> cp = code_point_index(text);
  e.offsets.resize(e.byte_offsets.size());
  for (size_t i = 0; i < e.byte_offsets.size(); ++i) {
    auto [b, end] = e.byte_offsets[i];
    e.offsets[i] = {cp[std::min(b, text.size())], cp[std::min(end, text.size())]};
  }
  e.attention_mask.assign(e.ids.size(), 1);
  if (e.type_ids.size() != e.ids.size()) e.type_ids.assign(e.ids.size(), 0);
  if (e.special_tokens_mask.size() != e.ids.size()) e.special_tokens_mask.assign(e.ids.size(), 0);
  return e;
}

std::vector<Encoding> Tokenizer::encode_batch(std::span<const std::string> texts, bool add_special_tokens) const {
  std::vector<Encoding> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(encode(t, add_special_tokens));
  return out;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

// HF's DecodeStream: decode the ids since the last boundary, keep the text a
// prefix of tokens already produced, and emit only what follows it once it
// does not end in a replacement character (a cut UTF-8 sequence).
std::string StreamDecoder::push(int64_t id) {
  if (prefix_.empty() && !ids_.empty()) {
    std::string p = tokenizer_.decode(ids_, skip_special_);
    if (!p.ends_with(kReplacementCharacterUtf8)) prefix_ = std::move(p), prefix_count_ = ids_.size();
  }
  ids_.push_back(id);
  std::string text = tokenizer_.decode(ids_, skip_special_);
  if (text.size() <= prefix_.size() || text.ends_with(kReplacementCharacterUtf8)) return "";
  E2LLM_CHECK(text.starts_with(prefix_),
              "stream decode: the decoder changed text already emitted (token id {})", id);
  std::string fresh = text.substr(prefix_.size());
  size_t new_prefix_count = ids_.size() - prefix_count_;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<ptrdiff_t>(prefix_count_));
  prefix_ = tokenizer_.decode(ids_, skip_special_);
  prefix_count_ = new_prefix_count;
  return fresh;
}

std::string StreamDecoder::finish() {
  std::string text = tokenizer_.decode(ids_, skip_special_);
  std::string rest = text.size() > prefix_.size() && text.starts_with(prefix_)
                         ? text.substr(prefix_.size())
                         : std::string();
  ids_.clear();
  prefix_.clear();
  prefix_count_ = 0;
  return rest;
}

}  // namespace e2llm
