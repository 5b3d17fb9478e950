// Tokenizers that produce exactly the ids Hugging Face `tokenizers` produces.
//
// Sources: a tokenizer.json (WordPiece, BPE, byte-level BPE, Unigram, WordLevel
// with the normalizers, pre-tokenizers, post-processors and decoders it
// declares), a SentencePiece tokenizer.model (through the real SentencePiece
// library, loaded from a shim, see docs/tokenizers.md), a GGUF file's embedded
// vocabulary, or a model folder holding one of those.
//
// Offsets: every token carries the span of the ORIGINAL text it came from,
// twice: `offsets` in Unicode code points (what HF reports for Python strings,
// and what `e2llm tokenize` prints) and `byte_offsets` in UTF-8 bytes (what the
// chunker cuts on). Special tokens added by the post-processor get (0, 0).
//
// Input text must be valid UTF-8: anything else throws e2llm::Error naming the
// byte offset of the first bad byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace e2llm {

using Offsets = std::pair<size_t, size_t>;  // [begin, end)

struct Encoding {
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;
  std::vector<Offsets> offsets;       // code points into the original text
  std::vector<Offsets> byte_offsets;  // UTF-8 bytes into the original text
  std::vector<int64_t> type_ids;
  std::vector<int64_t> attention_mask;       // all 1 (no padding is applied)
  std::vector<int64_t> special_tokens_mask;  // 1 for tokens the post-processor added
  size_t size() const { return ids.size(); }
};

// Cuts encodings to at most `max_length` tokens, special tokens included
// (HF's truncation with stride 0). kRight keeps the beginning.
struct Truncation {
  enum class Direction { kRight, kLeft };
  size_t max_length = 512;
  Direction direction = Direction::kRight;
};

// Ids of the tokens a model uses for structure, when it has them.
struct SpecialTokenIds {
  std::optional<int64_t> bos, eos, pad, unk, cls, sep, mask;
};

// Changes to a tokenizer as its file defines it.
struct TokenizerOptions {
  // Split numbers into single digits after the file's own pre-tokenizer, as
  // Hugging Face's Digits(individual_digits=True) step does. A WordPiece
  // vocabulary then spells "27293" as five digit tokens instead of pieces like
  // "272" "##93", so a model trained to read numbers out of the encoder learns
  // ten digits instead of every one of the vocabulary's ~860 number pieces.
  // tokenizer.json files only.
  bool split_digits = false;
};

class Tokenizer {
 public:
  // `path`: tokenizer.json, tokenizer.model, *.gguf, or a folder holding
  // tokenizer.json or tokenizer.model.
  static std::unique_ptr<Tokenizer> from_file(const std::string& path, const TokenizerOptions& options = {});
  // The text of a tokenizer.json; `origin` names it in error messages.
  static std::unique_ptr<Tokenizer> from_json_string(std::string_view json, const std::string& origin = "<json>");

  virtual ~Tokenizer();

  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  std::vector<Encoding> encode_batch(std::span<const std::string> texts, bool add_special_tokens = true) const;

  // Text of `ids`; unknown ids throw. Invalid UTF-8 that the tokens spell
  // (a cut multi-byte character) comes out as U+FFFD, as in HF.
  virtual std::string decode(std::span<const int64_t> ids, bool skip_special_tokens = true) const = 0;

  virtual std::optional<int64_t> token_to_id(std::string_view token) const = 0;
  virtual std::string id_to_token(int64_t id) const = 0;  // throws when out of range
  virtual size_t vocab_size() const = 0;                  // added tokens included
  virtual bool is_special(int64_t id) const = 0;
  const SpecialTokenIds& special_ids() const { return special_ids_; }

  // Truncation applied by encode(). tokenizer.json files may declare one
  // (truncation_from_file); it is NOT applied unless set here, because the
  // chunker needs the full token count of long texts.
  void set_truncation(std::optional<Truncation> truncation) { truncation_ = truncation; }
  const std::optional<Truncation>& truncation() const { return truncation_; }
  const std::optional<Truncation>& truncation_from_file() const { return file_truncation_; }

 protected:
  // Tokenizes valid UTF-8 `text`; fills ids, tokens, byte_offsets, type_ids,
  // special_tokens_mask. The base class adds code-point offsets and the mask.
  virtual Encoding encode_valid(std::string_view text, bool add_special_tokens) const = 0;
  SpecialTokenIds special_ids_;
  std::optional<Truncation> file_truncation_;

 private:
  std::optional<Truncation> truncation_;
};

// Decodes ids one at a time for streaming generation. push() returns the text
// that became final with this id ("" while a multi-byte character or a
// word-joining decoder still waits for more); it never returns broken UTF-8.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = true);
  std::string push(int64_t id);
  // Text still held back at the end of the stream (incomplete bytes become U+FFFD).
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<int64_t> ids_;  // the ids since the last emitted boundary
  std::string prefix_;        // decode of ids_[0, prefix_count_)
  size_t prefix_count_ = 0;
};

}  // namespace e2llm
