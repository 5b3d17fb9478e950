#include "tokenizer/pipeline_tokenizer.h"

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "io/json_fields.h"

namespace e2llm::text {

PipelineTokenizer::PipelineTokenizer(Pipeline pipeline, SpecialTokenIds special_ids) : p_(std::move(pipeline)) {
  E2LLM_CHECK(p_.model != nullptr, "tokenizer has no model");
  special_ids_ = special_ids;
  guess_special_ids();
}

namespace {

// Builds one part of the pipeline. The parts read their JSON with nlohmann's
// at() and get<>(); what those throw on a malformed part (a missing key, a
// wrong type) becomes an e2llm::Error naming the part, without nlohmann's
// "[json.exception...]" tag.
template <typename Make>
auto build_part(const std::string& where, Make make) {
  try {
    return make();
  } catch (const nlohmann::json::exception& e) {
    std::string_view reason = e.what();
    if (size_t tag_end = reason.find("] "); reason.rfind("[json.exception.", 0) == 0 && tag_end != reason.npos)
      reason.remove_prefix(tag_end + 2);
    fail("{}: malformed: {}", where, reason);
  }
}

}  // namespace

std::unique_ptr<PipelineTokenizer> PipelineTokenizer::from_json(const nlohmann::json& j, const std::string& origin) {
  E2LLM_CHECK(j.is_object() && j.contains("model"), "{}: not a tokenizer.json (no \"model\")", origin);
  auto get = [&j](const char* key) { return j.contains(key) ? j.at(key) : nlohmann::json(); };
  Pipeline p;
  auto part = [&](const char* key, auto make) {
    const std::string where = origin + ": " + key;
    return build_part(where, [&] { return make(get(key), where); });
  };
  p.added = part("added_tokens", AddedVocabulary::from_json);
  p.normalizer = part("normalizer", make_normalizer);
  p.pre_tokenizer = part("pre_tokenizer", make_pre_tokenizer);
  p.model = part("model", make_model);
  p.post_processor = part("post_processor", make_post_processor);
  p.decoder = part("decoder", make_decoder);
  auto tok = std::make_unique<PipelineTokenizer>(std::move(p), SpecialTokenIds{});
  tok->file_truncation_ = build_part(origin + ": truncation", [&] { return parse_truncation(get("truncation")); });
  return tok;
}

std::optional<Truncation> parse_truncation(const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  Truncation t;
  t.max_length = json_fields::value_or<size_t>(j, "max_length", 512, json_fields::Where("truncation"));
  t.direction = j.value("direction", std::string("Right")) == "Left" ? Truncation::Direction::kLeft
                                                                      : Truncation::Direction::kRight;
  return t;
}

namespace {

void append_token(Encoding& out, int64_t id, std::string value, Span span) {
  out.ids.push_back(id);
  out.tokens.push_back(std::move(value));
  out.byte_offsets.emplace_back(span.begin, span.end);
}

}  // namespace

Encoding PipelineTokenizer::encode_valid(std::string_view text, bool add_special_tokens) const {
  Encoding out;
  size_t last = 0;
  for (const AddedMatch& m : p_.added.find(text, false)) {
    if (m.begin > last) encode_segment(text, last, m.begin, out);
    append_token(out, m.id, std::string(text.substr(m.begin, m.end - m.begin)),
                 {static_cast<uint32_t>(m.begin), static_cast<uint32_t>(m.end)});
    last = m.end;
  }
  if (last < text.size()) encode_segment(text, last, text.size(), out);
  out.type_ids.assign(out.ids.size(), 0);
  out.special_tokens_mask.assign(out.ids.size(), 0);
  if (const auto& t = truncation()) {
    size_t room = t->max_length;
    if (add_special_tokens && p_.post_processor) room -= std::min(room, p_.post_processor->added_tokens());
    if (out.ids.size() > room) {
      size_t drop = out.ids.size() - room;
      auto cut = [&](auto& v) {
        if (t->direction == Truncation::Direction::kRight) v.resize(room);
        else v.erase(v.begin(), v.begin() + static_cast<ptrdiff_t>(drop));
      };
      cut(out.ids), cut(out.tokens), cut(out.byte_offsets), cut(out.type_ids), cut(out.special_tokens_mask);
    }
  }
  if (p_.post_processor) p_.post_processor->process(out, add_special_tokens);
  return out;
}

void PipelineTokenizer::encode_segment(std::string_view text, size_t begin, size_t end, Encoding& out) const {
  NormalizedString s = NormalizedString::from_original(text, begin, end);
  if (p_.normalizer) p_.normalizer->normalize(s);
  if (!p_.added.has_normalized()) {
    encode_normalized(std::move(s), out);
    return;
  }
  size_t last = 0;
  for (const AddedMatch& m : p_.added.find(s.text, true)) {
    if (m.begin > last) encode_normalized(s.slice(last, m.begin), out);
    append_token(out, m.id, s.text.substr(m.begin, m.end - m.begin), s.original_span(m.begin, m.end));
    last = m.end;
  }
  if (last < s.text.size()) encode_normalized(s.slice(last, s.text.size()), out);
}

void PipelineTokenizer::encode_normalized(NormalizedString piece, Encoding& out) const {
  if (piece.empty()) return;
  std::vector<NormalizedString> pieces;
  pieces.push_back(std::move(piece));
  if (p_.pre_tokenizer) p_.pre_tokenizer->pre_tokenize(pieces);
  std::vector<Token> tokens;
  for (const NormalizedString& p : pieces) {
    tokens.clear();
    p_.model->tokenize(p.text, tokens);
    for (Token& t : tokens) append_token(out, t.id, std::move(t.value), p.original_span(t.begin, t.end));
  }
}

std::string PipelineTokenizer::decode(std::span<const int64_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    tokens.push_back(id_to_token(id));
  }
  if (!p_.decoder) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  p_.decoder->decode_chain(tokens);
  std::string joined;
  for (const auto& t : tokens) joined += t;
  return joined;
}

std::optional<int64_t> PipelineTokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* t = p_.added.by_content(token)) return t->id;
  return p_.model->vocab().find(token);
}

std::string PipelineTokenizer::id_to_token(int64_t id) const {
  if (const AddedToken* t = p_.added.by_id(id)) return t->content;
  const std::string* token = p_.model->vocab().token(id);
  E2LLM_CHECK(token != nullptr, "token id {} is out of range (vocabulary size {})", id, vocab_size());
  return *token;
}

size_t PipelineTokenizer::vocab_size() const {
  size_t bound = p_.model->vocab().id_bound();
  for (const auto& t : p_.added.tokens()) bound = std::max(bound, static_cast<size_t>(t.id) + 1);
  return bound;
}

bool PipelineTokenizer::is_special(int64_t id) const {
  const AddedToken* t = p_.added.by_id(id);
  return t && t->special;
}

void PipelineTokenizer::guess_special_ids() {
  auto first_of = [this](std::initializer_list<const char*> names) -> std::optional<int64_t> {
    for (const char* n : names)
      if (auto id = token_to_id(n)) return id;
    return std::nullopt;
  };
  auto fill = [](std::optional<int64_t>& slot, std::optional<int64_t> value) {
    if (!slot) slot = value;
  };
  fill(special_ids_.cls, first_of({"[CLS]", "<s>"}));
  fill(special_ids_.sep, first_of({"[SEP]", "</s>"}));
  fill(special_ids_.pad, first_of({"[PAD]", "<pad>", "<|pad|>"}));
  fill(special_ids_.unk, first_of({"[UNK]", "<unk>", "<|unk|>"}));
  fill(special_ids_.mask, first_of({"[MASK]", "<mask>"}));
  fill(special_ids_.bos, first_of({"<s>", "<bos>", "<|begin_of_text|>", "<|startoftext|>"}));
  fill(special_ids_.eos, first_of({"</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>"}));
}

}  // namespace e2llm::text
