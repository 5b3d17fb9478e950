#include "tokenizer/post_processors.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "io/json_fields.h"
#include "tokenizer/models.h"
#include "tokenizer/json_steps.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"

namespace e2llm::text {
namespace {

using nlohmann::json;

struct SpecialPiece {
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;
  int64_t type_id = 0;
};

void append_special(Encoding& out, const SpecialPiece& piece) {
  for (size_t i = 0; i < piece.ids.size(); ++i) {
    out.ids.push_back(piece.ids[i]);
    out.tokens.push_back(piece.tokens[i]);
    out.byte_offsets.emplace_back(0, 0);
    out.type_ids.push_back(piece.type_id);
    out.special_tokens_mask.push_back(1);
  }
}

void append_sequence(Encoding& out, const Encoding& seq, int64_t type_id) {
  out.ids.insert(out.ids.end(), seq.ids.begin(), seq.ids.end());
  out.tokens.insert(out.tokens.end(), seq.tokens.begin(), seq.tokens.end());
  out.byte_offsets.insert(out.byte_offsets.end(), seq.byte_offsets.begin(), seq.byte_offsets.end());
  out.type_ids.insert(out.type_ids.end(), seq.ids.size(), type_id);
  out.special_tokens_mask.insert(out.special_tokens_mask.end(), seq.ids.size(), 0);
}

// Wraps the sequence between `before` and `after` pieces.
void wrap(Encoding& e, const std::vector<SpecialPiece>& before, const std::vector<SpecialPiece>& after,
          int64_t type_id) {
  Encoding out;
  for (const auto& p : before) append_special(out, p);
  append_sequence(out, e, type_id);
  for (const auto& p : after) append_special(out, p);
  e = std::move(out);
}

bool is_space_like(char32_t c) { return c == ByteLevelAlphabet::get().char_of_byte[' '] || is_whitespace(c); }

// HF's ByteLevel process_offsets: spaces at either end of a token leave its offsets.
void trim_offsets(Encoding& e, bool add_prefix_space) {
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    const std::string& t = e.tokens[i];
    std::vector<char32_t> chars;
    for (size_t k = 0; k < t.size();) {
      size_t len;
      chars.push_back(decode_utf8_at(t, k, len));
      k += len;
    }
    size_t leading = 0, trailing = 0;
    while (leading < chars.size() && is_space_like(chars[leading])) ++leading;
    while (trailing < chars.size() && is_space_like(chars[chars.size() - 1 - trailing])) ++trailing;
    auto& [b, end] = e.byte_offsets[i];
    if (leading > 0) {
      bool is_first = i == 0 || b == 0;
      if (is_first && add_prefix_space && leading == 1) leading = 0;
      b = std::min(b + leading, end);
    }
    if (trailing > 0 && end >= trailing) end = std::max(end - trailing, b);
  }
}

SpecialPiece piece_from_pair(const json& j, const std::string& where) {
  E2LLM_CHECK(j.is_array() && j.size() == 2, "{}: expected [token, id]", where);
  return {{json_fields::read_integer(j[1], json_fields::Where(where, "[1]"), 0, kMaxTokenId)}, {j[0].get<std::string>()}, 0};
}

class BertProcessing : public PostProcessor {
 public:
  BertProcessing(SpecialPiece cls, SpecialPiece sep) : cls_(std::move(cls)), sep_(std::move(sep)) {}
  void process(Encoding& e, bool add_special_tokens) const override {
    if (add_special_tokens) wrap(e, {cls_}, {sep_}, 0);
  }
  size_t added_tokens() const override { return 2; }

 private:
  SpecialPiece cls_, sep_;
};

class RobertaProcessing : public PostProcessor {
 public:
  RobertaProcessing(SpecialPiece cls, SpecialPiece sep, bool trim, bool add_prefix_space)
      : cls_(std::move(cls)), sep_(std::move(sep)), trim_(trim), add_prefix_space_(add_prefix_space) {}
  void process(Encoding& e, bool add_special_tokens) const override {
    if (trim_) trim_offsets(e, add_prefix_space_);
    if (add_special_tokens) wrap(e, {cls_}, {sep_}, 0);
  }
  size_t added_tokens() const override { return 2; }

 private:
  SpecialPiece cls_, sep_;
  bool trim_, add_prefix_space_;
};

class ByteLevelProcessing : public PostProcessor {
 public:
  ByteLevelProcessing(bool trim, bool add_prefix_space) : trim_(trim), add_prefix_space_(add_prefix_space) {}
  void process(Encoding& e, bool) const override {
    if (trim_) trim_offsets(e, add_prefix_space_);
  }
  size_t added_tokens() const override { return 0; }

 private:
  bool trim_, add_prefix_space_;
};

class TemplateProcessing : public PostProcessor {
 public:
  TemplateProcessing(const json& j, const std::string& where) {
    std::map<std::string, SpecialPiece> specials;
    if (j.contains("special_tokens")) {
      for (auto it = j.at("special_tokens").begin(); it != j.at("special_tokens").end(); ++it) {
        SpecialPiece p;
        const json_fields::Where ids(where, fmt::format("special_tokens.{}.ids", it.key()));
        E2LLM_CHECK(it.value().at("ids").is_array(), "{} must be a list", ids.describe());
        for (size_t k = 0; k < it.value().at("ids").size(); ++k)
          p.ids.push_back(json_fields::read_integer(it.value().at("ids")[k], ids.index(k), 0, kMaxTokenId));
        p.tokens = it.value().at("tokens").get<std::vector<std::string>>();
        E2LLM_CHECK(p.ids.size() == p.tokens.size(), "{}.special_tokens.{}: ids and tokens differ in length", where,
                    it.key());
        specials[it.key()] = std::move(p);
      }
    }
    const json& single = j.at("single");
    bool seen_sequence = false;
    for (size_t i = 0; i < single.size(); ++i) {
      const json& item = single[i];
      if (item.contains("Sequence")) {
        seen_sequence = true;
        type_id_ = json_fields::value_or<int64_t>(item.at("Sequence"), "type_id", 0,
                                                  json_fields::Where(where, fmt::format("single[{}].Sequence", i)));
        continue;
      }
      E2LLM_CHECK(item.contains("SpecialToken"), "{}.single[{}]: expected Sequence or SpecialToken", where, i);
      const std::string id = item.at("SpecialToken").at("id").get<std::string>();
      auto found = specials.find(id);
      E2LLM_CHECK(found != specials.end(), "{}.single[{}]: special token '{}' is not in special_tokens", where, i, id);
      SpecialPiece p = found->second;
      p.type_id = json_fields::value_or<int64_t>(item.at("SpecialToken"), "type_id", 0,
                                                 json_fields::Where(where, fmt::format("single[{}].SpecialToken", i)));
      (seen_sequence ? after_ : before_).push_back(std::move(p));
    }
    for (const auto& p : before_) added_ += p.ids.size();
    for (const auto& p : after_) added_ += p.ids.size();
  }
  void process(Encoding& e, bool add_special_tokens) const override {
    if (add_special_tokens) wrap(e, before_, after_, type_id_);
  }
  size_t added_tokens() const override { return added_; }

 private:
  std::vector<SpecialPiece> before_, after_;
  int64_t type_id_ = 0;
  size_t added_ = 0;
};

class SequenceProcessing : public PostProcessor {
 public:
  explicit SequenceProcessing(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void process(Encoding& e, bool add_special_tokens) const override {
    for (const auto& s : steps_) s->process(e, add_special_tokens);
  }
  size_t added_tokens() const override {
    size_t n = 0;
    for (const auto& s : steps_) n += s->added_tokens();
    return n;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "TemplateProcessing") return std::make_unique<TemplateProcessing>(j, where);
  if (type == "BertProcessing")
    return std::make_unique<BertProcessing>(piece_from_pair(j.at("cls"), where + ".cls"),
                                            piece_from_pair(j.at("sep"), where + ".sep"));
  if (type == "RobertaProcessing")
    return std::make_unique<RobertaProcessing>(piece_from_pair(j.at("cls"), where + ".cls"),
                                               piece_from_pair(j.at("sep"), where + ".sep"),
                                               j.value("trim_offsets", true), j.value("add_prefix_space", true));
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelProcessing>(j.value("trim_offsets", true), j.value("add_prefix_space", true));
  if (type == "Sequence") {
    return std::make_unique<SequenceProcessing>(
        make_steps<PostProcessor>(j, "processors", where, make_post_processor));
  }
  fail("{}: unsupported post_processor type '{}' (supported: TemplateProcessing, BertProcessing, "
       "RobertaProcessing, ByteLevel, Sequence)",
       where, type);
}

}  // namespace e2llm::text
