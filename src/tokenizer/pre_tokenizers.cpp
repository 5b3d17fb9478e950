#include "tokenizer/pre_tokenizers.h"

#include <algorithm>
#include <functional>

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "tokenizer/json_steps.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pattern.h"

namespace e2llm::text {

const char* const kGpt2SplitPattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

using nlohmann::json;
using Ranges = std::vector<std::pair<size_t, size_t>>;

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const json& j, const std::string& where) {
  const std::string name = j.get<std::string>();
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  fail("{}: unknown split behavior '{}'", where, name);
}

struct Piece {
  size_t begin, end;
  bool match;
};

// HF's SplitDelimiterBehavior applied to pieces that cover the whole text.
std::vector<Piece> apply_behavior(std::vector<Piece> pieces, Behavior behavior) {
  std::vector<Piece> out;
  switch (behavior) {
    case Behavior::kRemoved:
      for (const Piece& p : pieces)
        if (!p.match) out.push_back(p);
      return out;
    case Behavior::kIsolated:
      return pieces;
    case Behavior::kContiguous: {
      bool previous = false;
      for (const Piece& p : pieces) {
        if (!out.empty() && p.match == previous) out.back().end = p.end;
        else out.push_back(p);
        previous = p.match;
      }
      return out;
    }
    case Behavior::kMergedWithPrevious: {
      bool previous = false;
      for (const Piece& p : pieces) {
        if (p.match && !previous && !out.empty()) out.back().end = p.end;
        else out.push_back({p.begin, p.end, false});
        previous = p.match;
      }
      return out;
    }
    case Behavior::kMergedWithNext: {
      bool previous = false;
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
        if (it->match && !previous && !out.empty()) out.back().begin = it->begin;
        else out.push_back({it->begin, it->end, false});
        previous = it->match;
      }
      std::reverse(out.begin(), out.end());
      return out;
    }
  }
  return out;
}

std::vector<Piece> cover(size_t size, const Ranges& matches, bool invert) {
  std::vector<Piece> pieces;
  size_t last = 0;
  for (auto [b, e] : matches) {
    if (b > last) pieces.push_back({last, b, invert});
    pieces.push_back({b, e, !invert});
    last = e;
  }
  if (last < size) pieces.push_back({last, size, invert});
  return pieces;
}

using MatchFinder = std::function<Ranges(std::string_view)>;

void split_pieces(std::vector<NormalizedString>& pieces, const MatchFinder& find, Behavior behavior,
                  bool invert = false) {
  std::vector<NormalizedString> out;
  out.reserve(pieces.size() * 2);
  for (NormalizedString& piece : pieces) {
    Ranges matches = find(piece.text);
    if (matches.empty() && !invert) {
      if (!piece.empty()) out.push_back(std::move(piece));
      continue;
    }
    for (const Piece& p : apply_behavior(cover(piece.text.size(), matches, invert), behavior))
      if (p.end > p.begin) out.push_back(piece.slice(p.begin, p.end));
  }
  pieces = std::move(out);
}

// Every character for which `pred` holds is a one-character match.
MatchFinder char_matches(bool (*pred)(char32_t)) {
  return [pred](std::string_view text) {
    Ranges out;
    for (size_t i = 0; i < text.size();) {
      size_t len;
      char32_t c = decode_utf8_valid(text.data() + i, len);
      if (pred(c)) out.emplace_back(i, i + len);
      i += len;
    }
    return out;
  };
}

bool is_bert_punctuation(char32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return is_punctuation(c);
}

bool is_numeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return is_numeric_category(c);
}

class BertPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<NormalizedString>& pieces) const override {
    split_pieces(pieces, char_matches(is_whitespace), Behavior::kRemoved);
    split_pieces(pieces, char_matches(is_bert_punctuation), Behavior::kIsolated);
  }
};

class CharSplit : public PreTokenizer {
 public:
  CharSplit(bool (*pred)(char32_t), Behavior behavior) : find_(char_matches(pred)), behavior_(behavior) {}
  void pre_tokenize(std::vector<NormalizedString>& pieces) const override { split_pieces(pieces, find_, behavior_); }

 private:
  MatchFinder find_;
  Behavior behavior_;
};

class DelimiterSplit : public PreTokenizer {
 public:
  explicit DelimiterSplit(std::string delimiter) : pattern_(Pattern::literal(std::move(delimiter))) {}
  void pre_tokenize(std::vector<NormalizedString>& pieces) const override {
    split_pieces(pieces, [this](std::string_view t) { return pattern_.find_all(t); }, Behavior::kRemoved);
  }

 private:
  Pattern pattern_;
};

class PatternSplit : public PreTokenizer {
 public:
  PatternSplit(Pattern pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<NormalizedString>& pieces) const override {
    split_pieces(pieces, [this](std::string_view t) { return pattern_.find_all(t); }, behavior_, invert_);
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

void prepend(NormalizedString& s, const std::string& prefix) {
  s.text.insert(0, prefix);
  s.align.insert(s.align.begin(), prefix.size(), s.align.front());
}

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), regex_(use_regex ? std::make_unique<Regex>(kGpt2SplitPattern) : nullptr) {}
  void pre_tokenize(std::vector<NormalizedString>& pieces) const override {
    if (add_prefix_space_)
      for (NormalizedString& p : pieces)
        if (!p.empty() && p.text[0] != ' ') prepend(p, " ");
    if (regex_) split_pieces(pieces, [this](std::string_view t) { return regex_->find_all(t); }, Behavior::kIsolated);
    const auto& alphabet = ByteLevelAlphabet::get();
    for (NormalizedString& p : pieces) {
      NormalizedString mapped;
      mapped.original = p.original;
      mapped.text.reserve(p.text.size() * 2);
      mapped.align.reserve(p.text.size() * 2);
      for (size_t i = 0; i < p.text.size(); ++i) {
        const std::string& c = alphabet.utf8_of_byte[static_cast<unsigned char>(p.text[i])];
        mapped.text += c;
        mapped.align.insert(mapped.align.end(), c.size(), p.align[i]);
      }
      p = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class Metaspace : public PreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<NormalizedString>& pieces) const override {
    for (NormalizedString& p : pieces) {
      replace_spaces(p);
      bool starts = p.text.starts_with(replacement_);
      bool add = !p.empty() && !starts &&
                 (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && p.original.begin == 0));
      if (add) prepend(p, replacement_);
    }
    if (split_)
      split_pieces(pieces, [this](std::string_view t) { return Pattern::literal(replacement_).find_all(t); },
                   Behavior::kMergedWithNext);
  }

 private:
  void replace_spaces(NormalizedString& p) const {
    if (p.text.find(' ') == std::string::npos) return;
    NormalizedString out;
    out.original = p.original;
    for (size_t i = 0; i < p.text.size(); ++i) {
      if (p.text[i] == ' ') {
        out.text += replacement_;
        out.align.insert(out.align.end(), replacement_.size(), p.align[i]);
      } else {
        out.text.push_back(p.text[i]);
        out.align.push_back(p.align[i]);
      }
    }
    p = std::move(out);
  }
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<NormalizedString>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

PrependScheme parse_prepend_scheme(const json& j) {
  if (j.contains("prepend_scheme")) {
    std::string s = j.at("prepend_scheme").get<std::string>();
    if (s == "first") return PrependScheme::kFirst;
    if (s == "never") return PrependScheme::kNever;
    return PrependScheme::kAlways;
  }
  return j.value("add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Whitespace")
    return std::make_unique<PatternSplit>(Pattern::from_json(json{{"Regex", R"(\w+|[^\w\s]+)"}}, where),
                                          Behavior::kRemoved, true);
  if (type == "WhitespaceSplit") return std::make_unique<CharSplit>(is_whitespace, Behavior::kRemoved);
  if (type == "Punctuation")
    return std::make_unique<CharSplit>(is_bert_punctuation,
                                       parse_behavior(j.value("behavior", json("Isolated")), where + ".behavior"));
  if (type == "Digits")
    return std::make_unique<CharSplit>(is_numeric, j.value("individual_digits", false) ? Behavior::kIsolated
                                                                                         : Behavior::kContiguous);
  if (type == "CharDelimiterSplit") return std::make_unique<DelimiterSplit>(j.at("delimiter").get<std::string>());
  if (type == "Split")
    return std::make_unique<PatternSplit>(Pattern::from_json(j.at("pattern"), where + ".pattern"),
                                          parse_behavior(j.at("behavior"), where + ".behavior"),
                                          j.value("invert", false));
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(j.value("add_prefix_space", true), j.value("use_regex", true));
  if (type == "Metaspace")
    return std::make_unique<Metaspace>(j.value("replacement", std::string("\u2581")), parse_prepend_scheme(j),
                                       j.value("split", true));
  if (type == "Sequence") {
    return std::make_unique<Sequence>(
        make_steps<PreTokenizer>(j, "pretokenizers", where, make_pre_tokenizer));
  }
  fail("{}: unsupported pre_tokenizer type '{}' (supported: BertPreTokenizer, Whitespace, WhitespaceSplit, "
       "Punctuation, Digits, CharDelimiterSplit, Split, ByteLevel, Metaspace, Sequence)",
       where, type);
}

}  // namespace e2llm::text
