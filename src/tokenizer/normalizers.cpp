#include "tokenizer/normalizers.h"

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "tokenizer/json_steps.h"
#include "tokenizer/pattern.h"

namespace e2llm::text {
namespace {

using nlohmann::json;

void append_without_accents(std::string& out, char32_t c) {
  for (char32_t d : decompose(c, false))
    if (!is_nonspacing_mark(d)) append_utf8(out, d);
}

// BERT's normalizer: drop control characters, make whitespace a space, put
// spaces around CJK ideographs, strip accents (NFD minus Mn), lowercase.
class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lowercase_(lowercase) {}

  void normalize(NormalizedString& s) const override {
    s.map_chars([this](char32_t c, std::string& out) {
      if (clean_text_) {
        if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && is_other(c))) return;
        if (is_whitespace(c)) c = ' ';
      }
      if (chinese_ && c >= 0x3400 && is_cjk_ideograph(c)) {
        out.push_back(' ');
        append_utf8(out, c);
        out.push_back(' ');
        return;
      }
      if (c < 0x80) {
        out.push_back(static_cast<char>(lowercase_ && c >= 'A' && c <= 'Z' ? c + 32 : c));
        return;
      }
      // HF strips accents before lowercasing.
      std::string tmp;
      if (strip_accents_) append_without_accents(tmp, c);
      else append_utf8(tmp, c);
      if (!lowercase_) {
        out += tmp;
        return;
      }
      for (size_t i = 0; i < tmp.size();) {
        size_t len;
        append_lowercase(out, decode_utf8_valid(tmp.data() + i, len));
        i += len;
      }
    });
  }

 private:
  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override { s.map_chars([](char32_t c, std::string& out) { append_lowercase(out, c); }); }
};

class StripAccents : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.map_chars([](char32_t c, std::string& out) {
      if (!is_nonspacing_mark(c)) append_utf8(out, c);
    });
  }
};

class Decompose : public Normalizer {
 public:
  explicit Decompose(bool compatibility) : compatibility_(compatibility) {}
  void normalize(NormalizedString& s) const override {
    s.map_chars([this](char32_t c, std::string& out) {
      if (c < 0xC0) {
        if (c < 0x80 || !compatibility_) {
          append_utf8(out, c);
          return;
        }
      }
      for (char32_t d : decompose(c, compatibility_)) append_utf8(out, d);
    });
  }

 private:
  bool compatibility_;
};

// NFC / NFKC: characters may combine, so normalize segment by segment (a
// segment starts where nothing can combine with what precedes); a segment that
// changes maps all its output to its whole original span.
class Compose : public Normalizer {
 public:
  explicit Compose(NormalForm form) : form_(form) {}
  void normalize(NormalizedString& s) const override {
    bool all_ascii = true;
    for (char c : s.text) all_ascii &= static_cast<unsigned char>(c) < 0x80;
    if (all_ascii) return;
    NormalizedString out;
    out.original = s.original;
    size_t seg_begin = 0;
    for (size_t i = 0; i <= s.text.size();) {
      size_t len = 0;
      char32_t c = i < s.text.size() ? decode_utf8_valid(s.text.data() + i, len) : 0;
      bool boundary = i == s.text.size() || (i > seg_begin && (c < 0x300 || has_boundary_before(c, form_)));
      if (boundary && i > seg_begin) append_segment(s, seg_begin, i, out);
      if (boundary) seg_begin = i;
      if (i == s.text.size()) break;
      i += len;
    }
    s = std::move(out);
  }

 private:
  // HF's alignment: a composed character maps to the first character it was
  // made from; characters a decomposition adds map to their source.
  void append_segment(const NormalizedString& s, size_t b, size_t e, NormalizedString& out) const {
    std::string_view seg(s.text.data() + b, e - b);
    std::string norm = normalize_text(seg);
    if (norm == seg) {
      out.text += seg;
      out.align.insert(out.align.end(), s.align.begin() + static_cast<ptrdiff_t>(b),
                       s.align.begin() + static_cast<ptrdiff_t>(e));
      return;
    }
    std::vector<Span> source;  // span of each source character
    for (size_t i = b; i < e; i += utf8_sequence_length(static_cast<unsigned char>(s.text[i]), 1))
      source.push_back(s.align[i]);
    size_t n_out = count_code_points(norm);
    Span whole = s.original_span(b, e);
    size_t k = 0;
    for (size_t i = 0; i < norm.size(); ++k) {
      size_t len = utf8_sequence_length(static_cast<unsigned char>(norm[i]), 1);
      Span span = n_out <= source.size() ? source[k] : source.size() == 1 ? source[0] : whole;
      out.text.append(norm, i, len);
      out.align.insert(out.align.end(), len, span);
      i += len;
    }
  }
  std::string normalize_text(std::string_view seg) const {
    if (seg.size() == 1 && static_cast<unsigned char>(seg[0]) < 0x80) return std::string(seg);
    return text::normalize(seg, form_);
  }
  NormalForm form_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedString& s) const override {
    size_t b = 0, e = s.text.size();
    if (left_) {
      while (b < e) {
        size_t len;
        if (!is_whitespace(decode_utf8_valid(s.text.data() + b, len))) break;
        b += len;
      }
    }
    if (right_) {
      while (e > b) {
        size_t start = e - 1;
        while (start > b && is_utf8_continuation(static_cast<unsigned char>(s.text[start]))) --start;
        size_t len;
        if (!is_whitespace(decode_utf8_valid(s.text.data() + start, len))) break;
        e = start;
      }
    }
    if (b != 0 || e != s.text.size()) {
      Span original = s.original;
      s = s.slice(b, e);
      s.original = original;
    }
  }

 private:
  bool left_, right_;
};

class Replace : public Normalizer {
 public:
  Replace(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(NormalizedString& s) const override {
    auto matches = pattern_.find_all(s.text);
    if (matches.empty()) return;
    NormalizedString out;
    out.original = s.original;
    size_t last = 0;
    for (auto [b, e] : matches) {
      append_slice(s, last, b, out);
      // HF maps the replacement to the last character of the match.
      Span span = s.align[e - 1];
      out.text += content_;
      out.align.insert(out.align.end(), content_.size(), span);
      last = e;
    }
    append_slice(s, last, s.text.size(), out);
    s = std::move(out);
  }

 private:
  static void append_slice(const NormalizedString& s, size_t b, size_t e, NormalizedString& out) {
    out.text.append(s.text, b, e - b);
    out.align.insert(out.align.end(), s.align.begin() + static_cast<ptrdiff_t>(b),
                     s.align.begin() + static_cast<ptrdiff_t>(e));
  }
  Pattern pattern_;
  std::string content_;
};

// Prepend: the added text maps to the first character's span.
class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(NormalizedString& s) const override {
    if (s.text.empty()) return;
    s.text.insert(0, prefix_);
    s.align.insert(s.align.begin(), prefix_.size(), s.align.empty() ? Span{} : s.align.front());
  }

 private:
  std::string prefix_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(NormalizedString& s) const override {
    for (const auto& step : steps_) step->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

bool optional_bool(const json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<bool>();
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "BertNormalizer") {
    bool lowercase = optional_bool(j, "lowercase", true);
    return std::make_unique<BertNormalizer>(optional_bool(j, "clean_text", true),
                                            optional_bool(j, "handle_chinese_chars", true),
                                            optional_bool(j, "strip_accents", lowercase), lowercase);
  }
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "NFD") return std::make_unique<Decompose>(false);
  if (type == "NFKD") return std::make_unique<Decompose>(true);
  if (type == "NFC") return std::make_unique<Compose>(NormalForm::kNFC);
  if (type == "NFKC") return std::make_unique<Compose>(NormalForm::kNFKC);
  if (type == "Strip") return std::make_unique<Strip>(j.value("strip_left", true), j.value("strip_right", true));
  if (type == "Replace")
    return std::make_unique<Replace>(Pattern::from_json(j.at("pattern"), where + ".pattern"),
                                     j.at("content").get<std::string>());
  if (type == "Prepend") return std::make_unique<Prepend>(j.at("prepend").get<std::string>());
  if (type == "Sequence") {
    return std::make_unique<Sequence>(make_steps<Normalizer>(j, "normalizers", where, make_normalizer));
  }
  fail("{}: unsupported normalizer type '{}' (supported: BertNormalizer, Lowercase, StripAccents, NFC, NFD, NFKC, "
       "NFKD, Strip, Replace, Prepend, Sequence)",
       where, type);
}

}  // namespace e2llm::text
