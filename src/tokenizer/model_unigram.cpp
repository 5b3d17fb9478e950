// Unigram (SentencePiece's model, as HF implements it): the segmentation with
// the highest total piece score (Viterbi). A character no piece covers becomes
// [UNK] with score min_score - 10; consecutive [UNK]s fuse.
#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "io/json_fields.h"
#include "tokenizer/model_factories.h"
#include "tokenizer/unicode.h"

namespace e2llm::text {
namespace {

constexpr double kUnkPenalty = 10.0;

class Unigram : public Model {
 public:
  Unigram(Vocab vocab, std::vector<double> scores, int64_t unk_id, bool byte_fallback)
      : scores_(std::move(scores)), unk_id_(unk_id), byte_fallback_(byte_fallback) {
    vocab_ = std::move(vocab);
    double min_score = std::numeric_limits<double>::infinity();
    for (double s : scores_) min_score = std::min(min_score, s);
    unk_score_ = min_score - kUnkPenalty;
    for (size_t id = 0; id < vocab_.id_bound(); ++id)
      if (const std::string* t = vocab_.token(static_cast<int64_t>(id))) max_piece_bytes_ = std::max(max_piece_bytes_, t->size());
  }

  void tokenize(std::string_view text, std::vector<Token>& out) const override {
    const size_t n = text.size();
    if (n == 0) return;
    // best[i]: best score of text[0, i); from[i]: where its last piece starts, and which id it is.
    std::vector<double> best(n + 1, -std::numeric_limits<double>::infinity());
    std::vector<uint32_t> from(n + 1, 0);
    std::vector<int64_t> piece(n + 1, -1);
    best[0] = 0;
    for (size_t begin = 0; begin < n;) {
      size_t char_len = utf8_sequence_length(static_cast<unsigned char>(text[begin]), 1);
      if (best[begin] > -std::numeric_limits<double>::infinity()) relax(text, begin, char_len, best, from, piece);
      begin += char_len;
    }
    std::vector<std::pair<size_t, size_t>> pieces;  // [begin, end) in reverse
    for (size_t end = n; end > 0; end = from[end]) pieces.emplace_back(from[end], end);
    std::reverse(pieces.begin(), pieces.end());
    emit(text, fuse_unknowns(pieces, piece), out);
  }

 private:
  void relax(std::string_view text, size_t begin, size_t char_len, std::vector<double>& best,
             std::vector<uint32_t>& from, std::vector<int64_t>& piece) const {
    bool has_single_char = false;
    const size_t limit = std::min(text.size(), begin + max_piece_bytes_);
    for (size_t end = begin + char_len; end <= limit;) {
      if (auto id = vocab_.find(text.substr(begin, end - begin))) {
        double score = best[begin] + scores_[static_cast<size_t>(*id)];
        if (score > best[end]) best[end] = score, from[end] = static_cast<uint32_t>(begin), piece[end] = *id;
        has_single_char |= end == begin + char_len;
      }
      if (end == text.size()) break;
      end += utf8_sequence_length(static_cast<unsigned char>(text[end]), 1);
    }
    if (!has_single_char) {
      size_t end = begin + char_len;
      double score = best[begin] + unk_score_;
      if (score > best[end]) best[end] = score, from[end] = static_cast<uint32_t>(begin), piece[end] = unk_id_;
    }
  }

  struct Segment {
    size_t begin, end;
    int64_t id;
  };

  std::vector<Segment> fuse_unknowns(const std::vector<std::pair<size_t, size_t>>& pieces,
                                     const std::vector<int64_t>& piece) const {
    std::vector<Segment> segments;
    for (auto [b, e] : pieces) {
      int64_t id = piece[e];
      if (id == unk_id_ && !segments.empty() && segments.back().id == unk_id_) segments.back().end = e;
      else segments.push_back({b, e, id});
    }
    return segments;
  }

  void emit(std::string_view text, const std::vector<Segment>& segments, std::vector<Token>& out) const {
    for (const Segment& s : segments) {
      std::string value(text.substr(s.begin, s.end - s.begin));
      const uint32_t b = static_cast<uint32_t>(s.begin), e = static_cast<uint32_t>(s.end);
      if (s.id == unk_id_ && byte_fallback_ && emit_bytes(value, b, e, out)) continue;
      // HF keeps the text itself as the value of an [UNK] token.
      out.push_back({s.id, std::move(value), b, e});
    }
  }

  bool emit_bytes(const std::string& value, uint32_t b, uint32_t e, std::vector<Token>& out) const {
    std::vector<Token> bytes;
    for (unsigned char c : value) {
      std::string name = fmt::format("<0x{:02X}>", c);
      auto id = vocab_.find(name);
      if (!id) return false;
      bytes.push_back({*id, std::move(name), b, e});
    }
    out.insert(out.end(), bytes.begin(), bytes.end());
    return true;
  }

  std::vector<double> scores_;
  int64_t unk_id_;
  bool byte_fallback_;
  double unk_score_ = 0;
  size_t max_piece_bytes_ = 1;
};

}  // namespace

std::unique_ptr<Model> make_unigram_model(const nlohmann::json& j, const std::string& where) {
  const nlohmann::json& list = j.at("vocab");
  E2LLM_CHECK(list.is_array(), "{}.vocab must be a list of [piece, score]", where);
  Vocab vocab;
  std::vector<double> scores;
  scores.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    E2LLM_CHECK(list[i].is_array() && list[i].size() == 2, "{}.vocab[{}]: expected [piece, score]", where, i);
    vocab.add(list[i][0].get<std::string>(), static_cast<int64_t>(i));
    scores.push_back(list[i][1].get<double>());
  }
  E2LLM_CHECK(j.contains("unk_id") && !j.at("unk_id").is_null(), "{}: Unigram without unk_id is not supported", where);
  int64_t unk_id = json_fields::read_integer(j.at("unk_id"), json_fields::Where(where, "unk_id"), 0, kMaxTokenId);
  E2LLM_CHECK(unk_id >= 0 && static_cast<size_t>(unk_id) < scores.size(), "{}: unk_id {} is out of range", where, unk_id);
  return std::make_unique<Unigram>(std::move(vocab), std::move(scores), unk_id, j.value("byte_fallback", false));
}

}  // namespace e2llm::text
